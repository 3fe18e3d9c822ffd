//! Customers: one customer's history across their stitched identities, and the search that
//! finds them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::alerts::Alert;

/// One event on a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub seq: i64,
    pub kind: String,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    /// The journey stage the event puts the customer in, if any.
    pub stage: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// Properties (traits for identify and group).
    pub properties: serde_json::Value,
}

/// One session of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSession {
    pub number: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub events: Vec<TimelineEvent>,
}

/// A customer's whole history across stitched identities, oldest session first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub customer_id: String,
    pub identities: Vec<String>,
    pub sessions: Vec<TimelineSession>,
}

/// What the customer page shows: the timeline and the alerts about the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerHistory {
    pub timeline: Timeline,
    pub alerts: Vec<Alert>,
    /// Who they are at a glance (the page's profile); `None` for a customer the event index
    /// does not hold.
    #[serde(default)]
    pub card: Option<CustomerCard>,
}

/// A customer found by id or traits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerMatch {
    pub customer_id: String,
    /// Their latest identify traits, as JSON text.
    pub traits: Option<String>,
}

/// Who a customer is at a glance: what their latest identify said, the channel that first
/// brought them, when they were seen and where they are in the journey.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerCard {
    pub customer_id: String,
    /// The `name` trait (masked for viewers when it is personal).
    pub name: Option<String>,
    /// The `email` trait (masked for viewers when it is personal).
    pub email: Option<String>,
    /// The channel of their first touch (`direct` when none).
    pub channel: Option<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub events: u64,
    /// The journey stage of their latest event that has one.
    pub stage: Option<String>,
}

impl CustomerCard {
    /// What to call them: their name, else their email, else their id.
    pub fn label(&self) -> &str {
        self.name.as_deref().or(self.email.as_deref()).unwrap_or(&self.customer_id)
    }
}

/// The customers page before any search: who was seen last, and who did the most lately.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerLists {
    pub recent: Vec<CustomerCard>,
    /// By events in the last [`MOST_ACTIVE_DAYS`] days.
    pub most_active: Vec<CustomerCard>,
}

/// How far back "most active" counts events.
pub const MOST_ACTIVE_DAYS: i64 = 7;
/// Customers in each list.
pub const CUSTOMER_LIST_SIZE: usize = 20;
