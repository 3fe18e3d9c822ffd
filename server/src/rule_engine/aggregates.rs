//! Aggregate measures for the rules about all customers at once: how many of an event
//! happened in a time range, and what share of the customers who started a funnel step
//! converted. Pure functions over each customer's events in time order (index entries), so
//! they are tested on hand-written histories; the engine evaluates them on a schedule.

use rayon::prelude::*;

use super::conditions::Pattern;
use crate::index::Entry;

/// How many events match `pattern` with a time in `(after_us, until_us]`.
pub fn volume(customers: &[&[Entry]], pattern: &Pattern<'_>, after_us: i64, until_us: i64) -> u64 {
    customers
        .par_iter()
        .map(|events| {
            let start = events.partition_point(|e| e.at_us <= after_us);
            events[start..].iter().take_while(|e| e.at_us <= until_us).filter(|e| pattern.matches(e)).count() as u64
        })
        .sum()
}

/// Customers who started and who converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conversion {
    pub started: u64,
    pub converted: u64,
}

impl Conversion {
    pub fn percent(self) -> f64 {
        if self.started == 0 {
            0.0
        } else {
            100.0 * self.converted as f64 / self.started as f64
        }
    }
}

/// Of the customers whose first `from` event in `(after_us, until_us]` started them, how
/// many did `to` within `within_us` after it. The caller picks `until_us` at least
/// `within_us` in the past, so that every starter has had the whole time to convert.
pub fn conversion(
    customers: &[&[Entry]],
    from: &Pattern<'_>,
    to: &Pattern<'_>,
    within_us: i64,
    after_us: i64,
    until_us: i64,
) -> Conversion {
    customers
        .par_iter()
        .map(|events| {
            let start = events.partition_point(|e| e.at_us <= after_us);
            let Some(first) = events[start..].iter().take_while(|e| e.at_us <= until_us).find(|e| from.matches(e))
            else {
                return Conversion::default();
            };
            let deadline = first.at_us + within_us;
            let after_first = events.partition_point(|e| (e.at_us, e.seq()) <= (first.at_us, first.seq()));
            let converted = events[after_first..].iter().take_while(|e| e.at_us <= deadline).any(|e| to.matches(e));
            Conversion { started: 1, converted: u64::from(converted) }
        })
        .reduce(Conversion::default, |a, b| Conversion {
            started: a.started + b.started,
            converted: a.converted + b.converted,
        })
}

/// The event's volume in the latest window and the average of the `windows` windows of the
/// same length just before it: `(current, baseline)`.
pub fn volume_against_baseline(
    customers: &[&[Entry]],
    pattern: &Pattern<'_>,
    window_us: i64,
    windows: u32,
    until_us: i64,
) -> (u64, f64) {
    let current = volume(customers, pattern, until_us - window_us, until_us);
    let before_start = until_us - window_us * (1 + i64::from(windows));
    let before = volume(customers, pattern, before_start, until_us - window_us);
    (current, before as f64 / f64::from(windows.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::types::StepEvent;

    const MIN: i64 = 60_000_000;
    const NAMES: [&str; 3] = ["view", "cart", "buy"];

    fn pattern(name: &str) -> Pattern<'static> {
        Pattern::new(&[StepEvent::named(name)], |n| NAMES.iter().position(|x| *x == n).map(|i| i as u32), |_| None)
    }

    /// One customer's events at minutes.
    fn history(list: &[(i64, &str)], first_seq: i64) -> Vec<Entry> {
        let mut events: Vec<Entry> = list
            .iter()
            .enumerate()
            .map(|(i, (at, name))| {
                Entry::new(at * MIN, first_seq + i as i64, NAMES.iter().position(|n| n == name).unwrap() as u32, false)
            })
            .collect();
        events.sort_by_key(|e| (e.at_us, e.seq()));
        events
    }

    #[test]
    fn volume_counts_matching_events_in_the_half_open_range() {
        let a = history(&[(1, "view"), (2, "view"), (3, "cart"), (10, "view")], 1);
        let b = history(&[(5, "view"), (11, "view")], 100);
        let customers = [a.as_slice(), b.as_slice()];
        // (1, 10]: a's views at 2 and 10, b's at 5; the view at minute 1 is on the open end.
        assert_eq!(volume(&customers, &pattern("view"), MIN, 10 * MIN), 3);
        assert_eq!(volume(&customers, &pattern("cart"), 0, 60 * MIN), 1);
        assert_eq!(volume(&customers, &pattern("buy"), 0, 60 * MIN), 0);
    }

    #[test]
    fn conversion_counts_each_starter_once_from_their_first_start_in_range() {
        // Window to convert: 10 minutes; starters between minute 0 (open) and 30.
        let converted = history(&[(5, "cart"), (12, "buy")], 1); // 7 min: converted
        let too_late = history(&[(5, "cart"), (16, "buy")], 10); // 11 min: not
        let twice = history(&[(20, "cart"), (25, "cart"), (26, "buy")], 20); // from 20: 6 min: converted
        let started_before = history(&[(0, "cart"), (3, "buy")], 30); // start at 0 is outside (0, 30]
        let started_after = history(&[(31, "cart"), (32, "buy")], 40); // outside
        let never = history(&[(8, "view")], 50);
        let customers =
            [&converted[..], &too_late[..], &twice[..], &started_before[..], &started_after[..], &never[..]];
        let found = conversion(&customers, &pattern("cart"), &pattern("buy"), 10 * MIN, 0, 30 * MIN);
        assert_eq!(found, Conversion { started: 3, converted: 2 });
        assert!((found.percent() - 66.666).abs() < 0.01);
        assert_eq!(Conversion::default().percent(), 0.0, "no starters is 0 %, not NaN");
    }

    #[test]
    fn a_buy_before_the_start_does_not_convert_it() {
        let events = history(&[(2, "buy"), (5, "cart")], 1);
        let found = conversion(&[&events[..]], &pattern("cart"), &pattern("buy"), 10 * MIN, 0, 30 * MIN);
        assert_eq!(found, Conversion { started: 1, converted: 0 });
    }

    #[test]
    fn the_baseline_is_the_average_of_the_windows_before_the_current_one() {
        // 10-minute windows ending at 40: current (30, 40], before (0, 10], (10, 20], (20, 30].
        let events = history(
            &[(5, "view"), (6, "view"), (15, "view"), (16, "view"), (17, "view"), (25, "view"), (35, "view")],
            1,
        );
        let (current, baseline) = volume_against_baseline(&[&events[..]], &pattern("view"), 10 * MIN, 3, 40 * MIN);
        assert_eq!(current, 1);
        assert!((baseline - 2.0).abs() < 1e-9, "(2 + 3 + 1) / 3 = 2, got {baseline}");
    }
}
