//! Data types that cross the wire between the server and the browser.

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
    /// The marketing channel, from `context.campaign.source` or the referrer, if any.
    pub channel: Option<String>,
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
            channel: None,
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

/// A journey as the map draws it: stages in order and the expected transitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyView {
    pub name: String,
    pub stages: Vec<JourneyStage>,
    pub expected_path: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyStage {
    pub name: String,
    pub events: Vec<String>,
}

/// Active sessions in one stage now (the stage stream's items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCount {
    pub stage: String,
    pub active_sessions: u64,
    pub median_seconds_in_stage: Option<f64>,
}

/// Customers moving on from one stage to the next over the chosen range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from_stage: String,
    pub to_stage: String,
    /// Customers with an event of `from_stage` in the range.
    pub reached: u64,
    /// Of those, the ones who did not reach `to_stage` within the window.
    pub left: u64,
    pub left_share: f64,
    pub median_seconds_before_leaving: Option<f64>,
}

/// Everything the journey map shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyMap {
    pub journey: JourneyView,
    /// Every journey's name, for the picker.
    pub journeys: Vec<String>,
    pub transitions: Vec<Transition>,
    pub occupancy: Vec<StageCount>,
    /// The range the transitions cover, in days up to now.
    pub days: u32,
    /// The channel the counts are narrowed to (customers whose first touch it was), if any.
    pub channel: Option<String>,
    /// The channels that brought customers so far, for the filter (`direct` included).
    pub channels: Vec<String>,
}

/// A customer in a stage now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCustomer {
    pub customer_id: String,
    /// Seconds in the stage so far.
    pub seconds_in_stage: f64,
}

/// One event as an alert shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEventView {
    pub seq: i64,
    pub event: Option<String>,
    pub at: DateTime<Utc>,
}

/// An alert as the inbox shows it (the JSON of `GET /api/v1/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    pub rule_id: String,
    pub rule_name: String,
    /// Empty for aggregate rules, which are about all customers.
    pub customer_id: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub message: String,
    pub triggering: Vec<AlertEventView>,
    pub context: Vec<AlertEventView>,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// What the alert stream sends: the open alerts on connect, then each new or changed alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertFrame {
    Many(Vec<AlertView>),
    One(Box<AlertView>),
    /// `resync` and anything else: reload.
    Other(serde_json::Value),
}

/// Which alerts the inbox lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertQuery {
    pub state: Option<String>,
    pub rule: Option<String>,
    pub assignee: Option<String>,
    /// Alerts about one customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
}

/// A change to an alert; fields left out stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One event on a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEventView {
    pub seq: i64,
    pub kind: String,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    /// The journey stage the event puts the customer in, if any.
    pub stage: Option<String>,
    pub properties: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSessionView {
    pub number: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub events: Vec<TimelineEventView>,
}

/// A customer's history across their identities, oldest session first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    pub customer_id: String,
    pub identities: Vec<String>,
    pub sessions: Vec<TimelineSessionView>,
    pub alerts: Vec<AlertView>,
}

/// A funnel as the builder asks for it (every field is in the page's URL). Fields missing
/// from a saved definition take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunnelParams {
    /// Steps split by commas, alternatives by `|`, each `name` or `name[key=value]`.
    pub steps: String,
    pub window_seconds: i64,
    /// `sequential`, `strict` or `any`.
    pub mode: String,
    /// The date range: the last `days` days.
    pub days: u32,
    /// Comma-separated events that disqualify an attempt between its steps.
    pub exclude: String,
    /// A property of the first step to split by.
    pub breakdown: String,
    /// A property that must stay the same across the steps.
    pub hold: String,
    /// `day` or `week`.
    pub trend: String,
    /// Only customers whose first touch came through this channel (empty: every channel).
    pub channel: String,
}

impl Default for FunnelParams {
    fn default() -> Self {
        FunnelParams {
            steps: String::new(),
            window_seconds: 86_400,
            mode: "sequential".into(),
            days: 30,
            exclude: String::new(),
            breakdown: String::new(),
            hold: String::new(),
            trend: "day".into(),
            channel: String::new(),
        }
    }
}

