//! The questions as asked — a funnel's steps, window, range and options; a path's anchor and
//! depth — checked and turned into the specs the analytics count. The JSON API reads them from
//! query strings and the dashboard builds them from its typed parameters; the checks and
//! defaults live here once.

use app::types::{Direction, OrderMode, StepEvent, TrendPeriod};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{funnel::FunnelSpec, paths, stages::SESSION_GAP_US, AnalyticsError, MAX_STEPS, MAX_WINDOW};
use crate::index::Column;

pub use app::types::CHANNEL_BREAKDOWN;

/// A funnel as asked over HTTP: `steps=a,b,c&window=86400&from=…&to=…&mode=sequential`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FunnelQuery {
    /// Comma-separated event names, in order.
    pub steps: Option<String>,
    /// Conversion window in seconds (default one day).
    pub window: Option<i64>,
    /// Start of the date range (RFC 3339; default 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End of the date range, exclusive (RFC 3339; default now).
    pub to: Option<DateTime<Utc>>,
    /// `sequential` (default), `strict` or `any`.
    pub mode: Option<OrderMode>,
    /// Comma-separated events that disqualify an attempt when they happen between its steps.
    pub exclude: Option<String>,
    /// A property of the first step's event to split the funnel by.
    pub breakdown: Option<String>,
    /// How many breakdown values to show before the rest become "(other)" (default 5).
    pub top: Option<usize>,
    /// A property whose value must stay the same across the steps (e.g. `product_id`).
    pub hold: Option<String>,
    /// `day` (default) or `week`: the conversion trend's period.
    pub trend: Option<TrendPeriod>,
    /// Only customers whose first touch came through this channel (`email`, `direct`, …).
    pub channel: Option<String>,
    /// `true`: page views that are not steps are left out (strict order then lets them
    /// happen between steps).
    pub skip_page_views: Option<bool>,
}

/// `name` or `name[key=value;key=value]`.
fn parse_step_event(text: &str) -> Result<StepEvent, AnalyticsError> {
    StepEvent::parse(text).map_err(AnalyticsError::BadQuery)
}

/// Property names go into a JSON path; keep them to plain identifiers.
fn property_name(name: Option<&String>, parameter: &str) -> Result<Option<String>, AnalyticsError> {
    match name.map(|n| n.trim()).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => app::types::check_property_name(n, parameter).map(Some).map_err(AnalyticsError::BadQuery),
    }
}

/// A `breakdown` parameter: `$channel` splits by the customers' channel (first touch), any
/// other name by that event property.
fn breakdown_column(breakdown: Option<&String>) -> Result<Option<Column>, AnalyticsError> {
    match breakdown.map(|b| b.trim()) {
        Some(CHANNEL_BREAKDOWN) => Ok(Some(Column::Channel)),
        _ => Ok(property_name(breakdown, "breakdown")?.map(Column::Property)),
    }
}

impl FunnelQuery {
    /// Checks the question and fills in defaults.
    pub fn to_spec(&self, now: DateTime<Utc>) -> Result<FunnelSpec, AnalyticsError> {
        let bad = |m: String| AnalyticsError::BadQuery(m);
        // `a,b|c,d`: steps split by commas, alternatives within a step by `|`, each
        // `name` or `name[key=value;key=value]`.
        let mut steps: Vec<Vec<StepEvent>> = Vec::new();
        for step in self.steps.as_deref().unwrap_or_default().split(',') {
            let alternatives: Vec<StepEvent> = step
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_step_event)
                .collect::<Result<_, _>>()?;
            if !alternatives.is_empty() {
                steps.push(alternatives);
            }
        }
        if steps.len() < 2 || steps.len() > MAX_STEPS {
            return Err(bad(format!(
                "a funnel needs 2 to {MAX_STEPS} steps, got {}; pass steps=product_viewed,added_to_cart,purchase_completed",
                steps.len()
            )));
        }
        let mut spec = window_and_range(self.window, self.from, self.to, now, steps, self.mode.unwrap_or_default())?;
        spec.exclusions = self
            .exclude
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        spec.breakdown = breakdown_column(self.breakdown.as_ref())?;
        spec.hold_property = property_name(self.hold.as_ref(), "hold")?;
        spec.channel = self.channel.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
        spec.skip_page_views = self.skip_page_views.unwrap_or(false);
        Ok(spec)
    }
}

