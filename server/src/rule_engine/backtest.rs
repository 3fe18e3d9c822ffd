//! "Try on history": a rule run over the stored events of the last days, raising nothing,
//! with the live engine's own condition code ([`evaluate`], [`expire`], [`held_back`] through
//! them) and its clock handed in as the end of the range. What differs from live is only
//! what live owes to arriving in real time: every wait that the range saw end is expired at
//! once, an inactivity wait starts from every event (live keeps only the latest, the others
//! being overtaken), cooldowns count in event time, and the one-day staleness cut does not
//! apply (history is the point).

use std::collections::{HashMap, HashSet};

use app::types::{BacktestAlert, BacktestDay, BacktestResult, GroupOutcome, Rule, BACKTEST_SAMPLE};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rayon::prelude::*;

use super::{compile, evaluate, expire, timer, Active, Outcome, Trigger, Waits};
use crate::{
    index::{Column, EventIndex, IndexError},
    journeys::Journeys,
    rules::Condition,
    store::Store,
};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The rule cannot be backtested as written; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What `rule` would have raised from `to − days` to `to`.
pub async fn backtest(
    index: &EventIndex,
    store: &Store,
    journeys: &Journeys,
    rule: Rule,
    days: u32,
    to: DateTime<Utc>,
) -> Result<BacktestResult, BacktestError> {
    rule.check().map_err(BacktestError::Invalid)?;
    if rule.condition.is_aggregate() {
        return Err(BacktestError::Invalid(
            "a backtest replays rules about one customer; an aggregate rule is measured on all customers every \
             2 seconds, which a replay of history does not reproduce"
                .into(),
        ));
    }
    if !(1..=app::types::MAX_BACKTEST_DAYS).contains(&days) {
        return Err(BacktestError::Invalid(format!("days must be 1 to {}, got {days}", app::types::MAX_BACKTEST_DAYS)));
    }
    let from = to - Duration::days(i64::from(days));
    let active = Active::compile(rule.clone(), journeys);
    let properties: Vec<Column> = active.properties().into_iter().map(Column::Property).collect();
    if !properties.is_empty() {
        index.materialise(store, properties).await?;
    }
    let (from_us, to_us) = (from.timestamp_micros(), to.timestamp_micros());
    let goal = rule.goal.clone();
    let (raised, goal) = index
        .answer(move |data| {
            let active = [active];
            // A backtest reports no alert's context: not gathering it (ten event names an
            // alert) saves an allocation each.
            let compiled = compile(data, &active, 0);
            let rule = &active[0];
            let cooldown_us = rule.rule.cooldown_seconds.saturating_mul(1_000_000);
            let raised: Vec<Trigger> = data
                .customers()
                .par_iter()
                .flat_map_iter(|customer| {
                    let start = customer.events.partition_point(|e| e.at_us < from_us);
                    let end = customer.events.partition_point(|e| e.at_us <= to_us);
                    let entries = &customer.events[start..end.max(start)];
                    if entries.is_empty() {
                        return Vec::new();
                    }
                    let mut found = Outcome::default();
                    evaluate(data, &compiled, customer, entries, &mut found);
                    if let Condition::Inactivity { for_seconds } = rule.rule.condition {
                        found.timers = entries
                            .iter()
                            .map(|e| {
                                timer(
                                    rule,
                                    customer,
                                    &[*e],
                                    e.at_us + for_seconds * 1_000_000,
                                    Waits::LatestPerCustomer,
                                )
                            })
                            .collect();
                    }
                    let expired = found
                        .timers
                        .iter()
                        .filter(|t| t.deadline_us <= to_us)
                        .filter_map(|t| expire(data, rule, 0, customer, t));
                    let mut met: Vec<Trigger> = found.triggers.into_iter().chain(expired).collect();
                    met.sort_by_key(|t| (t.alert.occurred_at, t.alert.anchor_seq));
                    // As the live engine settles them: one alert per anchor, and none while
                    // the cooldown after the last one runs.
                    let (mut anchors, mut last) = (HashSet::new(), None::<i64>);
                    met.retain(|t| {
                        let at = t.alert.occurred_at.timestamp_micros();
                        let cooling = cooldown_us > 0 && last.is_some_and(|l| at - l < cooldown_us);
                        if cooling || !anchors.insert(t.alert.anchor_seq) {
                            return false;
                        }
                        last = Some(at);
                        true
                    });
                    met
                })
                .collect();
            let goal = goal.map(|goal| {
                let goal_id = data.name_id(goal.event.trim()).unwrap_or(crate::index::NO_NAME);
                let within_us = goal.within_seconds.saturating_mul(1_000_000);
                let judged = raised.iter().filter_map(|t| {
                    let at = t.alert.occurred_at.timestamp_micros();
                    (at.saturating_add(within_us) <= to_us).then_some((t, at))
                });
                let mut times = Vec::new();
                let mut alerts = 0u64;
                for (trigger, at) in judged {
                    alerts += 1;
                    let events = data.customer(&trigger.alert.customer_id).map_or(&[][..], |c| &c.events[..]);
                    times.extend(crate::outcomes::time_to_goal(events, goal_id, at, within_us));
                }
                let reached = times.len() as u64;
                GroupOutcome {
                    alerts,
                    reached,
                    rate: (alerts > 0).then(|| reached as f64 / alerts as f64),
                    median_seconds_to_goal: crate::analytics::median_seconds_unsorted(&mut times),
                }
            });
            (raised, goal)
        })
        .await?;
    Ok(summarise(rule.id, from, to, raised, goal))
}

fn summarise(
    rule_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut raised: Vec<Trigger>,
    goal: Option<GroupOutcome>,
) -> BacktestResult {
    let day_of = |at: DateTime<Utc>| at.duration_trunc(Duration::days(1)).unwrap_or(at);
    let mut per_day: HashMap<DateTime<Utc>, u64> = HashMap::new();
    for trigger in &raised {
        *per_day.entry(day_of(trigger.alert.occurred_at)).or_default() += 1;
    }
    let mut days = Vec::new();
    let mut day = day_of(from);
    while day <= to {
        days.push(BacktestDay { day, alerts: per_day.get(&day).copied().unwrap_or(0) });
        day += Duration::days(1);
    }
    let customers = raised.iter().map(|t| t.alert.customer_id.as_str()).collect::<HashSet<_>>().len() as u64;
    raised
        .sort_by(|a, b| (b.alert.occurred_at, &b.alert.customer_id).cmp(&(a.alert.occurred_at, &a.alert.customer_id)));
    let alerts = raised.len() as u64;
    let sample = raised
        .into_iter()
        .take(BACKTEST_SAMPLE)
        .map(|t| BacktestAlert {
            customer_id: t.alert.customer_id,
            occurred_at: t.alert.occurred_at,
            message: t.alert.message,
            triggering: t.alert.triggering,
        })
        .collect();
    BacktestResult { rule_id, from, to, alerts, customers, per_day: days, sample, goal }
}