/// A funnel saved under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedFunnelView {
    pub name: String,
    pub params: FunnelParams,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelStepView {
    pub step: usize,
    pub event: String,
    pub customers: u64,
    pub conversion_from_first: f64,
    pub conversion_from_previous: f64,
    pub median_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownView {
    pub value: String,
    pub steps: Vec<FunnelStepView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPointView {
    pub period_start: DateTime<Utc>,
    pub entered: u64,
    pub converted: u64,
    pub conversion: f64,
}

/// The funnel's charts, drawn by plotters on the server as SVG documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelCharts {
    pub steps_svg: String,
    pub time_to_convert_svg: String,
    pub trend_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelView {
    pub steps: Vec<FunnelStepView>,
    pub breakdown: Vec<BreakdownView>,
    pub trend: Vec<TrendPointView>,
    pub charts: FunnelCharts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedCustomerView {
    pub customer_id: String,
    pub next_event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextEventView {
    pub event: String,
    pub customers: u64,
}

/// Who reached a step but not the next, and what they did instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedView {
    pub step: usize,
    pub total: u64,
    pub customers: Vec<DroppedCustomerView>,
    pub next_events: Vec<NextEventView>,
}

/// A paths question: what customers did after (or before) an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathParams {
    pub event: String,
    /// `after` or `before`.
    pub direction: String,
    pub depth: usize,
    pub top: usize,
    pub days: u32,
}

impl Default for PathParams {
    fn default() -> Self {
        PathParams { event: String::new(), direction: "after".into(), depth: 5, top: 6, days: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathNodeView {
    pub level: usize,
    pub event: String,
    pub customers: u64,
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathLinkView {
    pub level: usize,
    pub from: String,
    pub to: String,
    pub customers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathsView {
    pub anchor: String,
    pub customers: u64,
    pub nodes: Vec<PathNodeView>,
    pub links: Vec<PathLinkView>,
}

/// A rule as the API stores it; its `condition` is the JSON document of its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub condition: serde_json::Value,
    pub cooldown_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameCountView {
    pub event: String,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftView {
    pub event: String,
    pub key: String,
    /// `new` or `gone`.
    pub change: String,
}

/// A refused payload, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    pub id: i64,
    pub source_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub reason_code: String,
    pub reason: String,
    pub payload: String,
    pub replayed_at: Option<DateTime<Utc>>,
}

/// What the data health page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    pub events_last_hour: u64,
    pub lag_p50_ms: Option<f64>,
    pub lag_p95_ms: Option<f64>,
    pub skew_p50_ms: Option<f64>,
    pub skew_p95_abs_ms: Option<f64>,
    pub stored_since_start: u64,
    pub duplicates_since_start: u64,
    pub unknown_names: Vec<NameCountView>,
    pub drift: Vec<DriftView>,
    /// Events per hour by source over the last day, drawn by plotters.
    pub volume_svg: String,
    pub dead_letters: Vec<DeadLetterView>,
}

/// A source (an app or site that sends events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Only when it is known: the demo source's public key, or a new source's key (shown once).
    pub write_key: Option<String>,
    /// When its write key was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A customer found by id or traits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerMatch {
    pub customer_id: String,
    /// Their latest identify traits, as JSON text.
    pub traits: Option<String>,
}

/// One change in the audit log: who (a user's email or a token's name), with which role and
/// credential, did what (method and route), and the HTTP status it ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub via: crate::auth::Credential,
    pub role: crate::auth::Role,
    pub action: String,
    pub status: u16,
}

/// A person who signs in, as the settings page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub email: String,
    pub role: crate::auth::Role,
    pub created_at: DateTime<Utc>,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: crate::auth::Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who may sign in and which tokens exist, for admins; and what is masked for viewers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessView {
    pub users: Vec<UserView>,
    pub tokens: Vec<TokenView>,
    pub pii_keys: Vec<String>,
    /// Days after which events, dead letters, resolved alerts and delivery logs are deleted.
    pub retention_days: Option<u32>,
}
