//! Funnels: the builder's question, and its answer — figures per step, the time to convert,
//! the conversion trend, the breakdown and who dropped out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a question writes to break a funnel down by the customers' channel: not a property
/// name a sender could use (those are plain identifiers).
pub const CHANNEL_BREAKDOWN: &str = "$channel";

/// How steps must follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrderMode {
    /// In order; other events may come between.
    #[default]
    Sequential,
    /// In order, with no other event of the customer between two steps.
    Strict,
    /// All steps within the window, in any order.
    Any,
}

impl OrderMode {
    pub const ALL: [OrderMode; 3] = [OrderMode::Sequential, OrderMode::Strict, OrderMode::Any];

    /// The word in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderMode::Sequential => "sequential",
            OrderMode::Strict => "strict",
            OrderMode::Any => "any",
        }
    }

    /// The word from a URL; `None` when it is not one of the modes.
    pub fn parse(text: &str) -> Option<OrderMode> {
        OrderMode::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// The period of a funnel's conversion trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrendPeriod {
    #[default]
    Day,
    Week,
}

impl TrendPeriod {
    pub const ALL: [TrendPeriod; 2] = [TrendPeriod::Day, TrendPeriod::Week];

    /// The word in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TrendPeriod::Day => "day",
            TrendPeriod::Week => "week",
        }
    }

    /// The word from a URL; `None` when it is not a period.
    pub fn parse(text: &str) -> Option<TrendPeriod> {
        TrendPeriod::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Length and alignment in microseconds: days start at midnight UTC, weeks on Monday
    /// (1970-01-05).
    pub fn micros_and_origin(self) -> (i64, i64) {
        const DAY: i64 = 86_400_000_000;
        match self {
            TrendPeriod::Day => (DAY, 0),
            TrendPeriod::Week => (7 * DAY, 4 * DAY),
        }
    }
}

/// A funnel as the builder asks for it (every field is in the page's URL). Fields missing
/// from a saved definition take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunnelParams {
    /// Steps split by commas, alternatives by `|`, each `name` or `name[key=value]`.
    pub steps: String,
    pub window_seconds: i64,
    pub mode: OrderMode,
    /// The date range: the last `days` days.
    pub days: u32,
    /// Comma-separated events that disqualify an attempt between its steps.
    pub exclude: String,
    /// A property of the first step to split by.
    pub breakdown: String,
    /// A property that must stay the same across the steps.
    pub hold: String,
    pub trend: TrendPeriod,
    /// Only customers whose first touch came through this channel (empty: every channel).
    pub channel: String,
    /// Page views that are not steps are left out (strict order lets them happen between
    /// steps). Saved funnels from before this option have it off.
    #[serde(default)]
    pub skip_page_views: bool,
    /// Whole days chosen on the calendar (UTC); when set they replace `days`.
    #[serde(default)]
    pub from: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub to: Option<chrono::NaiveDate>,
    /// Also count the period of the same length just before, to compare.
    #[serde(default)]
    pub compare: bool,
}

impl Default for FunnelParams {
    fn default() -> Self {
        FunnelParams {
            steps: String::new(),
            window_seconds: 86_400,
            mode: OrderMode::Sequential,
            days: 30,
            exclude: String::new(),
            breakdown: String::new(),
            hold: String::new(),
            trend: TrendPeriod::Day,
            channel: String::new(),
            skip_page_views: false,
            from: None,
            to: None,
            compare: false,
        }
    }
}

impl FunnelParams {
    /// The funnel in one line, for the title of what is exported: its steps, range and every
    /// filter that changes the numbers.
    pub fn describe(&self, range: super::Span) -> String {
        let steps: Vec<&str> = self.steps.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let mode = match self.mode {
            OrderMode::Sequential => "in order",
            OrderMode::Strict => "strict order",
            OrderMode::Any => "any order",
        };
        let mut text = format!(
            "Funnel {} · {} (UTC) · {mode}, within {}",
            steps.join(" → "),
            range.label(),
            crate::format::span(self.window_seconds)
        );
        let mut add = |label: &str, value: &str| {
            if !value.trim().is_empty() {
                text.push_str(&format!(" · {label} {}", value.trim()));
            }
        };
        add("excluding", &self.exclude);
        add("by", self.breakdown.trim_start_matches('$'));
        add("same", &self.hold);
        add("channel", &self.channel);
        if self.skip_page_views {
            text.push_str(" · page views left out");
        }
        text
    }
}

