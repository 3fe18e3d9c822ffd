//! Alerts: a rule's condition met (by one customer, or by all of them for an aggregate rule),
//! with the events that met it, and their lifecycle (open → acknowledged → resolved, with an
//! assignee and a note).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an alert is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub const ALL: [AlertState; 3] = [AlertState::Open, AlertState::Acknowledged, AlertState::Resolved];

    /// The word in URLs, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// The word read back; `None` when it is not a state.
    pub fn parse(text: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One event as an alert shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub seq: i64,
    pub event: Option<String>,
    pub at: DateTime<Utc>,
}

/// A stored alert (the JSON of `GET /api/v1/alerts`, the inbox's rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: i64,
    pub rule_id: String,
    pub rule_name: String,
    /// Empty for aggregate rules, which are about all customers.
    pub customer_id: String,
    pub anchor_seq: i64,
    pub state: AlertState,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub message: String,
    pub triggering: Vec<AlertEvent>,
    pub context: Vec<AlertEvent>,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// The customer was drawn into the rule's holdout: recorded to measure the rule's
    /// outcome, never sent to webhooks or shown in the inbox.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holdout: bool,
}

/// What the alert stream sends: the open alerts on connect, then each new or changed alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertFrame {
    Many(Vec<Alert>),
    One(Box<Alert>),
    /// `resync` and anything else: reload.
    Other(serde_json::Value),
}

/// Which alerts to list (the inbox's URL holds the first four).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AlertState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Alerts about one customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
}

/// A lifecycle change; fields left out stay as they are (an empty assignee unassigns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AlertState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Most alerts one bulk change or undo may touch.
pub const MAX_BULK_ALERTS: usize = 500;
/// Alerts on one page of the inbox.
pub const INBOX_PAGE_SIZE: usize = 25;

/// How many alerts of the filter share a rule, or a customer (the inbox's groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertGroup {
    /// The rule id, or the customer id (empty for aggregate rules' alerts).
    pub key: String,
    /// The rule's name; for a customer, their id.
    pub label: String,
    pub count: u64,
    pub newest_at: DateTime<Utc>,
}

/// What the customer did after the alert: how many events, and whether they moved on to a
/// later journey stage than the one they were in when it was raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFollowUp {
    pub alert_id: i64,
    pub events_since: u64,
    /// The furthest stage reached since, when it is past the stage at the alert.
    pub moved_on_to: Option<String>,
    /// Where the customer stands against the rule's goal, if the rule has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<GoalProgress>,
}

/// An alert's customer against its rule's goal (the event the alert should lead to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GoalProgress {
    /// They did the goal event this long after the alert.
    Reached { event: String, after_seconds: i64 },
    /// The goal window ended without it.
    Missed { event: String, within_seconds: i64 },
    /// Not yet, and the window is still open.
    Waiting { event: String, until: DateTime<Utc> },
}

/// One page of the inbox: the alerts, how many the filter holds in all, its groups, and who
/// the customers on the page are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertInbox {
    pub alerts: Vec<Alert>,
    /// Every alert the filter matches (the page holds at most [`INBOX_PAGE_SIZE`]).
    pub total: u64,
    /// The filter's alerts by rule, most first.
    pub by_rule: Vec<AlertGroup>,
    /// The filter's alerts by customer, most first (the top ones).
    pub by_customer: Vec<AlertGroup>,
    pub customers: Vec<super::customers::CustomerCard>,
    pub follow_ups: Vec<AlertFollowUp>,
}

/// Puts an alert back as it was before a change (the inbox's undo), unless someone changed
/// it again since: `version` is the version the change produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRestore {
    pub id: i64,
    pub version: i64,
    pub state: AlertState,
    pub assignee: Option<String>,
    pub note: Option<String>,
}

impl AlertRestore {
    /// Undoes the change that turned `before` into `after`.
    pub fn undoing(before: &Alert, after: &Alert) -> Self {
        AlertRestore {
            id: before.id,
            version: after.version,
            state: before.state,
            assignee: before.assignee.clone(),
            note: before.note.clone(),
        }
    }
}
