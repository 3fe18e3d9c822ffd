//! Sessions and stage occupancy: which stage each active session is in right now and for how
//! long. Pure functions over customers' recent events; the query that feeds them is
//! the event index (`index.rs`).

use app::types::{Journey, StageOccupancy};

use crate::index::Entry;

/// A customer's events with no gap over this many minutes are one session, unless configured
/// otherwise (`session_gap_minutes`).
pub const DEFAULT_SESSION_GAP_MINUTES: i64 = 30;
/// The same default in µs, as the index keeps time.
pub const SESSION_GAP_US: i64 = DEFAULT_SESSION_GAP_MINUTES * 60 * 1_000_000;

/// The last session of a customer's named events (in time order).
pub fn last_session(events: &[Entry], gap_us: i64) -> &[Entry] {
    let start = events.windows(2).rposition(|w| w[1].at_us - w[0].at_us > gap_us).map_or(0, |i| i + 1);
    &events[start..]
}

/// Where one session is: its current stage and since when (µs since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub stage: usize,
    pub since_us: i64,
}

/// The stage of the session's latest stage event, entered at the first event of the
/// trailing run in that stage (events of no stage do not break the run). `stage_of` gives
/// an event's stage.
pub fn position(stage_of: impl Fn(&Entry) -> Option<usize>, session: &[Entry]) -> Option<Position> {
    let mut current: Option<Position> = None;
    for event in session.iter().rev() {
        let Some(stage) = stage_of(event) else { continue };
        match current {
            None => current = Some(Position { stage, since_us: event.at_us }),
            Some(p) if p.stage == stage => current = Some(Position { stage, since_us: event.at_us }),
            Some(_) => break,
        }
    }
    current
}

/// Where a customer's current session is, if it was active since `active_since_us`.
pub fn current_position(
    stage_of: impl Fn(&Entry) -> Option<usize>,
    events: &[Entry],
    active_since_us: i64,
    gap_us: i64,
) -> Option<Position> {
    let session = last_session(events, gap_us);
    if session.last().is_none_or(|e| e.at_us < active_since_us) {
        return None;
    }
    position(stage_of, session)
}

/// Counts active sessions' positions by stage, with the median time in stage at `now_us`.
pub fn occupancy(journey: &Journey, positions: &[Position], now_us: i64) -> Vec<StageOccupancy> {
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); journey.stages.len()];
    for p in positions {
        if let Some(t) = times.get_mut(p.stage) {
            t.push((now_us - p.since_us).max(0));
        }
    }
    journey
        .stages
        .iter()
        .zip(times)
        .map(|(stage, mut t)| {
            t.sort_unstable();
            StageOccupancy {
                stage: stage.name.clone(),
                active_sessions: t.len() as u64,
                median_seconds_in_stage: super::scan::median_seconds(&t),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{columns::PropertyColumn, stage::StageClassifier};

    const MIN: i64 = 60_000_000;

    /// Names of the fixtures, by id.
    const NAMES: [&str; 7] = ["a", "b", "c", "d", "product_viewed", "added_to_cart", "checkout_started"];
    const MYSTERY: u32 = 100;

    fn id(name: &str) -> u32 {
        NAMES.iter().position(|n| *n == name).map_or(MYSTERY, |i| i as u32)
    }

    fn events(list: &[(i64, &str)]) -> Vec<Entry> {
        list.iter().enumerate().map(|(seq, (at, name))| Entry::new(*at, seq as i64, id(name), false)).collect()
    }

    fn stage_of(journey: &Journey) -> impl Fn(&Entry) -> Option<usize> + '_ {
        |e| NAMES.get(e.name() as usize).and_then(|n| journey.stage_of(n))
    }

    #[test]
    fn a_gap_over_thirty_minutes_starts_a_new_session() {
        let e = events(&[(0, "a"), (30 * MIN, "b"), (61 * MIN, "c"), (62 * MIN, "d")]);
        let names: Vec<&str> = last_session(&e, SESSION_GAP_US).iter().map(|e| NAMES[e.name() as usize]).collect();
        assert_eq!(names, vec!["c", "d"], "exactly 30 min is the same session, 31 is not");
        assert!(last_session(&[], SESSION_GAP_US).is_empty());
    }

    #[test]
    fn the_current_stage_started_with_the_trailing_run_of_its_events() {
        let journey = crate::journeys::default_journey();
        // Engagement (product_viewed) then Conversion twice, with an unmapped event between.
        let session = events(&[
            (0, "product_viewed"),
            (MIN, "added_to_cart"),
            (2 * MIN, "mystery"),
            (3 * MIN, "checkout_started"),
        ]);
        assert_eq!(position(stage_of(&journey), &session), Some(Position { stage: 2, since_us: MIN }));
        assert_eq!(position(stage_of(&journey), &events(&[(0, "mystery")])), None);
    }

    #[test]
    fn a_stage_claims_events_by_their_property_values() {
        let mut journey = crate::journeys::default_journey();
        journey.stages[2].events.push("product_viewed[sku=A]".into());
        let mut sku = PropertyColumn::default();
        sku.set(0, "A");
        sku.set(1, "B");
        let classifier = StageClassifier::new(&journey, &NAMES, |key| (key == "sku").then_some(&sku));
        let viewed = id("product_viewed");
        let stage = |seq: i64| classifier.stage(&Entry::new(0, seq, viewed, false));
        assert_eq!((stage(0), stage(1), stage(2)), (Some(2), Some(1), Some(1)), "A is Conversion, others Engagement");
        assert_eq!(classifier.stage(&Entry::new(0, 0, id("a"), false)), None);
    }

    #[test]
    fn occupancy_matches_a_hand_computed_fixture() {
        let journey = crate::journeys::default_journey();
        let now = 100 * MIN;
        let since = now - 30 * MIN;
        let customers = [
            // In Conversion since 90 → 10 min.
            events(&[(85 * MIN, "product_viewed"), (90 * MIN, "added_to_cart")]),
            // In Conversion since 96 → 4 min.
            events(&[(96 * MIN, "checkout_started")]),
            // In Engagement since 99 → 1 min (an earlier session in Conversion does not count).
            events(&[(10 * MIN, "added_to_cart"), (99 * MIN, "product_viewed")]),
            // Last seen 60 min ago: not active.
            events(&[(40 * MIN, "product_viewed")]),
        ];
        let positions: Vec<Position> =
            customers.iter().filter_map(|c| current_position(stage_of(&journey), c, since, SESSION_GAP_US)).collect();
        let result = occupancy(&journey, &positions, now);
        let counts: Vec<(String, u64, Option<f64>)> =
            result.iter().map(|s| (s.stage.clone(), s.active_sessions, s.median_seconds_in_stage)).collect();
        assert_eq!(
            counts,
            vec![
                ("Discovery".to_string(), 0, None),
                ("Engagement".to_string(), 1, Some(60.0)),
                ("Conversion".to_string(), 2, Some(420.0)),
                ("Post-purchase".to_string(), 0, None),
                ("Retention".to_string(), 0, None),
            ]
        );
    }
}