/// A funnel saved under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedFunnel {
    pub name: String,
    /// The builder's question.
    pub definition: FunnelParams,
    pub updated_at: DateTime<Utc>,
}

/// One step's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub step: usize,
    pub event: String,
    pub customers: u64,
    /// Share of the customers who entered the funnel (step 1), 0..1.
    pub conversion_from_first: f64,
    /// Share of the previous step's customers, 0..1.
    pub conversion_from_previous: f64,
    /// Time from step 1 to this step among those who reached it, in seconds.
    pub median_seconds: Option<f64>,
    pub average_seconds: Option<f64>,
    /// How long those who reached this step took from step 1, in buckets.
    pub time_to_convert: Vec<TimeBucket>,
}

/// Customers who completed the funnel, by how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeBucket {
    pub label: String,
    /// Upper bound in seconds (exclusive); `None` for the last bucket.
    pub below_seconds: Option<u64>,
    pub customers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelResult {
    pub mode: OrderMode,
    pub window_seconds: i64,
    pub steps: Vec<StepResult>,
    pub time_to_convert: Vec<TimeBucket>,
    /// Conversion by the day (or week) customers entered; empty unless asked for.
    pub trend: Vec<TrendPoint>,
    /// The funnel per value of the breakdown property; empty unless asked for.
    pub breakdown: Vec<BreakdownGroup>,
}

/// Conversion (first step to last) by the period in which customers entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub period_start: DateTime<Utc>,
    pub entered: u64,
    pub converted: u64,
    pub conversion: f64,
}

/// The funnel for one value of the breakdown property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownGroup {
    /// The value, or "(other)" for values outside the top, or "(none)" when unset.
    pub value: String,
    pub steps: Vec<StepResult>,
}

/// The funnel's charts, drawn by plotters on the server as SVG documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelCharts {
    pub steps_svg: String,
    pub time_to_convert_svg: String,
    pub trend_svg: String,
}

/// What the funnel page shows: the figures and their charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunnelAnswer {
    pub funnel: FunnelResult,
    pub charts: FunnelCharts,
    /// The range counted.
    pub range: super::Span,
    /// The same funnel over the period just before, when asked to compare.
    pub previous: Option<PreviousPeriod>,
}

/// A funnel's steps over the period before the one shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousPeriod {
    pub range: super::Span,
    pub steps: Vec<StepResult>,
}

/// One customer who dropped out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedCustomer {
    pub customer_id: String,
    pub next_event: Option<String>,
    /// Their conversion window has not ended yet: they may still take the next step.
    #[serde(default)]
    pub still_in_window: bool,
}

/// How many dropped customers did this next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextEvent {
    pub event: String,
    pub customers: u64,
}

/// Dropped customers on one page of the funnel's "who?" list.
pub const DROPPED_PAGE_SIZE: usize = 50;

/// A page of the customers who reached a step but not the next, and what they did instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedPage {
    pub step: usize,
    /// Everyone who reached the step and not the next: those whose window is over first,
    /// then those still inside it (`still_in_window` of them).
    pub total: u64,
    #[serde(default)]
    pub still_in_window: u64,
    pub offset: usize,
    pub customers: Vec<DroppedCustomer>,
    pub next_events: Vec<NextEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_funnel_describes_itself_with_its_range_and_filters() {
        let range = crate::types::resolve_range(
            30,
            crate::types::parse_date("2026-11-01"),
            crate::types::parse_date("2026-11-30"),
            chrono::Utc::now(),
        )
        .unwrap();
        let plain = FunnelParams { steps: "view, cart,,buy".into(), ..FunnelParams::default() };
        assert_eq!(
            plain.describe(range),
            "Funnel view → cart → buy · 1 Nov – 30 Nov 2026 (UTC) · in order, within 1 d"
        );
        let filtered = FunnelParams {
            mode: OrderMode::Strict,
            window_seconds: 3_600,
            breakdown: "$channel".into(),
            channel: "email".into(),
            skip_page_views: true,
            ..plain
        };
        assert_eq!(
            filtered.describe(range),
            "Funnel view → cart → buy · 1 Nov – 30 Nov 2026 (UTC) · strict order, within 1 h · by channel · channel email · page views left out"
        );
    }
}
