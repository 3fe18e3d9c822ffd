//! The rule engine: evaluates the enabled rules for every customer an event arrives for, as
//! batches commit, fires the timers of rules that wait for something not to happen, and
//! measures the aggregate rules.
//!
//! Per-customer state is the event index (`index/`): each customer's events in
//! time order, so late and out-of-order events sit where they happened. The engine itself
//! keeps only the pending timers and the cooldowns; both are rebuilt from the index and the
//! alerts table at start-up, so a restart gives the same pending timers. Timers fire on the
//! engine's clock (the store's [`crate::clock::Clock`]: the wall clock in production, a manual
//! one in tests), a watermark `LATENESS` behind it so that events a few seconds late still
//! count.

pub mod aggregates;
pub mod backtest;
pub mod conditions;
mod timers;

pub use app::format::span;
use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use app::types::StepEvent;

use crate::{
    alerts::{anchor_key, keep_newest, AlertEvent, Alerts, AnchorKey, NewAlert, MAX_REMEMBERED_ANCHORS},
    hashed_key::hashed_key,
    index::{stage::StageClassifier, Column, CustomerEvents, Entry, EventIndex, IndexData},
    journeys::{Journey, Journeys},
    memory::hash_table_bytes,
    rules::{Condition, Rule, Rules},
    store::{CommittedBatch, Store},
    telemetry::Traced,
};
use conditions::{absent, bursts_around, off_path, sequences, Pattern};
use timers::{Timer, TimerQueue, Waits};

/// How far behind the wall clock the watermark runs: a timer fires this long after its
/// deadline, so that events arriving a little late are still seen.
pub const LATENESS: Duration = Duration::from_secs(5);
/// How often the engine looks at the clock for due timers and aggregate rules.
const TICK: Duration = Duration::from_millis(250);
/// Conditions met longer ago than this (imported history, a long outage) raise nothing.
const STALE_US: i64 = 24 * 3_600 * 1_000_000;
/// At start-up, events this recent are evaluated again, in case the process stopped between
/// committing them and storing their alerts (an alert is never stored twice).
const REPLAY_US: i64 = 10 * 60 * 1_000_000;
/// Cooldowns and anchors are pruned every minute of the engine's clock.
const PRUNE_EVERY_US: i64 = 60 * 1_000_000;
/// Aggregate rules are measured every two seconds of the engine's clock (a measure scans every
/// customer's events: not on every turn).
const MEASURE_EVERY_US: i64 = 2 * 1_000_000;
/// The customer's latest events kept with an alert as context.
const CONTEXT_EVENTS: usize = 10;

/// How far the engine has got, for the status endpoint and the benchmarks.
#[derive(Debug, Default)]
pub struct LiveStatus {
    /// The newest sequence number whose batch the rules have been evaluated for.
    pub evaluated_seq: AtomicI64,
    pub pending_timers: AtomicUsize,
    pub active_rules: AtomicUsize,
    pub alerts_raised: AtomicUsize,
    /// The engine's own memory (pending waits, cooldowns, anchors alerted), estimated from
    /// capacities every minute.
    pub memory_bytes: AtomicUsize,
    /// Engine turns completed: each looked at the clock, fired the timers due and measured the
    /// aggregate rules if due. A caller that moved the clock waits for two more turns to know
    /// that whatever the new time makes due has been raised.
    pub turns: AtomicU64,
}

/// Hands committed batches to the engine; called after the event index's feed.
pub struct LiveFeed {
    sender: mpsc::UnboundedSender<Arc<CommittedBatch>>,
}

impl LiveFeed {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Arc<CommittedBatch>>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (LiveFeed { sender }, receiver)
    }

    pub fn send(&self, batch: &Arc<CommittedBatch>) {
        let _ = self.sender.send(batch.clone());
    }
}

/// What the engine reads and writes.
#[derive(Clone)]
pub struct Engine {
    pub index: EventIndex,
    pub store: Store,
    pub rules: Arc<Rules>,
    pub journeys: Arc<Journeys>,
    pub alerts: Alerts,
    /// How far the timers' watermark runs behind the wall clock ([`LATENESS`] by default).
    pub lateness: Duration,
    pub status: Arc<LiveStatus>,
    /// Alerts raised per rule, for `/metrics`.
    pub metrics: crate::metrics::AlertMetrics,
}

/// A condition met, before cooldowns.
#[derive(Debug, Clone)]
struct Trigger {
    rule_id: String,
    alert: NewAlert,
}