/// A funnel spec over `steps` from HTTP-style window and range parameters, with defaults
/// (one day; the 30 days before `to`; `to` = now), checked.
pub fn window_and_range(
    window: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    steps: Vec<Vec<StepEvent>>,
    mode: OrderMode,
) -> Result<FunnelSpec, AnalyticsError> {
    let bad = |m: String| AnalyticsError::BadQuery(m);
    let window = window.unwrap_or(86_400);
    if window < 1 || window > MAX_WINDOW.num_seconds() {
        return Err(bad(format!(
            "window={window} is out of range; use 1 to {} seconds (90 days)",
            MAX_WINDOW.num_seconds()
        )));
    }
    let (from_us, to_us) = range_micros(from, to, now)?;
    Ok(FunnelSpec {
        steps,
        window_us: window * 1_000_000,
        from_us,
        to_us,
        mode,
        exclusions: Vec::new(),
        hold_property: None,
        breakdown: None,
        channel: None,
        skip_page_views: false,
    })
}

/// `[from, to)` in microseconds: `to` defaults to now and `from` to the 30 days before it.
/// Refused when backwards, or when `to` is so far in the past that 30 days before it is no date
/// (found by fuzzing: `to=-262143-01-01T00:00:00Z` used to panic).
fn range_micros(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(i64, i64), AnalyticsError> {
    let to = to.unwrap_or(now);
    let from = match from {
        Some(from) => from,
        None => to.checked_sub_signed(Duration::days(30)).ok_or_else(|| {
            AnalyticsError::BadQuery(format!("to ({to}) is out of range; pass a date after 1970, or pass from too"))
        })?,
    };
    if from >= to {
        return Err(AnalyticsError::BadQuery(format!("from ({from}) must be before to ({to})")));
    }
    Ok((from.timestamp_micros(), to.timestamp_micros()))
}

/// Paths as asked over HTTP: `start=product_viewed` or `end=purchase_completed`, `depth`, `top`,
/// `from`, `to`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PathQuery {
    pub start: Option<String>,
    pub end: Option<String>,
    pub depth: Option<usize>,
    pub top: Option<usize>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `true`: page views are left out of the paths (the anchor is kept even if it is one).
    pub skip_page_views: Option<bool>,
}

impl PathQuery {
    pub fn to_spec(&self, now: DateTime<Utc>) -> Result<paths::PathSpec, AnalyticsError> {
        let bad = |m: String| AnalyticsError::BadQuery(m);
        let (anchor, direction) = match (&self.start, &self.end) {
            (Some(start), None) => (start.clone(), Direction::After),
            (None, Some(end)) => (end.clone(), Direction::Before),
            _ => {
                return Err(bad(
                    "pass exactly one of start=EVENT (what came after) or end=EVENT (what led to it)".into()
                ))
            }
        };
        let depth = self.depth.unwrap_or(5);
        if !(2..=paths::MAX_DEPTH).contains(&depth) {
            return Err(bad(format!("depth={depth} is out of range; use 2 to {}", paths::MAX_DEPTH)));
        }
        let top = self.top.unwrap_or(8);
        if !(1..=50).contains(&top) {
            return Err(bad(format!("top={top} is out of range; use 1 to 50")));
        }
        let (from_us, to_us) = range_micros(self.from, self.to, now)?;
        Ok(paths::PathSpec {
            anchor,
            direction,
            depth,
            top,
            from_us,
            to_us,
            session_gap_us: SESSION_GAP_US,
            skip_page_views: self.skip_page_views.unwrap_or(false),
        })
    }
}

/// Retention as asked over HTTP: `start=signed_up&return=purchase_completed&period=week&periods=8`
/// with `from`/`to` bounding the cohorts' starts, and `breakdown=$channel` (or a property of the
/// starting event, `breakdown=plan`) for a curve per value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RetentionQuery {
    /// The event that puts a customer in a cohort (their first); none: their first event.
    pub start: Option<String>,
    /// The event that counts as coming back; none: any event.
    #[serde(rename = "return")]
    pub returning: Option<String>,
    /// `week` (default) or `day`.
    pub period: Option<TrendPeriod>,
    /// How many periods after the cohort's own to follow (default 8).
    pub periods: Option<usize>,
    /// Cohorts starting from here (default: `periods` periods before `to`).
    pub from: Option<DateTime<Utc>>,
    /// Cohorts starting before here (default now).
    pub to: Option<DateTime<Utc>>,
    /// `$channel`: one average curve per first-touch channel; a property name: one per value
    /// of that property on the customer's starting event.
    pub breakdown: Option<String>,
}

/// A retention question, checked.
#[derive(Debug, Clone)]
pub struct RetentionQuestion {
    pub period: TrendPeriod,
    pub periods: usize,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub start: Option<String>,
    pub returning: Option<String>,
    /// The channel, or a property of the starting event, to draw a curve per value of.
    pub breakdown: Option<Column>,
}

/// The longest span of cohort starts one grid shows.
const MAX_COHORT_SPAN: Duration = Duration::days(366);

