//! Sessions and stage occupancy: which stage each active session is in right now and for how
//! long. Pure functions over customers' recent events; the query that feeds them is
//! `queries/analytics/recent_session_events.sql`.

use serde::{Deserialize, Serialize};

use crate::journeys::Journey;

/// A customer's events with no gap over this belong to one session (30 minutes).
pub const SESSION_GAP_US: i64 = 30 * 60 * 1_000_000;

/// One event: time (µs since the epoch) and name.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedEvent {
    pub at_us: i64,
    pub name: String,
}

/// The last session of a customer's events (in time order).
pub fn last_session(events: &[NamedEvent], gap_us: i64) -> &[NamedEvent] {
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
/// trailing run in that stage (events of no stage do not break the run).
pub fn position(journey: &Journey, session: &[NamedEvent]) -> Option<Position> {
    let mut current: Option<Position> = None;
    for event in session.iter().rev() {
        let Some(stage) = journey.stage_of(&event.name) else { continue };
        match current {
            None => current = Some(Position { stage, since_us: event.at_us }),
            Some(p) if p.stage == stage => current = Some(Position { stage, since_us: event.at_us }),
            Some(_) => break,
        }
    }
    current
}

/// Active sessions in one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageOccupancy {
    pub stage: String,
    pub active_sessions: u64,
    /// Median time the sessions now in the stage have spent in it, in seconds.
    pub median_seconds_in_stage: Option<f64>,
}

/// Counts the sessions active since `active_since_us` by the stage they are in at `now_us`.
pub fn occupancy(
    journey: &Journey,
    customers: &[Vec<NamedEvent>],
    active_since_us: i64,
    now_us: i64,
) -> Vec<StageOccupancy> {
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); journey.stages.len()];
    for events in customers {
        let session = last_session(events, SESSION_GAP_US);
        if session.last().is_none_or(|e| e.at_us < active_since_us) {
            continue;
        }
        if let Some(p) = position(journey, session) {
            times[p.stage].push((now_us - p.since_us).max(0));
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
                median_seconds_in_stage: super::median_seconds(&t),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn events(list: &[(i64, &str)]) -> Vec<NamedEvent> {
        list.iter().map(|(at, name)| NamedEvent { at_us: *at, name: name.to_string() }).collect()
    }

    #[test]
    fn a_gap_over_thirty_minutes_starts_a_new_session() {
        let e = events(&[(0, "a"), (30 * MIN, "b"), (61 * MIN, "c"), (62 * MIN, "d")]);
        let names: Vec<&str> = last_session(&e, SESSION_GAP_US).iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["c", "d"], "exactly 30 min is the same session, 31 is not");
        assert!(last_session(&[], SESSION_GAP_US).is_empty());
    }

    #[test]
    fn the_current_stage_started_with_the_trailing_run_of_its_events() {
        let journey = Journey::default_journey();
        // Engagement (product_viewed) then Conversion twice, with an unmapped event between.
        let session = events(&[
            (0, "product_viewed"),
            (MIN, "added_to_cart"),
            (2 * MIN, "mystery"),
            (3 * MIN, "checkout_started"),
        ]);
        assert_eq!(position(&journey, &session), Some(Position { stage: 2, since_us: MIN }));
        assert_eq!(position(&journey, &events(&[(0, "mystery")])), None);
    }

    #[test]
    fn occupancy_matches_a_hand_computed_fixture() {
        let journey = Journey::default_journey();
        let now = 100 * MIN;
        let since = now - 30 * MIN;
        let customers = vec![
            // In Conversion since 90 → 10 min.
            events(&[(85 * MIN, "product_viewed"), (90 * MIN, "added_to_cart")]),
            // In Conversion since 96 → 4 min.
            events(&[(96 * MIN, "checkout_started")]),
            // In Engagement since 99 → 1 min (an earlier session in Conversion does not count).
            events(&[(10 * MIN, "added_to_cart"), (99 * MIN, "product_viewed")]),
            // Last seen 60 min ago: not active.
            events(&[(40 * MIN, "Home")]),
        ];
        let result = occupancy(&journey, &customers, since, now);
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
