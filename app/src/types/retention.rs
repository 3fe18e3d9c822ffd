//! Retention by cohort: of the customers who first did something in a period, how many came
//! back in each period after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TrendPeriod;

/// One cohort's figure for one period after its own: who came back, and whether the period is
/// over (a period still running is shown, but left out of the average curve).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetentionCell {
    pub returned: u64,
    /// `returned` over the cohort's customers.
    pub share: f64,
    /// The period has ended by the time asked; a running one may still grow.
    pub complete: bool,
}

/// The customers who first did the starting event in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionCohort {
    /// The cohort period's start (midnight UTC, or Monday for weeks).
    pub start: DateTime<Utc>,
    pub customers: u64,
    /// Periods 1, 2, … after the cohort's own (period 0 is the cohort itself, every customer).
    pub periods: Vec<RetentionCell>,
}

/// The average curve of a group of cohorts: per period after the start, the share who came
/// back over the cohorts whose period is over, weighted by their size (`None` while no
/// cohort's period has ended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionCurve {
    /// The breakdown value (a channel, a property's value, `(other)`, `(none)`), or `all`.
    pub group: String,
    pub customers: u64,
    pub shares: Vec<Option<f64>>,
}

/// The answer: the cohort grid, its average curve and, when asked, one curve per breakdown
/// value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionResult {
    pub period: TrendPeriod,
    /// The starting event; `None`: the customer's first event of any kind (first seen).
    pub start_event: Option<String>,
    /// The event that counts as coming back; `None`: any event.
    pub return_event: Option<String>,
    pub cohorts: Vec<RetentionCohort>,
    pub average: RetentionCurve,
    /// One curve per breakdown value, largest first: every first-touch channel, or the values
    /// of a property on the customers' starting event (beyond the largest
    /// [`RETENTION_TOP_VALUES`] the rest share `(other)`, and those without one are `(none)`);
    /// empty unless asked.
    pub breakdown: Vec<RetentionCurve>,
    /// What the breakdown is by: `$channel` or the property's name (`None`: no breakdown).
    pub breakdown_by: Option<String>,
}

/// Most breakdown values given a curve of their own.
pub const RETENTION_TOP_VALUES: usize = 8;

/// A retention question as the page asks it (every field is in the page's URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionParams {
    /// The starting event; empty: the customer's first event (first seen).
    pub start: String,
    /// The returning event; empty: any event.
    pub returning: String,
    pub period: TrendPeriod,
    /// Periods followed after each cohort's own; cohorts start over as many periods back.
    pub periods: usize,
    /// One average curve per value of this: `$channel` (the first touch), or a property of
    /// the starting event (e.g. `plan`); empty: none.
    pub breakdown: String,
}

impl Default for RetentionParams {
    fn default() -> Self {
        RetentionParams {
            start: String::new(),
            returning: String::new(),
            period: TrendPeriod::Week,
            periods: 8,
            breakdown: String::new(),
        }
    }
}

/// What the retention page shows: the figures and the heatmap drawn by plotters on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionAnswer {
    pub result: RetentionResult,
    pub heatmap_svg: String,
}