impl RetentionQuery {
    pub fn to_question(&self, now: DateTime<Utc>) -> Result<RetentionQuestion, AnalyticsError> {
        let bad = |m: String| AnalyticsError::BadQuery(m);
        let period = self.period.unwrap_or(TrendPeriod::Week);
        let periods = self.periods.unwrap_or(8);
        if !(1..=super::cohorts::MAX_PERIODS).contains(&periods) {
            return Err(bad(format!("periods={periods} is out of range; use 1 to {}", super::cohorts::MAX_PERIODS)));
        }
        let to = self.to.unwrap_or(now);
        let span = Duration::microseconds(period.micros_and_origin().0 * periods as i64);
        let from = match self.from {
            Some(from) => from,
            None => {
                to.checked_sub_signed(span).ok_or_else(|| bad(format!("to ({to}) is out of range; pass from too")))?
            }
        };
        if from >= to {
            return Err(bad(format!("from ({from}) must be before to ({to})")));
        }
        if to - from > MAX_COHORT_SPAN {
            return Err(bad(format!("from ({from}) to ({to}) spans more than 366 days of cohorts; narrow the range")));
        }
        let breakdown = breakdown_column(self.breakdown.as_ref())?;
        let event = |name: &Option<String>| name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(String::from);
        Ok(RetentionQuestion {
            period,
            periods,
            from,
            to,
            now,
            start: event(&self.start),
            returning: event(&self.returning),
            breakdown,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap()
    }

    #[test]
    fn retention_defaults_to_eight_weeks_of_cohorts_and_refuses_what_it_cannot_answer() {
        let question = RetentionQuery::default().to_question(now()).unwrap();
        assert_eq!((question.period, question.periods, question.to), (TrendPeriod::Week, 8, now()));
        assert_eq!(question.to - question.from, Duration::weeks(8));
        assert!(question.breakdown.is_none() && question.start.is_none() && question.returning.is_none());
        let blank = RetentionQuery { start: Some(" ".into()), ..RetentionQuery::default() };
        assert_eq!(blank.to_question(now()).unwrap().start, None, "an empty field means first seen");
        let too_many = RetentionQuery { periods: Some(61), ..RetentionQuery::default() }.to_question(now());
        assert!(matches!(too_many, Err(AnalyticsError::BadQuery(ref m)) if m.contains("use 1 to 60")), "{too_many:?}");
        let by = |breakdown: &str| RetentionQuery { breakdown: Some(breakdown.into()), ..RetentionQuery::default() };
        assert_eq!(by("plan").to_question(now()).unwrap().breakdown, Some(Column::Property("plan".into())));
        assert_eq!(by(" $channel ").to_question(now()).unwrap().breakdown, Some(Column::Channel));
        let odd = by("plan'; drop").to_question(now());
        assert!(matches!(odd, Err(AnalyticsError::BadQuery(ref m)) if m.contains("breakdown")), "{odd:?}");
        let wide = RetentionQuery { from: Some(now() - Duration::days(400)), ..RetentionQuery::default() };
        assert!(matches!(wide.to_question(now()), Err(AnalyticsError::BadQuery(ref m)) if m.contains("366 days")));
    }

    #[test]
    fn a_range_defaults_to_the_30_days_before_to() {
        let to = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap();
        let from = Utc.with_ymd_and_hms(2026, 10, 31, 0, 0, 0).unwrap();
        assert_eq!(range_micros(None, Some(to), now()).unwrap(), (from.timestamp_micros(), to.timestamp_micros()));
        let (from_us, to_us) = range_micros(None, None, now()).unwrap();
        assert_eq!(to_us - from_us, 30 * 86_400 * 1_000_000);
    }

    #[test]
    fn the_earliest_date_as_to_is_a_bad_query_not_a_panic() {
        // The input libFuzzer found (analytics_query, route 2): `\x02wi&to=-262143-01-01T00:00:00Z`.
        let earliest: DateTime<Utc> = "-262143-01-01T00:00:00Z".parse().unwrap();
        let refused = window_and_range(None, None, Some(earliest), now(), Vec::new(), OrderMode::Sequential);
        assert!(matches!(refused, Err(AnalyticsError::BadQuery(ref m)) if m.contains("out of range")), "{refused:?}");
        let paths = PathQuery { start: Some("a".into()), to: Some(earliest), ..PathQuery::default() };
        assert!(matches!(paths.to_spec(now()), Err(AnalyticsError::BadQuery(_))));
    }

    #[test]
    fn a_backwards_range_names_both_ends() {
        let to = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let from = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        let refused = range_micros(Some(from), Some(to), now()).unwrap_err();
        assert!(refused.to_string().contains("must be before"), "{refused}");
    }
}
