//! Rule outcomes: did acting on a rule's alerts help? A rule may name a goal (an event the
//! customer should do within some time of the alert) and hold out a share of its customers,
//! whose alerts are recorded but not acted on. Once an alert's goal window has ended, its
//! customer either reached the goal or not; the treated alerts' rate against the held-out
//! ones', with a 95 % interval on the difference, says whether the action made a difference.
//!
//! Every treated alert counts as treated, whether or not a person acknowledged it (intention
//! to treat): the lift is then what switching the rule on achieves, and is not flattered by
//! people picking the easy customers. How many a person acted on is reported beside it.

use app::{
    format::{duration, percent},
    types::{GroupOutcome, OutcomeVerdict, Rule, RuleOutcomes},
};
use chrono::{DateTime, Duration, Utc};
use duckdb::params;

use crate::{
    index::{Entry, EventIndex, IndexError},
    store::{sql, Micros, Store, StoreError},
};

/// Alerts with an ended goal window each group needs before a verdict is given.
pub const MIN_PER_GROUP: u64 = 30;
/// How far back alerts are judged: older ones describe a rule that may since have changed.
pub const LOOKBACK: Duration = Duration::days(90);
/// The normal quantile of a two-sided 95 % interval.
const Z_95: f64 = 1.959_964;

#[derive(Debug, thiserror::Error)]
pub enum OutcomeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// One alert whose goal window has ended, as judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub holdout: bool,
    /// A person acknowledged or resolved it.
    pub acted_on: bool,
    /// Microseconds from the alert to the goal, if the customer reached it in time.
    pub reached_after_us: Option<i64>,
}

/// Microseconds from `from_us` to the customer's first `goal` event at or after it, if one
/// comes within `within_us` (its edge included). `events` are in time order.
pub fn time_to_goal(events: &[Entry], goal: u32, from_us: i64, within_us: i64) -> Option<i64> {
    let start = events.partition_point(|e| e.at_us < from_us);
    events[start..]
        .iter()
        .take_while(|e| e.at_us <= from_us.saturating_add(within_us))
        .find(|e| e.name() == goal)
        .map(|e| e.at_us - from_us)
}

fn group(observed: &[Observed], holdout: bool) -> GroupOutcome {
    let mine: Vec<&Observed> = observed.iter().filter(|o| o.holdout == holdout).collect();
    let mut times: Vec<i64> = mine.iter().filter_map(|o| o.reached_after_us).collect();
    let (alerts, reached) = (mine.len() as u64, times.len() as u64);
    GroupOutcome {
        alerts,
        reached,
        rate: (alerts > 0).then(|| reached as f64 / alerts as f64),
        median_seconds_to_goal: crate::analytics::median_seconds_unsorted(&mut times),
    }
}

/// The figures and the verdict for `rule` from its judged alerts; `pending` alerts are still
/// inside their goal window.
pub fn summarise(rule: &Rule, observed: &[Observed], pending: u64) -> RuleOutcomes {
    let treated = group(observed, false);
    let holdout = group(observed, true);
    let acted_on = observed.iter().filter(|o| !o.holdout && o.acted_on).count() as u64;
    let mut outcome = RuleOutcomes {
        rule_id: rule.id.clone(),
        goal: rule.goal.clone(),
        holdout_percent: rule.holdout_percent,
        treated,
        holdout,
        acted_on,
        pending,
        lift_points: None,
        lift_interval: None,
        verdict: OutcomeVerdict::NoGoal,
        summary: String::new(),
    };
    let Some(goal) = &rule.goal else {
        outcome.summary = "This rule has no goal: name the event its alerts should lead to (and hold out some \
                           customers) to see whether acting on them helps."
            .into();
        return outcome;
    };
    let window = duration(goal.within_seconds as f64);
    let (t, h) = (&outcome.treated, &outcome.holdout);
    let (Some(pt), Some(ph)) = (t.rate, h.rate) else {
        outcome.verdict = OutcomeVerdict::TooFew;
        outcome.summary = too_few(t.alerts, h.alerts, &window, rule.holdout_percent);
        return outcome;
    };
    // Difference of two proportions, with the unpooled (Wald) standard error.
    let lift = pt - ph;
    let se = (pt * (1.0 - pt) / t.alerts as f64 + ph * (1.0 - ph) / h.alerts as f64).sqrt();
    let (low, high) = (lift - Z_95 * se, lift + Z_95 * se);
    outcome.lift_points = Some(lift * 100.0);
    outcome.lift_interval = Some((low * 100.0, high * 100.0));
    let rates = format!(
        "{} of treated customers did {} within {window} of the alert, against {} held out ({:+.1} points, 95 % \
         interval {:+.1} to {:+.1})",
        percent(pt),
        goal.event,
        percent(ph),
        lift * 100.0,
        low * 100.0,
        high * 100.0
    );
    (outcome.verdict, outcome.summary) = if t.alerts < MIN_PER_GROUP || h.alerts < MIN_PER_GROUP {
        (
            OutcomeVerdict::TooFew,
            format!("{} So far {rates}.", too_few(t.alerts, h.alerts, &window, rule.holdout_percent)),
        )
    } else if low > 0.0 {
        (OutcomeVerdict::Helped, format!("Acting on these alerts helped: {rates}."))
    } else if high < 0.0 {
        (OutcomeVerdict::Hurt, format!("Acting on these alerts did worse than doing nothing: {rates}."))
    } else {
        (OutcomeVerdict::NoClearEffect, format!("No difference can be told from chance yet: {rates}."))
    };
    outcome
}

