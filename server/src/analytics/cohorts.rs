//! Retention by cohort (the product owner's question after funnels): customers are grouped by
//! the calendar period (day, or week from Monday, UTC) in which they first did the starting
//! event — their first event of any kind when none is named — and each cohort is followed
//! over the periods after its own: who did the returning event (any event when none is named)
//! in period 1, 2, …. Periods are calendar periods, as PostHog counts them, so one row of the
//! grid shares its columns' dates. Counts add across customers (and across nodes).
//!
//! Data health's old-event removal is the other "retention" (`crate::retention`).

use std::collections::{BTreeMap, HashMap};

use app::types::{RetentionCell, RetentionCohort, RetentionCurve, TrendPeriod};
use chrono::DateTime;

use crate::index::Entry;

/// Most periods a grid follows a cohort for (a year of weeks, two months of days).
pub const MAX_PERIODS: usize = 60;

/// What one customer contributes: their cohort (periods since the origin) and the periods
/// after it in which they came back (bit k for period k).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerRetention {
    pub cohort: i64,
    pub returned: u64,
    /// The starting event's sequence number (whose property a breakdown reads).
    pub start_seq: i64,
}

/// The question, with event names resolved to the index's ids and times in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct RetentionSpec {
    pub period_us: i64,
    pub origin_us: i64,
    /// Cohorts whose start falls in `from_us..to_us`.
    pub from_us: i64,
    pub to_us: i64,
    /// Events after this are not counted yet; periods ending after it are incomplete.
    pub now_us: i64,
    pub periods: usize,
    /// The starting event's id; `None`: any event.
    pub start: Option<u32>,
    /// The returning event's id; `None`: any event.
    pub returning: Option<u32>,
}

impl RetentionSpec {
    pub fn new(period: TrendPeriod, from_us: i64, to_us: i64, now_us: i64, periods: usize) -> Self {
        let (period_us, origin_us) = period.micros_and_origin();
        RetentionSpec { period_us, origin_us, from_us, to_us, now_us, periods, start: None, returning: None }
    }

    fn period_of(&self, at_us: i64) -> i64 {
        (at_us - self.origin_us).div_euclid(self.period_us)
    }

    fn period_start_us(&self, period: i64) -> i64 {
        self.origin_us + period * self.period_us
    }
}

/// One customer's cohort and returns, from their events in time order (`None`: not in a
/// cohort of the range, or never did the starting event).
pub fn customer_retention(spec: &RetentionSpec, events: &[Entry]) -> Option<CustomerRetention> {
    let is = |wanted: Option<u32>, e: &Entry| e.is_named() && wanted.is_none_or(|id| e.name() == id);
    let first = events.iter().position(|e| is(spec.start, e))?;
    let started = events[first].at_us;
    if started < spec.from_us || started >= spec.to_us || started > spec.now_us {
        return None;
    }
    let cohort = spec.period_of(started);
    let mut returned = 0u64;
    for event in &events[first + 1..] {
        if event.at_us > spec.now_us {
            break;
        }
        let after = spec.period_of(event.at_us) - cohort;
        if after > spec.periods as i64 {
            break;
        }
        if after >= 1 && is(spec.returning, event) {
            returned |= 1 << after;
        }
    }
    Some(CustomerRetention { cohort, returned, start_seq: events[first].seq() })
}

/// Customers and returns per period of one cohort, as they are added up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CohortTally {
    pub customers: u64,
    /// Index k − 1 for period k.
    pub returned: Vec<u64>,
}

/// Adds customers up into their cohorts.
#[derive(Debug, Clone, Default)]
pub struct RetentionTally {
    pub cohorts: BTreeMap<i64, CohortTally>,
}