/// What evaluating some events produced.
#[derive(Debug, Default)]
struct Outcome {
    triggers: Vec<Trigger>,
    timers: Vec<Timer>,
}

/// An enabled rule with what its evaluation needs.
#[derive(Debug, Clone)]
struct Active {
    rule: Rule,
    /// The rule's id, shared by all its pending waits.
    id: Arc<str>,
    patterns: Vec<Vec<StepEvent>>,
    journey: Option<Journey>,
    /// The events that hold the rule's alerts back ([`Rule::suppressed_by`]).
    suppress: Vec<StepEvent>,
}

impl Active {
    fn compile(rule: Rule, journeys: &Journeys) -> Self {
        let parse = |list: &[String]| list.iter().filter_map(|t| StepEvent::parse(t).ok()).collect::<Vec<_>>();
        let one = |text: &String| parse(std::slice::from_ref(text));
        let patterns = match &rule.condition {
            Condition::Sequence { steps, then_absent, .. } => {
                let mut p: Vec<Vec<StepEvent>> = steps.iter().map(one).collect();
                p.push(then_absent.as_ref().map(|a| parse(&a.events)).unwrap_or_default());
                p
            }
            Condition::Count { event, .. } => vec![one(event)],
            Condition::Absence { after, missing, .. } => vec![one(after), parse(missing)],
            Condition::Inactivity { .. } | Condition::OffPath { .. } => Vec::new(),
            Condition::Conversion { from, to, .. } => vec![one(from), one(to)],
            Condition::Volume { event, .. } | Condition::VolumeDip { event, .. } => vec![one(event)],
        };
        let journey = match &rule.condition {
            Condition::OffPath { journey } => journeys.get(journey),
            _ => None,
        };
        let suppress = rule.suppressed_by.as_ref().map(|s| parse(&s.events)).unwrap_or_default();
        Active { id: rule.id.as_str().into(), rule, patterns, journey, suppress }
    }

    /// Properties the rule's patterns (and its journey's stage conditions) read.
    fn properties(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .patterns
            .iter()
            .flatten()
            .chain(&self.suppress)
            .flat_map(|p| p.filters.iter().map(|(k, _)| k.clone()))
            .collect();
        keys.extend(self.journey.iter().flat_map(Journey::condition_properties));
        keys.sort();
        keys.dedup();
        keys
    }
}

