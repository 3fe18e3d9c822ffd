//! Data health: what arrives, how late, what is refused and why, and how the events' shape
//! drifts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Events of one source in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceHour {
    pub source_id: String,
    pub hour: DateTime<Utc>,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameCount {
    pub event: String,
    pub events: u64,
}

/// Whether a property key appeared or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftChange {
    /// Seen in the last day and not before.
    New,
    /// Seen before the last day and not since.
    Gone,
}

impl DriftChange {
    /// The word in JSON and on the page.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftChange::New => "new",
            DriftChange::Gone => "gone",
        }
    }
}

/// A property key of an event that appeared in the last day, or was seen before it and
/// not since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub event: String,
    pub key: String,
    pub change: DriftChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub volume: Vec<SourceHour>,
    /// Over the last hour.
    pub events_last_hour: u64,
    pub lag_p50_ms: Option<f64>,
    pub lag_p95_ms: Option<f64>,
    pub skew_p50_ms: Option<f64>,
    pub skew_p95_abs_ms: Option<f64>,
    pub stored_since_start: u64,
    pub duplicates_since_start: u64,
    /// Names seen in the last 7 days that no stage of any journey lists.
    pub unknown_names: Vec<NameCount>,
    pub drift: Vec<Drift>,
}

/// A refused payload and why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeadLetter {
    pub source_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub reason_code: String,
    pub reason: String,
    pub payload: String,
    /// The endpoint's call type for a single message (`track`, …); `None` for batch items.
    pub call_type: Option<String>,
}

/// A stored dead letter. As JSON (the API's list and the health page) its letter's fields sit
/// beside `id` and `replayed_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: i64,
    #[serde(flatten)]
    pub letter: NewDeadLetter,
    pub replayed_at: Option<DateTime<Utc>>,
}

/// What the data health page shows: the report, its volume chart (drawn by plotters on the
/// server) and the latest dead letters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataHealth {
    pub report: HealthReport,
    pub volume_svg: String,
    pub dead_letters: Vec<DeadLetter>,
}