fn too_few(treated: u64, held: u64, window: &str, holdout_percent: u8) -> String {
    let hint = if holdout_percent == 0 { " Set a holdout (e.g. 20 %) to have a group to compare with." } else { "" };
    format!(
        "Too few to judge: {treated} treated and {held} held-out alerts have finished their {window} goal window; \
         at least {MIN_PER_GROUP} in each are needed.{hint}"
    )
}

/// Judges the alerts of the last [`LOOKBACK`] of `rule` at `now`: each customer's events
/// come from the event index.
pub async fn of_rule(
    store: &Store,
    index: &EventIndex,
    rule: Rule,
    now: DateTime<Utc>,
) -> Result<RuleOutcomes, OutcomeError> {
    let Some(goal) = rule.goal.clone() else { return Ok(summarise(&rule, &[], 0)) };
    let rule_id = rule.id.clone();
    let alerts: Vec<(String, i64, bool, bool)> = store
        .read(move |conn| {
            let mut stmt = conn.prepare(sql::ALERTS_FOR_OUTCOMES)?;
            let rows = stmt.query_map(params![rule_id, Micros::of(now - LOOKBACK)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await?;
    let (now_us, within_us) = (now.timestamp_micros(), goal.within_seconds.saturating_mul(1_000_000));
    let (observed, pending) = index
        .answer(move |data| {
            // A goal nobody has done yet: no event can match.
            let goal_id = data.name_id(goal.event.trim()).unwrap_or(crate::index::NO_NAME);
            let mut observed = Vec::with_capacity(alerts.len());
            let mut pending = 0u64;
            for (customer, raised_us, holdout, acted_on) in alerts {
                if raised_us.saturating_add(within_us) > now_us {
                    pending += 1;
                    continue;
                }
                let events = data.customer(&customer).map_or(&[][..], |c| &c.events[..]);
                let reached_after_us = time_to_goal(events, goal_id, raised_us, within_us);
                observed.push(Observed { holdout, acted_on, reached_after_us });
            }
            (observed, pending)
        })
        .await?;
    Ok(summarise(&rule, &observed, pending))
}

/// One alert whose customer's goal progress is asked for.
#[derive(Debug, Clone)]
pub struct GoalAsked {
    pub alert_id: i64,
    pub customer_id: String,
    pub raised_at: DateTime<Utc>,
    pub goal: app::types::Goal,
}

/// Where each asked alert's customer stands against its goal at `now` (alerts whose customer
/// the index does not hold are left out).
pub async fn progress(
    index: &EventIndex,
    asked: Vec<GoalAsked>,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, app::types::GoalProgress)>, OutcomeError> {
    use app::types::GoalProgress;
    Ok(index
        .answer(move |data| {
            asked
                .into_iter()
                .filter_map(|a| {
                    let customer = data.customer(&a.customer_id)?;
                    let goal_id = data.name_id(a.goal.event.trim()).unwrap_or(crate::index::NO_NAME);
                    let (raised_us, within_us) =
                        (a.raised_at.timestamp_micros(), a.goal.within_seconds.saturating_mul(1_000_000));
                    let event = a.goal.event.clone();
                    let state = match time_to_goal(&customer.events, goal_id, raised_us, within_us) {
                        Some(after_us) => GoalProgress::Reached { event, after_seconds: after_us / 1_000_000 },
                        None if raised_us.saturating_add(within_us) <= now.timestamp_micros() => {
                            GoalProgress::Missed { event, within_seconds: a.goal.within_seconds }
                        }
                        None => GoalProgress::Waiting {
                            event,
                            until: a.raised_at + Duration::seconds(a.goal.within_seconds),
                        },
                    };
                    Some((a.alert_id, state))
                })
                .collect()
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use app::types::{Condition, Goal};

    use super::*;

    fn rule(goal: Option<Goal>, holdout_percent: u8) -> Rule {
        Rule {
            id: "cart".into(),
            name: "Cart left".into(),
            enabled: true,
            condition: Condition::Inactivity { for_seconds: 3_600 },
            cooldown_seconds: 0,
            playbook: None,
            suppressed_by: None,
            identified_only: false,
            goal,
            holdout_percent,
        }
    }

    fn goal() -> Option<Goal> {
        Some(Goal { event: "purchase_completed".into(), within_seconds: 3 * 86_400 })
    }

    /// `n` alerts of one group, the first `reached` of which reached the goal after
    /// `after_s` seconds (1, 2, … more each, so the median is known).
    fn alerts(holdout: bool, n: usize, reached: usize) -> Vec<Observed> {
        (0..n)
            .map(|i| Observed {
                holdout,
                acted_on: !holdout && i % 2 == 0,
                reached_after_us: (i < reached).then_some((i as i64 + 1) * 1_000_000),
            })
            .collect()
    }

    #[test]
    fn the_goal_is_the_first_one_inside_the_window_from_the_alert() {
        let e = |s: i64, name: u32| Entry::new(s * 1_000_000, s, name, false);
        let events = [e(5, 1), e(10, 2), e(12, 1), e(20, 1)];
        assert_eq!(time_to_goal(&events, 1, 10_000_000, 2_000_000), Some(2_000_000), "edge included");
        assert_eq!(time_to_goal(&events, 1, 10_000_000, 1_999_999), None);
        assert_eq!(time_to_goal(&events, 1, 4_000_000, 100_000_000), Some(1_000_000));
        assert_eq!(time_to_goal(&events, 3, 0, i64::MAX), None);
    }

    #[test]
    fn a_clear_lift_is_called_helped_with_the_hand_computed_interval() {
        // Treated 40 of 100 (40 %), held out 10 of 50 (20 %): lift 20 points; standard error
        // √(0.4·0.6/100 + 0.2·0.8/50) = √(0.0024 + 0.0032) = 0.074833; 1.96 × it = 14.667
        // points, so the interval is +5.33 to +34.67.
        let observed: Vec<Observed> = alerts(false, 100, 40).into_iter().chain(alerts(true, 50, 10)).collect();
        let outcome = summarise(&rule(goal(), 30), &observed, 7);
        assert_eq!((outcome.treated.alerts, outcome.treated.reached), (100, 40));
        assert_eq!((outcome.holdout.alerts, outcome.holdout.reached), (50, 10));
        assert_eq!((outcome.acted_on, outcome.pending), (50, 7));
        assert!((outcome.lift_points.unwrap() - 20.0).abs() < 1e-9);
        let (low, high) = outcome.lift_interval.unwrap();
        assert!((low - 5.333).abs() < 0.01 && (high - 34.667).abs() < 0.01, "{low} {high}");
        assert_eq!(outcome.verdict, OutcomeVerdict::Helped);
        // Times to goal 1..=40 s: the median is 20.5 s; held out 1..=10: 5.5 s.
        assert_eq!(outcome.treated.median_seconds_to_goal, Some(20.5));
        assert_eq!(outcome.holdout.median_seconds_to_goal, Some(5.5));
        assert!(outcome.summary.contains("40%") && outcome.summary.contains("20%"), "{}", outcome.summary);
        assert!(outcome.summary.contains("+20.0 points"), "{}", outcome.summary);
    }

    #[test]
    fn it_refuses_to_judge_a_small_sample_or_a_difference_within_chance() {
        let few: Vec<Observed> = alerts(false, 100, 60).into_iter().chain(alerts(true, 29, 3)).collect();
        let outcome = summarise(&rule(goal(), 20), &few, 0);
        assert_eq!(outcome.verdict, OutcomeVerdict::TooFew);
        assert!(outcome.summary.starts_with("Too few to judge: 100 treated and 29 held-out"), "{}", outcome.summary);
        // 33 of 100 against 10 of 30: the interval spans 0.
        let close: Vec<Observed> = alerts(false, 100, 33).into_iter().chain(alerts(true, 30, 10)).collect();
        assert_eq!(summarise(&rule(goal(), 20), &close, 0).verdict, OutcomeVerdict::NoClearEffect);
        // 10 of 100 against 15 of 30: worse than doing nothing.
        let worse: Vec<Observed> = alerts(false, 100, 10).into_iter().chain(alerts(true, 30, 15)).collect();
        assert_eq!(summarise(&rule(goal(), 20), &worse, 0).verdict, OutcomeVerdict::Hurt);
        // Without a holdout there is nothing to compare with; without a goal, nothing to count.
        let alone = summarise(&rule(goal(), 0), &alerts(false, 100, 10), 0);
        assert_eq!((alone.verdict, alone.lift_points), (OutcomeVerdict::TooFew, None));
        assert!(alone.summary.contains("Set a holdout"), "{}", alone.summary);
        assert_eq!(summarise(&rule(None, 0), &[], 0).verdict, OutcomeVerdict::NoGoal);
    }
}