impl RetentionTally {
    pub fn add(&mut self, spec: &RetentionSpec, customer: CustomerRetention) {
        let tally = self.cohorts.entry(customer.cohort).or_default();
        tally.returned.resize(spec.periods, 0);
        tally.customers += 1;
        let mut bits = customer.returned;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            tally.returned[k - 1] += 1;
            bits &= bits - 1;
        }
    }

    pub fn merge(&mut self, other: RetentionTally) {
        for (cohort, theirs) in other.cohorts {
            let mine = self.cohorts.entry(cohort).or_default();
            mine.customers += theirs.customers;
            mine.returned.resize(theirs.returned.len().max(mine.returned.len()), 0);
            for (a, b) in mine.returned.iter_mut().zip(theirs.returned) {
                *a += b;
            }
        }
    }

    pub fn customers(&self) -> u64 {
        self.cohorts.values().map(|c| c.customers).sum()
    }

    /// The grid: one row per cohort with customers, oldest first.
    pub fn grid(&self, spec: &RetentionSpec) -> Vec<RetentionCohort> {
        self.cohorts
            .iter()
            .map(|(&cohort, tally)| RetentionCohort {
                start: DateTime::from_timestamp_micros(spec.period_start_us(cohort)).unwrap_or_default(),
                customers: tally.customers,
                periods: (1..=spec.periods)
                    .map(|k| {
                        let returned = tally.returned.get(k - 1).copied().unwrap_or(0);
                        RetentionCell {
                            returned,
                            share: returned as f64 / tally.customers.max(1) as f64,
                            complete: spec.period_start_us(cohort + k as i64 + 1) <= spec.now_us,
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The average curve of these cohorts, each period over the cohorts for which it is over.
    pub fn curve(&self, spec: &RetentionSpec, group: String) -> RetentionCurve {
        let grid = self.grid(spec);
        let shares = (0..spec.periods)
            .map(|k| {
                let over = grid.iter().filter(|c| c.periods[k].complete);
                let (returned, customers) =
                    over.fold((0u64, 0u64), |(r, n), c| (r + c.periods[k].returned, n + c.customers));
                (customers > 0).then(|| returned as f64 / customers as f64)
            })
            .collect();
        RetentionCurve { group, customers: self.customers(), shares }
    }
}

/// The label of the customers whose breakdown value is outside the largest ones.
pub const OTHER_VALUE: &str = super::funnel::OTHER_VALUE;
/// The label of the customers whose starting event has no value for the property.
pub const NO_VALUE: &str = super::funnel::NO_VALUE;

/// One curve per breakdown value, largest first: the `top` largest values that `name` names,
/// then the rest together as "(other)", then those it does not name (no value) as "(none)".
/// Every customer is in exactly one curve, so the curves' customers add up to the whole.
pub fn breakdown_curves(
    spec: &RetentionSpec,
    groups: HashMap<u32, RetentionTally>,
    name: impl Fn(u32) -> Option<String>,
    top: usize,
) -> Vec<RetentionCurve> {
    let (mut named, mut unnamed) = (Vec::new(), RetentionTally::default());
    for (value, tally) in groups {
        match name(value) {
            Some(label) => named.push((label, tally)),
            None => unnamed.merge(tally),
        }
    }
    named.sort_by(|a, b| b.1.customers().cmp(&a.1.customers()).then_with(|| a.0.cmp(&b.0)));
    let mut other = RetentionTally::default();
    for (_, tally) in named.split_off(top.min(named.len())) {
        other.merge(tally);
    }
    named
        .into_iter()
        .chain([(OTHER_VALUE.to_string(), other), (NO_VALUE.to_string(), unnamed)])
        .filter(|(_, tally)| tally.customers() > 0)
        .map(|(label, tally)| tally.curve(spec, label))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breakdown_keeps_the_largest_values_then_the_rest_then_no_value() {
        let spec = spec();
        let tally = |customers: u64, back: u64| {
            let mut tally = RetentionTally::default();
            for k in 0..customers {
                // Back in period 1 for the first `back` customers.
                let returned = if k < back { 0b10 } else { 0 };
                tally.add(&spec, CustomerRetention { cohort: 0, returned, start_seq: 0 });
            }
            tally
        };
        const NONE: u32 = crate::index::columns::NONE;
        let groups = HashMap::from([
            (0, tally(3, 3)),
            (1, tally(2, 1)),
            (2, tally(1, 0)),
            (3, tally(1, 1)),
            (NONE, tally(2, 0)),
        ]);
        let names = ["a", "b", "c", "d"];
        let curves = breakdown_curves(&spec, groups, |id| names.get(id as usize).map(|n| n.to_string()), 2);
        let figures: Vec<(&str, u64, Option<f64>)> =
            curves.iter().map(|c| (c.group.as_str(), c.customers, c.shares[0])).collect();
        // Cohort 0 (the first period after the origin) is long over: every period counts.
        assert_eq!(
            figures,
            vec![("a", 3, Some(1.0)), ("b", 2, Some(0.5)), (OTHER_VALUE, 2, Some(0.5)), (NO_VALUE, 2, Some(0.0))],
            "c and d (one customer each) share (other)"
        );
        let none = breakdown_curves(&spec, HashMap::new(), |_| None, 2);
        assert!(none.is_empty(), "no group without customers");
    }

    fn event(at_us: i64, name: u32) -> Entry {
        Entry::new(at_us, 0, name, false)
    }

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    /// 2026-06-01 00:00 UTC, a Monday: day 0 of the fixture.
    const DAY0: i64 = 1_780_272_000_000_000;
    const SIGNUP: u32 = 1;
    const VIEW: u32 = 2;
    const BUY: u32 = 3;

    fn at(day: i64, hour: i64) -> i64 {
        DAY0 + day * DAY + hour * HOUR
    }

    /// Days 0 to 2 as cohorts, three periods followed, asked at noon on day 3.
    fn spec() -> RetentionSpec {
        RetentionSpec::new(TrendPeriod::Day, at(0, 0), at(3, 0), at(3, 12), 3)
    }

    fn customers() -> Vec<Vec<Entry>> {
        vec![
            // ann: day 0, back on day 1 (a view) and day 3 (a purchase; day 3 is still running).
            vec![event(at(0, 10), SIGNUP), event(at(1, 8), VIEW), event(at(3, 9), BUY)],
            // bob: day 0 late, back on day 2 only; the same day does not count as coming back.
            vec![event(at(0, 23), SIGNUP), event(at(0, 23) + 1, VIEW), event(at(2, 1), BUY)],
            // cat: day 1, again that evening (period 0), then day 2.
            vec![event(at(1, 5), VIEW), event(at(1, 20), VIEW), event(at(2, 10), VIEW)],
            // dan: first seen before the range: in no cohort.
            vec![event(at(-1, 5), VIEW), event(at(1, 5), SIGNUP), event(at(2, 5), VIEW)],
            // eve: an event after "now" is not counted.
            vec![event(at(2, 5), SIGNUP), event(at(3, 13), VIEW)],
        ]
    }

    fn tally(spec: &RetentionSpec) -> RetentionTally {
        let mut tally = RetentionTally::default();
        for events in customers() {
            if let Some(found) = customer_retention(spec, &events) {
                tally.add(spec, found);
            }
        }
        tally
    }

    fn returned(grid: &[RetentionCohort]) -> Vec<(u64, Vec<(u64, bool)>)> {
        grid.iter().map(|c| (c.customers, c.periods.iter().map(|p| (p.returned, p.complete)).collect())).collect()
    }

    #[test]
    fn first_seen_cohorts_by_day_match_the_hand_computed_grid() {
        let spec = spec();
        let grid = tally(&spec).grid(&spec);
        assert_eq!(
            grid.iter().map(|c| c.start.timestamp_micros()).collect::<Vec<_>>(),
            vec![at(0, 0), at(1, 0), at(2, 0)]
        );
        // day 0: ann, bob. day 1: cat. day 2: eve. Day 3 has not ended at noon.
        assert_eq!(
            returned(&grid),
            vec![
                (2, vec![(1, true), (1, true), (1, false)]),
                (1, vec![(1, true), (0, false), (0, false)]),
                (1, vec![(0, false), (0, false), (0, false)]),
            ]
        );
        assert_eq!(grid[0].periods[0].share, 0.5);
        let curve = tally(&spec).curve(&spec, "all".into());
        assert_eq!(curve.customers, 4);
        // Period 1 is over for days 0 and 1 (2 of 3 came back); period 2 only for day 0 (1 of 2).
        assert_eq!(curve.shares, vec![Some(2.0 / 3.0), Some(0.5), None]);
    }

    #[test]
    fn a_starting_and_a_returning_event_narrow_the_cohorts() {
        let spec = RetentionSpec { start: Some(SIGNUP), returning: Some(BUY), ..spec() };
        let grid = tally(&spec).grid(&spec);
        // Signed up: ann and bob on day 0, dan on day 1 (his first sign-up), eve on day 2.
        // Bought: ann on day 3 (period 3), bob on day 2 (period 2).
        assert_eq!(
            returned(&grid),
            vec![
                (2, vec![(0, true), (1, true), (1, false)]),
                (1, vec![(0, true), (0, false), (0, false)]),
                (1, vec![(0, false), (0, false), (0, false)]),
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_tallies_merge_by_adding() {
        let spec = RetentionSpec::new(TrendPeriod::Week, at(0, 0), at(14, 0), at(21, 0), 2);
        let one = vec![event(at(6, 23), VIEW), event(at(7, 1), VIEW)];
        let two = vec![event(at(0, 0), VIEW), event(at(13, 0), VIEW)];
        let mut a = RetentionTally::default();
        a.add(&spec, customer_retention(&spec, &one).unwrap());
        let mut b = RetentionTally::default();
        b.add(&spec, customer_retention(&spec, &two).unwrap());
        a.merge(b);
        let grid = a.grid(&spec);
        assert_eq!(grid.len(), 1, "both start in the week of Monday day 0");
        assert_eq!(returned(&grid), vec![(2, vec![(2, true), (0, true)])]);
    }
}
