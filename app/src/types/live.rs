//! The live feed: committed events as they stream to the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One committed event as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Commit order assigned by the store; also the SSE event id.
    pub seq: i64,
    pub message_id: String,
    pub source_id: String,
    /// Segment call type: track, page, screen, identify, group, alias.
    pub kind: String,
    /// Event name (track) or page/screen name; `None` for identify, group and alias.
    pub name: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// When it happened (UTC).
    pub timestamp: DateTime<Utc>,
    /// When Wayline received it (UTC).
    pub received_at: DateTime<Utc>,
    /// The event's properties (or traits for identify/group), as JSON.
    pub properties: serde_json::Value,
    /// Where the visit came from: the campaign's `utm_source` if tagged, else the referring
    /// host. Not the first-touch channel the questions filter by (`index::channel`).
    pub came_from: Option<String>,
}

impl LiveEvent {
    /// The id the dashboard shows for the customer: the user id once known, else the anonymous id.
    pub fn customer(&self) -> &str {
        self.user_id.as_deref().or(self.anonymous_id.as_deref()).unwrap_or("—")
    }

    /// The label shown for the event: its name, or its call type when it has none.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.kind)
    }
}

/// One frame of the live event stream (`/api/v1/stream/events`). The SSE event name is
/// the frame kind (`snapshot`, `event`, `resync`), the SSE id the last sequence it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamFrame {
    /// Sent first on a fresh connection: the newest events, newest first.
    Snapshot { events: Vec<LiveEvent> },
    /// Events from one committed batch, oldest first.
    Events { events: Vec<LiveEvent> },
    /// The client fell behind and missed events: it should reload its view.
    Resync { reason: String },
}

impl StreamFrame {
    /// The SSE event name for this frame.
    pub fn sse_name(&self) -> &'static str {
        match self {
            StreamFrame::Snapshot { .. } => "snapshot",
            StreamFrame::Events { .. } => "events",
            StreamFrame::Resync { .. } => "resync",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: Option<&str>, anon: Option<&str>, name: Option<&str>) -> LiveEvent {
        LiveEvent {
            seq: 1,
            message_id: "m".into(),
            source_id: "s".into(),
            kind: "identify".into(),
            name: name.map(Into::into),
            anonymous_id: anon.map(Into::into),
            user_id: user.map(Into::into),
            timestamp: DateTime::UNIX_EPOCH,
            received_at: DateTime::UNIX_EPOCH,
            properties: serde_json::Value::Null,
            came_from: None,
        }
    }

    #[test]
    fn customer_prefers_user_id_over_anonymous_id() {
        assert_eq!(event(Some("u1"), Some("a1"), None).customer(), "u1");
        assert_eq!(event(None, Some("a1"), None).customer(), "a1");
    }

    #[test]
    fn label_falls_back_to_call_type() {
        assert_eq!(event(None, Some("a"), None).label(), "identify");
        assert_eq!(event(None, Some("a"), Some("Signed Up")).label(), "Signed Up");
    }

    #[test]
    fn frames_are_tagged_by_kind() {
        let json = serde_json::to_string(&StreamFrame::Resync { reason: "lagged".into() }).unwrap();
        assert_eq!(json, r#"{"kind":"resync","reason":"lagged"}"#);
    }
}