impl Engine {
    /// Runs until the store closes (the feed's sender is dropped).
    pub async fn run(self, mut batches: mpsc::UnboundedReceiver<Arc<CommittedBatch>>) {
        let mut state = EngineState::default();
        // The index may still be loading (Wayline answers ingestion meanwhile): the rebuild
        // starts from all of it, and the batches committed meanwhile wait in the feed.
        if let Err(e) = self.index.read(|_| ()).await {
            tracing::error!(error = %e, "the rule engine found no event index");
        }
        if let Err(e) = self.rebuild(&mut state).await {
            tracing::error!(error = %e, "the rule engine could not rebuild its timers");
        }
        // Everything indexed before the rebuild has been evaluated by it.
        self.status.evaluated_seq.fetch_max(self.index.progress().1, Ordering::SeqCst);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Clock times (µs) of the last measure and prune.
        let (mut measured_at, mut pruned_at) = (i64::MIN, self.store.clock().now().timestamp_micros());
        loop {
            tokio::select! {
                batch = batches.recv() => {
                    let Some(first) = batch else { break };
                    let mut all = vec![first];
                    while let Ok(more) = batches.try_recv() {
                        all.push(more);
                    }
                    if let Err(e) = self.on_batches(&mut state, all).await {
                        tracing::error!(error = %e, "the rule engine could not evaluate a batch");
                    }
                }
                _ = tick.tick() => {
                    // Everything below is decided by the engine's clock, not by how often it
                    // turns, so that a test moving a manual clock sees what production sees.
                    let now = self.store.clock().now().timestamp_micros();
                    if let Err(e) = self.fire_due(&mut state).await {
                        tracing::error!(error = %e, "the rule engine could not fire its timers");
                    }
                    if now.saturating_sub(measured_at) >= MEASURE_EVERY_US {
                        if let Err(e) = self.measure_aggregates(&mut state).await {
                            tracing::error!(error = %e, "the rule engine could not measure its aggregate rules");
                        }
                        measured_at = now;
                    }
                    if now - pruned_at >= PRUNE_EVERY_US {
                        self.prune(&mut state);
                        pruned_at = now;
                    }
                    self.status.turns.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        tracing::info!("rule engine stopped");
    }

    /// The enabled rules, compiled, with their properties materialised.
    async fn active_rules(&self) -> anyhow::Result<Arc<Vec<Active>>> {
        let active: Vec<Active> =
            self.rules.list().into_iter().filter(|r| r.enabled).map(|r| Active::compile(r, &self.journeys)).collect();
        let properties: Vec<Column> = active.iter().flat_map(Active::properties).map(Column::Property).collect();
        if !properties.is_empty() {
            self.index.materialise(&self.store, properties).await?;
        }
        Ok(Arc::new(active))
    }

    async fn on_batches(&self, state: &mut EngineState, batches: Vec<Arc<CommittedBatch>>) -> anyhow::Result<()> {
        let newest = batches.iter().filter_map(|b| b.events.last()).map(|e| e.seq).max().unwrap_or(0);
        let traced: Vec<Traced> = batches.iter().flat_map(|b| b.traced.iter().cloned()).collect();
        let evaluating = crate::stage_spans!(traced, "engine.evaluate");
        let result = self.evaluate_batches(state, batches, &traced).await;
        drop(evaluating);
        self.status.evaluated_seq.fetch_max(newest, Ordering::SeqCst);
        self.status.pending_timers.store(state.timers.len(), Ordering::Relaxed);
        result
    }

    async fn evaluate_batches(
        &self,
        state: &mut EngineState,
        batches: Vec<Arc<CommittedBatch>>,
        traced: &[Traced],
    ) -> anyhow::Result<()> {
        let active = self.active_rules().await?;
        self.status.active_rules.store(active.len(), Ordering::Relaxed);
        if active.is_empty() {
            return Ok(());
        }
        let outcome = self
            .index
            .read(move |data| {
                let mut outcome = Outcome::default();
                let mut by_customer: HashMap<&str, (&CustomerEvents, Vec<Entry>)> = HashMap::new();
                for stored in batches.iter().flat_map(|b| &b.events) {
                    let e = &stored.event;
                    let Some(customer) = data.customer_of_event(e.user_id.as_deref(), e.anonymous_id.as_deref()) else {
                        continue;
                    };
                    let at = e.timestamp.timestamp_micros();
                    let position = customer.events.partition_point(|x| (x.at_us, x.seq()) < (at, stored.seq));
                    if let Some(entry) = customer.events.get(position).filter(|x| x.seq() == stored.seq) {
                        by_customer.entry(&customer.id).or_insert_with(|| (customer, Vec::new())).1.push(*entry);
                    }
                }
                let compiled = compile(data, &active, CONTEXT_EVENTS);
                for (customer, entries) in by_customer.values() {
                    evaluate(data, &compiled, customer, entries, &mut outcome);
                }
                outcome
            })
            .await?;
        self.settle(state, outcome, traced).await
    }

    /// Raises triggers that are fresh and out of cooldown; keeps the new timers. `traced`: the
    /// traced requests whose events were evaluated, which the alerts' traces continue.
    async fn settle(&self, state: &mut EngineState, outcome: Outcome, traced: &[Traced]) -> anyhow::Result<()> {
        let now = self.store.clock().now().timestamp_micros();
        for timer in outcome.timers {
            if timer.deadline_us >= now - STALE_US
                && !state.alerted.contains_key(&anchor_key(&timer.rule_id, &timer.customer, timer.anchor_seq))
            {
                state.timers.push(timer);
            }
        }
        let mut raising: Vec<NewAlert> = Vec::new();
        let mut keys: HashSet<u128> = HashSet::new();
        for trigger in outcome.triggers {
            if trigger.alert.occurred_at.timestamp_micros() < now - STALE_US {
                continue;
            }
            let key = rule_customer_key(&trigger.rule_id, &trigger.alert.customer_id);
            let cooldown = self.rules.get(&trigger.rule_id).map_or(0, |r| r.cooldown_seconds) * 1_000_000;
            let cooling = state.last_alert.get(&key).is_some_and(|&last| now - last < cooldown);
            // One alert per rule and customer per round; the cooldown holds back the rest.
            if cooling || (cooldown > 0 && !keys.insert(key)) {
                continue;
            }
            let anchor = anchor_key(&trigger.rule_id, &trigger.alert.customer_id, trigger.alert.anchor_seq);
            state.alerted.insert(anchor, trigger.alert.anchor_seq);
            let mut alert = trigger.alert;
            // Drawn here, once per alert, so that a holdout alert is recorded like any other
            // (and its cooldown holds as for any other) but never acted on.
            let holdout = self.rules.get(&trigger.rule_id).map_or(0, |r| r.holdout_percent);
            alert.holdout = crate::rules::in_holdout(&trigger.rule_id, &alert.customer_id, holdout);
            raising.push(alert);
        }
        for alert in self.alerts.raise_all(raising, traced).await? {
            tracing::info!(rule = %alert.rule_id, customer = %alert.customer_id, id = alert.id, "alert raised");
            self.status.alerts_raised.fetch_add(1, Ordering::Relaxed);
            self.metrics.raised.get_or_create(&crate::metrics::RuleLabel { rule: alert.rule_id.clone() }).inc();
            state.last_alert.insert(rule_customer_key(&alert.rule_id, &alert.customer_id), now);
        }
        Ok(())
    }

    /// Forgets cooldowns that have run out and raised anchors too old to come back, so the
    /// engine's own memory stays bounded.
    fn prune(&self, state: &mut EngineState) {
        let now = self.store.clock().now().timestamp_micros();
        let longest_cooldown = self.rules.list().iter().map(|r| r.cooldown_seconds).max().unwrap_or(0) * 1_000_000;
        state.last_alert.retain(|_, at| now - *at < longest_cooldown);
        if state.alerted.len() > MAX_REMEMBERED_ANCHORS {
            // Halved, the oldest anchors (lowest sequence numbers) first: the alert store's
            // table still refuses those forgotten.
            keep_newest(&mut state.alerted, MAX_REMEMBERED_ANCHORS / 2);
        }
        let entry = size_of::<u128>() + size_of::<i64>();
        let maps =
            hash_table_bytes(state.alerted.capacity(), entry) + hash_table_bytes(state.last_alert.capacity(), entry);
        self.status.memory_bytes.store(maps + state.timers.approximate_bytes(), Ordering::Relaxed);
    }

    /// Fires the timers whose deadline the watermark has passed.
    async fn fire_due(&self, state: &mut EngineState) -> anyhow::Result<()> {
        let watermark = self.store.clock().now().timestamp_micros() - self.lateness.as_micros() as i64;
        let due = state.timers.pop_due(watermark);
        self.status.pending_timers.store(state.timers.len(), Ordering::Relaxed);
        if due.is_empty() {
            return Ok(());
        }
        let active = self.active_rules().await?;
        let outcome = self
            .index
            .read(move |data| {
                let mut outcome = Outcome::default();
                for timer in due {
                    let Some(rule) = active.iter().find(|a| a.id == timer.rule_id) else { continue };
                    let Some(customer) = data.customer(&timer.customer) else { continue };
                    if let Some(trigger) = expire(data, rule, CONTEXT_EVENTS, customer, &timer) {
                        outcome.triggers.push(trigger);
                    }
                }
                outcome
            })
            .await?;
        self.settle(state, outcome, &[]).await
    }

    /// Measures the aggregate rules up to the watermark and raises those that have just
    /// crossed their threshold (an alert on the crossing, not on every measure past it).
    async fn measure_aggregates(&self, state: &mut EngineState) -> anyhow::Result<()> {
        let active = self.active_rules().await?;
        if !active.iter().any(|a| a.rule.condition.is_aggregate()) {
            state.breached.clear();
            return Ok(());
        }
        let watermark = self.store.clock().now().timestamp_micros() - self.lateness.as_micros() as i64;
        let measured: Vec<(String, Option<String>)> = self
            .index
            .read(move |data| {
                let customers: Vec<&[Entry]> = data.customers().iter().map(|c| c.events.as_slice()).collect();
                active
                    .iter()
                    .filter(|a| a.rule.condition.is_aggregate())
                    .filter_map(|a| Some((a.rule.id.clone(), measure(data, a, &customers, watermark)?)))
                    .collect()
            })
            .await?;
        let mut outcome = Outcome::default();
        for (rule_id, breach) in measured {
            let was = state.breached.insert(rule_id.clone(), breach.is_some()).unwrap_or(false);
            let (Some(message), false) = (breach, was) else { continue };
            let Some(rule) = self.rules.get(&rule_id) else { continue };
            outcome.triggers.push(Trigger {
                rule_id: rule_id.clone(),
                alert: NewAlert {
                    rule_id,
                    rule_name: rule.name,
                    customer_id: String::new(),
                    anchor_seq: watermark / 1_000_000,
                    message,
                    triggering: Vec::new(),
                    context: Vec::new(),
                    occurred_at: time(watermark),
                    holdout: false,
                },
            });
        }
        self.settle(state, outcome, &[]).await
    }

    /// Cooldowns from the alerts table; timers and recent conditions from the index.
    async fn rebuild(&self, state: &mut EngineState) -> anyhow::Result<()> {
        let now = self.store.clock().now();
        for (rule, customer, at) in self.alerts.latest_per_rule_customer(now - chrono::Duration::days(90)).await? {
            state.last_alert.insert(rule_customer_key(&rule, &customer), at);
        }
        let raised = self.alerts.anchors_since(now - crate::alerts::REMEMBERED, MAX_REMEMBERED_ANCHORS).await?;
        state.alerted.extend(raised.into_iter().map(|anchor| (anchor.key, anchor.anchor_seq)));
        let active = self.active_rules().await?;
        let now_us = now.timestamp_micros();
        let outcome = self
            .index
            .read(move |data| {
                let mut outcome = Outcome::default();
                let compiled = compile(data, &active, CONTEXT_EVENTS);
                // Every event recent enough to start a wait that is still pending, or to have
                // met a condition in the last minutes, is evaluated again.
                let horizon = active.iter().map(|a| wait_us(&a.rule.condition)).max().unwrap_or(0);
                let from = now_us - STALE_US - horizon;
                for customer in data.customers() {
                    let start = customer.events.partition_point(|e| e.at_us < from);
                    let entries: Vec<Entry> = customer.events[start..].to_vec();
                    if entries.is_empty() {
                        continue;
                    }
                    let mut found = Outcome::default();
                    evaluate(data, &compiled, customer, &entries, &mut found);
                    outcome.timers.extend(found.timers);
                    outcome.triggers.extend(
                        found
                            .triggers
                            .into_iter()
                            .filter(|t| t.alert.occurred_at.timestamp_micros() >= now_us - REPLAY_US),
                    );
                }
                outcome
            })
            .await?;
        tracing::info!(timers = outcome.timers.len(), "rule engine rebuilt its timers");
        self.settle(state, outcome, &[]).await
    }
}

/// The engine's own memory: pending timers, when each rule last alerted on each customer,
/// and which anchors have alerted. Keyed by [`hashed_key`]s, so that a day of alerts on
/// hundreds of thousands of customers holds no copies of their ids.
#[derive(Default)]
struct EngineState {
    timers: TimerQueue,
    /// (rule, customer) → when the rule last alerted on the customer (µs).
    last_alert: HashMap<u128, i64>,
    /// Anchors alerted on → their sequence number (the oldest are forgotten first).
    alerted: HashMap<AnchorKey, i64>,
    /// Whether each aggregate rule was past its threshold when last measured.
    breached: HashMap<String, bool>,
}

/// The key of a rule and a customer, for cooldowns.
fn rule_customer_key(rule_id: &str, customer_id: &str) -> u128 {
    hashed_key(&(rule_id, customer_id))
}

/// How long a condition can wait after its anchor.
fn wait_us(condition: &Condition) -> i64 {
    1_000_000
        * match condition {
            Condition::Sequence { within_seconds, then_absent, .. } => {
                within_seconds + then_absent.as_ref().map_or(0, |a| a.for_seconds)
            }
            Condition::Count { within_seconds, .. } | Condition::Absence { within_seconds, .. } => *within_seconds,
            Condition::Inactivity { for_seconds } => *for_seconds,
            Condition::OffPath { .. }
            | Condition::Conversion { .. }
            | Condition::Volume { .. }
            | Condition::VolumeDip { .. } => 0,
        }
}

/// An aggregate rule measured up to `watermark`: `Some(message)` when past its threshold,
/// `None` when within it or when the sample is too small to judge (a breach is kept then).
fn measure(data: &IndexData, rule: &Active, customers: &[&[Entry]], watermark: i64) -> Option<Option<String>> {
    let pattern = |i: usize| Pattern::in_index(&rule.patterns[i], data);
    let outside = |value: f64, below: Option<f64>, above: Option<f64>| {
        below
            .filter(|b| value < *b)
            .map(|b| format!("below {b}"))
            .or(above.filter(|a| value > *a).map(|a| format!("above {a}")))
    };
    match &rule.rule.condition {
        Condition::Conversion {
            from,
            to,
            within_seconds,
            window_seconds,
            below_percent,
            above_percent,
            min_sample,
        } => {
            let until = watermark - within_seconds * 1_000_000;
            let found = aggregates::conversion(
                customers,
                &pattern(0),
                &pattern(1),
                within_seconds * 1_000_000,
                until - window_seconds * 1_000_000,
                until,
            );
            if found.started < u64::from(*min_sample) {
                return None;
            }
            let percent = found.percent();
            Some(outside(percent, *below_percent, *above_percent).map(|threshold| {
                format!(
                    "{from} → {to} within {}: {percent:.1} % ({} of {}) of the customers who started in the {} before, {threshold} %",
                    span(*within_seconds),
                    found.converted,
                    found.started,
                    span(*window_seconds)
                )
            }))
        }
        Condition::Volume { event, window_seconds, above, below } => {
            let count = aggregates::volume(customers, &pattern(0), watermark - window_seconds * 1_000_000, watermark);
            let as_f64 = |v: &Option<u64>| v.map(|v| v as f64);
            Some(
                outside(count as f64, as_f64(below), as_f64(above))
                    .map(|threshold| format!("{count} × {event} in the last {}, {threshold}", span(*window_seconds))),
            )
        }
        Condition::VolumeDip { event, window_seconds, baseline_windows, drop_percent, min_baseline } => {
            let (current, baseline) = aggregates::volume_against_baseline(
                customers,
                &pattern(0),
                window_seconds * 1_000_000,
                *baseline_windows,
                watermark,
            );
            if baseline < f64::from(*min_baseline) {
                return None;
            }
            let dropped = 100.0 * (1.0 - current as f64 / baseline);
            Some((dropped >= *drop_percent).then(|| {
                format!(
                    "{current} × {event} in the last {}, {dropped:.0} % below the average of the {baseline_windows} before ({baseline:.1})",
                    span(*window_seconds)
                )
            }))
        }
        _ => Some(None),
    }
}

/// A rule resolved against the index once per evaluation round: its patterns, and for
/// off-path rules the journey's stage classifier and expected transitions.
struct Compiled<'a> {
    active: &'a Active,
    /// How many of the customer's latest events an alert keeps as its context.
    context_events: usize,
    patterns: Vec<Pattern<'a>>,
    stages: Option<(StageClassifier<'a>, Vec<(usize, usize)>)>,
}

fn compile<'a>(data: &'a IndexData, active: &'a [Active], context_events: usize) -> Vec<Compiled<'a>> {
    let names: Vec<&str> = (0..data.names_len() as u32).map(|id| data.name(id)).collect();
    active
        .iter()
        .map(|rule| Compiled {
            active: rule,
            context_events,
            patterns: rule.patterns.iter().map(|p| Pattern::in_index(p, data)).collect(),
            stages: rule.journey.as_ref().map(|journey| {
                let index_of = |name: &str| journey.stages.iter().position(|s| s.name == name);
                let expected =
                    journey.expected_path.iter().filter_map(|(a, b)| Some((index_of(a)?, index_of(b)?))).collect();
                (StageClassifier::new(journey, &names, |p| data.property(p)), expected)
            }),
        })
        .collect()
}

/// Evaluates every active rule for `entries`, new events of `customer`.
fn evaluate(
    data: &IndexData,
    compiled: &[Compiled<'_>],
    customer: &CustomerEvents,
    entries: &[Entry],
    out: &mut Outcome,
) {
    let named = named_events(customer);
    let named = &named[..];
    for c in compiled {
        let (rule, patterns) = (c.active, &c.patterns);
        let first_new = out.triggers.len();
        match &rule.rule.condition {
            Condition::Sequence { steps, within_seconds, then_absent } => {
                let steps_patterns = &patterns[..steps.len()];
                let mut seen: HashSet<i64> = HashSet::new();
                for entry in entries.iter().filter(|e| steps_patterns.iter().any(|p| p.matches(e))) {
                    for instance in sequences(named, steps_patterns, within_seconds * 1_000_000, entry.at_us) {
                        let last = instance[instance.len() - 1];
                        if !seen.insert(last.seq()) {
                            continue;
                        }
                        match then_absent {
                            None => out.triggers.push(trigger(
                                data,
                                rule,
                                c.context_events,
                                customer,
                                &instance,
                                last,
                                last.at_us,
                                sequence_message(steps, *within_seconds, None),
                            )),
                            Some(absent) => out.timers.push(timer(
                                rule,
                                customer,
                                &instance,
                                last.at_us + absent.for_seconds * 1_000_000,
                                Waits::PerAnchor,
                            )),
                        }
                    }
                }
            }
            Condition::Count { event, count, within_seconds } => {
                let mut stack = [Entry::new(0, 0, 0, false); conditions::FEW + 1];
                let matching = conditions::matching(named, &patterns[0], &mut stack);
                if matching.len() < (*count as usize).max(1) {
                    continue;
                }
                // The new events that match, gathered as the customer's are (without a branch
                // on each event: in a profile of the backtest, a filter here was its hottest loop).
                let mut new_stack = [Entry::new(0, 0, 0, false); conditions::FEW + 1];
                let arounds = conditions::matching(entries, &patterns[0], &mut new_stack);
                let arounds = arounds.iter().map(|e| e.at_us);
                for burst in bursts_around(&matching, *count as usize, within_seconds * 1_000_000, arounds) {
                    let window = &matching[burst];
                    let last = window[window.len() - 1];
                    let message = format!("{count} × {event} within {}", span(*within_seconds));
                    out.triggers.push(trigger(
                        data,
                        rule,
                        c.context_events,
                        customer,
                        window,
                        last,
                        last.at_us,
                        message,
                    ));
                }
            }
            Condition::Absence { within_seconds, .. } => {
                for entry in entries.iter().filter(|e| patterns[0].matches(e)) {
                    let deadline_us = entry.at_us + within_seconds * 1_000_000;
                    out.timers.push(timer(rule, customer, &[*entry], deadline_us, Waits::PerAnchor));
                }
            }
            Condition::Inactivity { for_seconds } => {
                // One wait per customer, from their latest event (a late event changes nothing).
                if let Some(last) = customer.events.last() {
                    if entries.iter().any(|e| e.seq() == last.seq()) {
                        let deadline_us = last.at_us + for_seconds * 1_000_000;
                        out.timers.push(timer(rule, customer, &[*last], deadline_us, Waits::LatestPerCustomer));
                    }
                }
            }
            // Measured for all customers at once, on a schedule (`measure`).
            Condition::Conversion { .. } | Condition::Volume { .. } | Condition::VolumeDip { .. } => {}
            Condition::OffPath { journey } => {
                let (Some(journey_def), Some((classifier, expected))) = (&rule.journey, &c.stages) else { continue };
                for entry in entries.iter().filter(|e| e.is_named()) {
                    if let Some((from, to)) = off_path(named, entry, |e| classifier.stage(e), expected) {
                        let (from_name, to_name) = (&journey_def.stages[from].name, &journey_def.stages[to].name);
                        let mut message = format!(
                            "moved from {from_name} to {to_name}, which the {journey:?} journey does not expect"
                        );
                        if to > from + 1 {
                            let skipped: Vec<&str> =
                                journey_def.stages[from + 1..to].iter().map(|s| s.name.as_str()).collect();
                            message = format!("{message} (skipped {})", skipped.join(", "));
                        }
                        out.triggers.push(trigger(
                            data,
                            rule,
                            c.context_events,
                            customer,
                            &[*entry],
                            *entry,
                            entry.at_us,
                            message,
                        ));
                    }
                }
            }
        }
        if rule.rule.suppressed_by.is_some() || rule.rule.identified_only {
            let met = out.triggers.split_off(first_new);
            out.triggers.extend(
                met.into_iter().filter(|t| !held_back(data, rule, customer, t.alert.occurred_at.timestamp_micros())),
            );
        }
    }
}

/// A customer's events that have a name, borrowed when all have (most customers: a copy
/// for each was one allocation per customer in a replay of history).
fn named_events(customer: &CustomerEvents) -> std::borrow::Cow<'_, [Entry]> {
    if customer.events.iter().all(|e| e.is_named()) {
        std::borrow::Cow::Borrowed(&customer.events[..])
    } else {
        std::borrow::Cow::Owned(customer.events.iter().filter(|e| e.is_named()).copied().collect())
    }
}

/// Whether an alert met at `occurred_us` is held back: the rule wants identified customers
/// and this one is anonymous, or its suppression holds it (see [`suppressed`]).
fn held_back(data: &IndexData, rule: &Active, customer: &CustomerEvents, occurred_us: i64) -> bool {
    (rule.rule.identified_only && !customer.is_identified()) || suppressed(data, rule, customer, occurred_us)
}

/// Whether the rule's suppression holds back an alert met at `occurred_us`: the customer did
/// one of its events in the time up to then.
fn suppressed(data: &IndexData, rule: &Active, customer: &CustomerEvents, occurred_us: i64) -> bool {
    let Some(suppression) = &rule.rule.suppressed_by else { return false };
    let pattern = Pattern::in_index(&rule.suppress, data);
    let from = customer.events.partition_point(|e| e.at_us < occurred_us - suppression.within_seconds * 1_000_000);
    customer.events[from..].iter().take_while(|e| e.at_us <= occurred_us).any(|e| e.is_named() && pattern.matches(e))
}

/// Whether the wait of `timer` ended without what it waited against; its alert keeps the
/// customer's latest `context_events` (none for a backtest).
fn expire(
    data: &IndexData,
    rule: &Active,
    context_events: usize,
    customer: &CustomerEvents,
    timer: &Timer,
) -> Option<Trigger> {
    let named = named_events(customer);
    let named = &named[..];
    let started_by: Vec<Entry> = timer
        .started_by
        .iter()
        .filter_map(|(at, seq)| {
            let i = customer.events.partition_point(|e| (e.at_us, e.seq()) < (*at, *seq));
            customer.events.get(i).filter(|e| e.seq() == *seq).copied()
        })
        .collect();
    let anchor = *started_by.last()?;
    let message = match &rule.rule.condition {
        Condition::Sequence { steps, within_seconds, then_absent: Some(absent_spec) } => {
            let missing = Pattern::in_index(rule.patterns.last()?, data);
            if !absent(named, &missing, anchor.at_us, timer.deadline_us) {
                return None;
            }
            sequence_message(steps, *within_seconds, Some(absent_spec))
        }
        Condition::Absence { after, missing, within_seconds } => {
            if !absent(named, &Pattern::in_index(&rule.patterns[1], data), anchor.at_us, timer.deadline_us) {
                return None;
            }
            format!("{after}, then no {} within {}", missing.join(" or "), span(*within_seconds))
        }
        Condition::Inactivity { for_seconds } => {
            let active_since = customer.events.iter().any(|e| e.at_us > anchor.at_us && e.at_us <= timer.deadline_us);
            if active_since {
                return None;
            }
            format!("no activity for {} since {}", span(*for_seconds), data.name(anchor.name()))
        }
        _ => return None,
    };
    if held_back(data, rule, customer, timer.deadline_us) {
        return None;
    }
    Some(trigger(data, rule, context_events, customer, &started_by, anchor, timer.deadline_us, message))
}

fn timer(rule: &Active, customer: &CustomerEvents, started_by: &[Entry], deadline_us: i64, waits: Waits) -> Timer {
    let anchor = started_by[started_by.len() - 1];
    Timer {
        deadline_us,
        anchor_seq: anchor.seq(),
        rule_id: rule.id.clone(),
        customer: customer.id.clone(),
        started_by: started_by.iter().map(|e| (e.at_us, e.seq())).collect(),
        waits,
    }
}

/// An alert met by `events` of `customer`, anchored at `anchor`, with the customer's latest
/// `context_events` before it (none for a backtest, which reports no context).
// The arguments are each alert's own facts; a struct for them would only be built here.
#[allow(clippy::too_many_arguments)]
fn trigger(
    data: &IndexData,
    rule: &Active,
    context_events: usize,
    customer: &CustomerEvents,
    events: &[Entry],
    anchor: Entry,
    occurred_us: i64,
    message: String,
) -> Trigger {
    let alert_event = |e: &Entry| AlertEvent {
        seq: e.seq(),
        event: e.is_named().then(|| data.name(e.name()).to_string()),
        at: time(e.at_us),
    };
    let before = customer.events.partition_point(|e| e.at_us <= occurred_us);
    let context = customer.events[before.saturating_sub(context_events)..before].iter().map(alert_event).collect();
    Trigger {
        rule_id: rule.rule.id.clone(),
        alert: NewAlert {
            rule_id: rule.rule.id.clone(),
            rule_name: rule.rule.name.clone(),
            customer_id: customer.id.to_string(),
            anchor_seq: anchor.seq(),
            message,
            triggering: events.iter().map(alert_event).collect(),
            context,
            occurred_at: time(occurred_us),
            holdout: false,
        },
    }
}

fn sequence_message(steps: &[String], within_seconds: i64, absent: Option<&crate::rules::Absent>) -> String {
    let mut message = format!("{} within {}", steps.join(" → "), span(within_seconds));
    if let Some(absent) = absent {
        message = format!("{message}, then no {} for {}", absent.events.join(" or "), span(absent.for_seconds));
    }
    message
}

fn time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}
