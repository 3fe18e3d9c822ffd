//! Analytics: the questions the journey map, funnels and customer pages ask of the store.
//! Each question is a query in `queries/analytics/` plus, where SQL would be contorted, a
//! small tested Rust step (see [`funnel`]).

pub mod channels;
pub mod funnel;
pub mod paths;
pub mod stages;

use std::{collections::HashMap, sync::Arc};

use rayon::prelude::*;

use chrono::{DateTime, Duration, Utc};
use duckdb::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::index::{channel::CHANNEL_COLUMN, CustomerEvents, Entry, EventIndex, IndexData, IndexError};
use crate::{
    journeys::Journey,
    store::{sql, JsonText, Store, StoreError},
};
use channels::ChannelFilter;
use funnel::{Classifier, CustomerProgress, FunnelEvent, FunnelResult, FunnelSpec, FunnelTally, OrderMode, StepEvent};
use stages::{Position, StageClassifier, StageOccupancy, SESSION_GAP_US};

/// Longest conversion window a funnel may have.
pub const MAX_WINDOW: Duration = Duration::days(90);
/// Most steps a funnel may have.
pub const MAX_STEPS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The question was asked wrongly; the message names the parameter and the fix.
    #[error("{0}")]
    BadQuery(String),
    /// Too many of something expensive at once; the message says what and how to wait.
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

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
}

/// The period of a funnel's conversion trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrendPeriod {
    #[default]
    Day,
    Week,
}

impl TrendPeriod {
    /// Length and alignment: days start at midnight UTC, weeks on Monday (1970-01-05).
    fn micros_and_origin(self) -> (i64, i64) {
        const DAY: i64 = 86_400_000_000;
        match self {
            TrendPeriod::Day => (DAY, 0),
            TrendPeriod::Week => (7 * DAY, 4 * DAY),
        }
    }
}

/// `name` or `name[key=value;key=value]`.
fn parse_step_event(text: &str) -> Result<StepEvent, AnalyticsError> {
    StepEvent::parse(text).map_err(AnalyticsError::BadQuery)
}

/// Property names go into a JSON path; keep them to plain identifiers.
fn property_name(name: Option<&String>, parameter: &str) -> Result<Option<String>, AnalyticsError> {
    match name.map(|n| n.trim()).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => funnel::check_property_name(n, parameter).map(Some).map_err(AnalyticsError::BadQuery),
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
        // `$channel` splits by the customers' channel (first touch), not an event property.
        spec.breakdown_property = match self.breakdown.as_deref().map(str::trim) {
            Some(CHANNEL_COLUMN) => Some(CHANNEL_COLUMN.to_string()),
            _ => property_name(self.breakdown.as_ref(), "breakdown")?,
        };
        spec.hold_property = property_name(self.hold.as_ref(), "hold")?;
        spec.channel = self.channel.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string);
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
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - Duration::days(30));
    if from >= to {
        return Err(bad(format!("from ({from}) must be before to ({to})")));
    }
    Ok(FunnelSpec {
        steps,
        window_us: window * 1_000_000,
        from_us: from.timestamp_micros(),
        to_us: to.timestamp_micros(),
        mode,
        exclusions: Vec::new(),
        hold_property: None,
        breakdown_property: None,
        channel: None,
    })
}

/// Answers analytics questions from the event index, with property values and timelines
/// from the store's read connections.
#[derive(Clone)]
pub struct Analytics {
    store: Store,
    index: EventIndex,
    /// The longest gap between two events of one session.
    session_gap_us: i64,
}

/// Customers per parallel task: small enough to balance two cores, large enough that a task
/// outweighs its scheduling.
const CHUNK: usize = 4096;

impl Analytics {
    pub fn new(store: Store, index: EventIndex, session_gap_us: i64) -> Self {
        Analytics { store, index, session_gap_us }
    }

    /// Counts a funnel, with its conversion trend by `period` and, if the spec asks for
    /// one, its breakdown into the `top` values.
    pub async fn funnel(
        &self,
        spec: FunnelSpec,
        period: TrendPeriod,
        top: usize,
    ) -> Result<FunnelResult, AnalyticsError> {
        self.materialise(&spec).await?;
        Ok(self
            .index
            .read(move |data| {
                let all_events = spec.mode == OrderMode::Strict;
                let by_value = spec.breakdown_property.is_some();
                let period = Some(period.micros_and_origin());
                let values = spec.breakdown_property.as_deref().and_then(|p| data.property(p));
                let mut names: Vec<String> = values.map_or(Vec::new(), |c| c.dictionary().to_vec());
                // By channel: each customer's first touch, direct (no touch) named after the rest.
                let by_channel = spec.breakdown_property.as_deref() == Some(CHANNEL_COLUMN);
                let direct = names.len() as u32;
                if by_channel {
                    names.push(crate::index::channel::DIRECT.to_string());
                }
                let tally = scan_funnel(
                    data,
                    &spec,
                    all_events,
                    || FunnelTally::new(&spec, period, by_value),
                    |tally, customer, progress| match (by_channel, values) {
                        (true, Some(column)) => {
                            let touch = channels::first_touch(&customer.events, column);
                            let breakdown = Some(if touch == crate::index::columns::NONE { direct } else { touch });
                            tally.add(&CustomerProgress { breakdown, ..progress.clone() })
                        }
                        _ => tally.add(progress),
                    },
                    FunnelTally::merge,
                );
                tally.result(&spec, &names, top.clamp(1, 50))
            })
            .await?)
    }

    /// The customers who reached `step` (1-based) but not the next one, a page at a time,
    /// with what each did right after, and those next events counted over all of them.
    pub async fn funnel_dropped(
        &self,
        spec: FunnelSpec,
        step: usize,
        limit: usize,
        offset: usize,
    ) -> Result<DroppedPage, AnalyticsError> {
        if step == 0 || step >= spec.steps.len() {
            return Err(AnalyticsError::BadQuery(format!(
                "step={step} has no next step to drop before; use 1 to {}",
                spec.steps.len() - 1
            )));
        }
        self.materialise(&spec).await?;
        let mut dropped: Vec<(Arc<str>, Option<String>)> = self
            .index
            .read(move |data| {
                let found: Vec<(Arc<str>, Option<u32>)> = scan_funnel(
                    data,
                    &spec,
                    true,
                    Vec::new,
                    |found, customer, p| {
                        if p.reached == step {
                            found.push((customer.id.clone(), p.next_event));
                        }
                    },
                    Vec::extend,
                );
                found.into_iter().map(|(id, next)| (id, next.map(|n| data.name(n).to_string()))).collect()
            })
            .await?;
        // A stable page order, whatever order the parallel scan found them in.
        dropped.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut next: HashMap<&str, u64> = HashMap::new();
        for (_, event) in &dropped {
            *next.entry(event.as_deref().unwrap_or("(nothing)")).or_default() += 1;
        }
        let mut next: Vec<NextEvent> =
            next.into_iter().map(|(event, customers)| NextEvent { event: event.to_string(), customers }).collect();
        next.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.event.cmp(&b.event)));
        let customers = dropped
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(id, next_event)| DroppedCustomer { customer_id: id.to_string(), next_event: next_event.clone() })
            .collect();
        Ok(DroppedPage { step, total: dropped.len() as u64, offset, customers, next_events: next })
    }

    /// Where customers leave the journey: for each stage transition, the customers with an
    /// event of the stage in the range, how many of them reached the next stage within the
    /// window after it, and how long those who did not stayed before their last event.
    /// `spec` gives the window and range; its steps are the journey's stages.
    pub async fn journey_dropoffs(&self, journey: &Journey, spec: FunnelSpec) -> Result<Vec<Dropoff>, AnalyticsError> {
        let mut conditions = journey.condition_properties();
        conditions.extend(spec.channel.as_ref().map(|_| CHANNEL_COLUMN.to_string()));
        if !conditions.is_empty() {
            self.index.materialise(&self.store, conditions).await?;
        }
        let transitions: Vec<FunnelSpec> = journey
            .stages
            .windows(2)
            .map(|pair| FunnelSpec {
                steps: vec![pair[0].matchers(), pair[1].matchers()],
                mode: OrderMode::Sequential,
                ..spec.clone()
            })
            .collect();
        let per_transition = self
            .index
            .read(move |data| {
                // Per transition: customers who reached its first stage, and how long those
                // who went no further stayed.
                transitions
                    .iter()
                    .map(|t| {
                        scan_funnel(
                            data,
                            t,
                            true,
                            || (0u64, Vec::new()),
                            |(reached, stayed), _, p| {
                                *reached += 1;
                                if p.reached == 1 {
                                    stayed.push(p.last_seen_us.max(0));
                                }
                            },
                            |a, b| {
                                a.0 += b.0;
                                a.1.extend(b.1);
                            },
                        )
                    })
                    .collect::<Vec<(u64, Vec<i64>)>>()
            })
            .await?;
        Ok(journey
            .stages
            .windows(2)
            .zip(per_transition)
            .map(|(pair, (reached, mut stayed))| {
                stayed.sort_unstable();
                let left = stayed.len() as u64;
                Dropoff {
                    from_stage: pair[0].name.clone(),
                    to_stage: pair[1].name.clone(),
                    reached,
                    left,
                    left_share: if reached == 0 { 0.0 } else { left as f64 / reached as f64 },
                    median_seconds_before_leaving: median_seconds(&stayed),
                    average_seconds_before_leaving: (!stayed.is_empty())
                        .then(|| stayed.iter().sum::<i64>() as f64 / stayed.len() as f64 / 1e6),
                }
            })
            .collect())
    }

    /// Paths after (or before) an anchor event.
    pub async fn paths(&self, mut spec: paths::PathSpec) -> Result<paths::PathResult, AnalyticsError> {
        spec.session_gap_us = self.session_gap_us;
        Ok(self
            .index
            .read(move |data| {
                let Some(anchor) = data.name_id(&spec.anchor) else {
                    return paths::summarise(&spec, &[], |_| "");
                };
                // After the anchor nothing before the range matters; before it, nothing after.
                let (from, to) = match spec.direction {
                    paths::Direction::After => (spec.from_us, i64::MAX),
                    paths::Direction::Before => (i64::MIN, spec.to_us),
                };
                let found: Vec<Vec<u32>> = each_customer(data, |customer, named| {
                    named.extend(in_span(&customer.events, from, to).iter().filter(|e| e.is_named()));
                    paths::customer_path(&spec, anchor, named)
                });
                paths::summarise(&spec, &found, |id| data.name(id))
            })
            .await?)
    }

    /// Materialises the properties a funnel reads, if it reads any.
    async fn materialise(&self, spec: &FunnelSpec) -> Result<(), AnalyticsError> {
        let properties = spec.properties();
        if !properties.is_empty() {
            self.index.materialise(&self.store, properties).await?;
        }
        Ok(())
    }
}

/// A customer's events from `from_us` to `to_us`, both included.
fn in_span(events: &[Entry], from_us: i64, to_us: i64) -> &[Entry] {
    let start = events.partition_point(|e| e.at_us < from_us);
    let end = events.partition_point(|e| e.at_us <= to_us);
    &events[start..end.max(start)]
}

/// Runs `visit` over every customer of the index on all cores, each call with an emptied
/// scratch buffer (reused within a task), and collects what it finds.
fn each_customer<T, V>(data: &IndexData, visit: V) -> Vec<T>
where
    T: Send,
    V: Fn(&CustomerEvents, &mut Vec<Entry>) -> Option<T> + Sync,
{
    data.customers()
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let mut scratch: Vec<Entry> = Vec::new();
            let mut found = Vec::new();
            for customer in chunk {
                scratch.clear();
                found.extend(visit(customer, &mut scratch));
            }
            found
        })
        .collect()
}

/// Runs the funnel over every customer of the index on all cores: each task folds its
/// customers' progress into a fresh `init()` with `add`, and the tasks' results are merged.
fn scan_funnel<A, I, F, M>(data: &IndexData, spec: &FunnelSpec, all_events: bool, init: I, add: F, merge: M) -> A
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &CustomerEvents, &CustomerProgress) + Sync,
    M: Fn(&mut A, A) + Sync + Send,
{
    let classifier =
        Classifier::new(spec, data.names_len(), |name| data.name_id(name), |property| data.property(property));
    let (from, to) = (spec.from_us, spec.to_us + spec.window_us);
    let channel = ChannelFilter::new(data, spec.channel.as_deref());
    data.customers()
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut events: Vec<FunnelEvent> = Vec::new();
            let mut acc = init();
            for customer in chunk.iter().filter(|c| channel.admits(c)) {
                events.clear();
                for e in in_span(&customer.events, from, to) {
                    if e.is_named() && (all_events || classifier.is_relevant(e.name())) {
                        events.push(classifier.classify(e.at_us, e.seq(), e.name()));
                    }
                }
                if events.iter().any(|e| e.steps != 0) {
                    let progress = funnel::progress(spec, &events);
                    if progress.reached > 0 {
                        add(&mut acc, customer, &progress);
                    }
                }
            }
            acc
        })
        .reduce(&init, |mut a, b| {
            merge(&mut a, b);
            a
        })
}

/// The median of durations in µs, in seconds, without sorting them all (reorders them).
pub(crate) fn median_seconds_unsorted(us: &mut [i64]) -> Option<f64> {
    let n = us.len();
    if n == 0 {
        return None;
    }
    let (below, &mut upper, _) = us.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return Some(upper as f64 / 1e6);
    }
    let lower = below.iter().copied().max().unwrap_or(upper);
    Some((lower as f64 + upper as f64) / 2e6)
}

/// The median of sorted durations in µs, in seconds.
pub(crate) fn median_seconds(sorted_us: &[i64]) -> Option<f64> {
    match sorted_us.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted_us[n / 2] as f64 / 1e6),
        n => Some((sorted_us[n / 2 - 1] as f64 + sorted_us[n / 2] as f64) / 2e6),
    }
}

/// One customer who dropped out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedCustomer {
    pub customer_id: String,
    pub next_event: Option<String>,
}

/// How many dropped customers did this next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextEvent {
    pub event: String,
    pub customers: u64,
}

/// A page of the customers who dropped after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedPage {
    pub step: usize,
    pub total: u64,
    pub offset: usize,
    pub customers: Vec<DroppedCustomer>,
    pub next_events: Vec<NextEvent>,
}

/// Leaving the journey between two stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dropoff {
    pub from_stage: String,
    pub to_stage: String,
    pub reached: u64,
    pub left: u64,
    pub left_share: f64,
    pub median_seconds_before_leaving: Option<f64>,
    pub average_seconds_before_leaving: Option<f64>,
}

/// Longest session look-back when finding where active sessions are.
const SESSION_LOOKBACK: Duration = Duration::hours(24);

/// One event on a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub seq: i64,
    pub kind: String,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    pub stage: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// Properties (traits for identify and group).
    pub properties: Value,
}

/// One session of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineSession {
    pub number: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub events: Vec<TimelineEvent>,
}

/// A customer's whole history across stitched identities, oldest session first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub customer_id: String,
    pub identities: Vec<String>,
    pub sessions: Vec<TimelineSession>,
}

fn time_of(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Which sessions count as active: those with an event in the last `minutes`, of customers
/// whose first touch came through `channel` (every customer when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Active {
    pub minutes: i64,
    pub channel: Option<String>,
}

impl Active {
    /// Active in the last `minutes`, any channel.
    pub fn within(minutes: i64) -> Self {
        Active { minutes, channel: None }
    }
}

impl Analytics {
    /// The channels that brought customers so far (see [`channels`]), by name, `direct`
    /// included.
    pub async fn channels(&self) -> Result<Vec<String>, AnalyticsError> {
        self.index.materialise(&self.store, vec![CHANNEL_COLUMN.to_string()]).await?;
        Ok(self.index.read(channels::seen).await?)
    }

    /// Sessions active in the last `minutes`, counted by the stage they are in now.
    pub async fn active_stages(
        &self,
        journey: Journey,
        active: Active,
        now: DateTime<Utc>,
    ) -> Result<Vec<StageOccupancy>, AnalyticsError> {
        let positions = self.active_positions(&journey, active, now, |_, p| Some(p)).await?;
        Ok(stages::occupancy(&journey, &positions, now.timestamp_micros()))
    }

    /// The customers whose session active in the last `minutes` is in stage `stage` now,
    /// with the seconds they have been there, longest first.
    pub async fn stage_customers(
        &self,
        journey: Journey,
        stage: usize,
        active: Active,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, f64)>, AnalyticsError> {
        let now_us = now.timestamp_micros();
        let mut found = self
            .active_positions(&journey, active, now, move |customer, p| {
                (p.stage == stage).then(|| (customer.id.to_string(), (now_us - p.since_us).max(0) as f64 / 1e6))
            })
            .await?;
        found.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(found)
    }

    /// `keep` applied to where each session active in the last `minutes` is now.
    async fn active_positions<T: Send + 'static>(
        &self,
        journey: &Journey,
        Active { minutes, channel }: Active,
        now: DateTime<Utc>,
        keep: impl Fn(&CustomerEvents, Position) -> Option<T> + Send + Sync + 'static,
    ) -> Result<Vec<T>, AnalyticsError> {
        if !(1..=24 * 60).contains(&minutes) {
            return Err(AnalyticsError::BadQuery(format!("minutes={minutes} is out of range; use 1 to 1440")));
        }
        let active_since = (now - Duration::minutes(minutes)).timestamp_micros();
        let lookback = active_since - SESSION_LOOKBACK.num_microseconds().unwrap_or(0);
        let now_us = now.timestamp_micros();
        let gap_us = self.session_gap_us;
        let mut conditions = journey.condition_properties();
        conditions.extend(channel.as_ref().map(|_| CHANNEL_COLUMN.to_string()));
        if !conditions.is_empty() {
            self.index.materialise(&self.store, conditions).await?;
        }
        let journey = journey.clone();
        Ok(self
            .index
            .read(move |data| {
                let names: Vec<&str> = (0..data.names_len() as u32).map(|id| data.name(id)).collect();
                let classifier = StageClassifier::new(&journey, &names, |key| data.property(key));
                let stage = |e: &Entry| classifier.stage(e);
                let channel = ChannelFilter::new(data, channel.as_deref());
                each_customer(data, |customer, named| {
                    // Most customers were last seen long ago: one comparison each.
                    if customer.events.last().is_none_or(|e| e.at_us < active_since) || !channel.admits(customer) {
                        return None;
                    }
                    let recent = in_span(&customer.events, lookback, i64::MAX);
                    named.extend(recent.iter().filter(|e| e.is_named() && e.at_us <= now_us));
                    keep(customer, stages::current_position(stage, named, active_since, gap_us)?)
                })
            })
            .await?)
    }

    /// The whole timeline of the customer known by `id` (any of their identities).
    pub async fn customer_timeline(&self, id: &str, journey: Journey) -> Result<Timeline, AnalyticsError> {
        let known = self
            .index
            .read({
                let id = id.to_string();
                move |data| data.customer(&id).map(|c| (c.id.to_string(), c.events.iter().map(|e| e.seq()).collect()))
            })
            .await?;
        let (customer_id, mut seqs): (String, Vec<i64>) = match known {
            Some(found) => found,
            None => (self.store.resolve_customer(id).await?, Vec::new()),
        };
        seqs.sort_unstable();
        let identities = self.store.customer_ids(&customer_id).await?;
        let mut events = self
            .store
            .read({
                let customer_id = customer_id.clone();
                let identities = serde_json::to_string(&identities).unwrap_or_else(|_| "[]".into());
                move |conn| timeline_events(conn, &customer_id, &identities, &seqs, MAX_TIMELINE_STRETCHES)
            })
            .await?;
        events.sort_by_key(|e| (e.at, e.seq));
        let mut sessions: Vec<TimelineSession> = Vec::new();
        for mut event in events {
            event.stage = event
                .name
                .as_deref()
                .and_then(|n| journey.stage_of_event(n, &event.properties))
                .map(|i| journey.stages[i].name.clone());
            match sessions.last_mut() {
                Some(session) if (event.at - session.ended_at).num_microseconds() <= Some(self.session_gap_us) => {
                    session.ended_at = event.at;
                    session.events.push(event);
                }
                _ => sessions.push(TimelineSession {
                    number: sessions.len() as i64 + 1,
                    started_at: event.at,
                    ended_at: event.at,
                    events: vec![event],
                }),
            }
        }
        Ok(Timeline { customer_id, identities, sessions })
    }
}

/// DuckDB's rows per row group: sequence numbers this close share one or two row groups.
const ROW_GROUP_ROWS: i64 = 122_880;
/// Past this many stretches, one scan of the table beats a lookup per stretch.
const MAX_TIMELINE_STRETCHES: usize = 32;

/// Sorted sequence numbers split into stretches that each span less than a row group.
fn seq_stretches(seqs: &[i64]) -> Vec<&[i64]> {
    let mut stretches = Vec::new();
    let mut start = 0;
    for i in 1..=seqs.len() {
        if i == seqs.len() || seqs[i] - seqs[start] >= ROW_GROUP_ROWS {
            stretches.push(&seqs[start..i]);
            start = i;
        }
    }
    stretches
}

/// A customer's events, in no particular order: by sequence number a stretch at a time, or
/// with one scan of the table when there are more than `max_stretches` stretches.
fn timeline_events(
    conn: &duckdb::Connection,
    customer_id: &str,
    identities_json: &str,
    seqs: &[i64],
    max_stretches: usize,
) -> Result<Vec<TimelineEvent>, StoreError> {
    let stretches = seq_stretches(seqs);
    let mut events = Vec::with_capacity(seqs.len());
    if stretches.len() <= max_stretches {
        let mut stmt = conn.prepare(sql::ANALYTICS_EVENTS_BY_SEQ)?;
        for stretch in stretches {
            let (first, last) = (stretch[0], stretch[stretch.len() - 1]);
            let list = serde_json::to_string(stretch).unwrap_or_else(|_| "[]".into());
            let rows = stmt.query_map(params![first, last, list], timeline_event)?;
            events.extend(rows.collect::<Result<Vec<_>, _>>()?);
        }
    } else {
        let mut stmt = conn.prepare(sql::ANALYTICS_CUSTOMER_TIMELINE)?;
        let rows = stmt.query_map(params![customer_id, identities_json], timeline_event)?;
        events.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(events)
}

/// A row of customer_timeline.sql or events_by_seq.sql.
fn timeline_event(row: &duckdb::Row<'_>) -> duckdb::Result<TimelineEvent> {
    let json = |i: usize| -> duckdb::Result<Option<JsonText>> {
        Ok(row.get::<_, Option<String>>(i)?.and_then(|t| JsonText::parse(t).ok()))
    };
    let kind: String = row.get(1)?;
    let properties = if kind == "identify" || kind == "group" { json(7)? } else { json(6)? };
    Ok(TimelineEvent {
        seq: row.get(0)?,
        name: row.get(2)?,
        anonymous_id: row.get(3)?,
        user_id: row.get(4)?,
        at: time_of(row.get(5)?),
        stage: None,
        properties: crate::store::value_of(&properties),
        kind,
    })
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
}

impl PathQuery {
    pub fn to_spec(&self, now: DateTime<Utc>) -> Result<paths::PathSpec, AnalyticsError> {
        let bad = |m: String| AnalyticsError::BadQuery(m);
        let (anchor, direction) = match (&self.start, &self.end) {
            (Some(start), None) => (start.clone(), paths::Direction::After),
            (None, Some(end)) => (end.clone(), paths::Direction::Before),
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
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(bad(format!("from ({from}) must be before to ({to})")));
        }
        Ok(paths::PathSpec {
            anchor,
            direction,
            depth,
            top,
            from_us: from.timestamp_micros(),
            to_us: to.timestamp_micros(),
            session_gap_us: SESSION_GAP_US,
        })
    }
}

#[cfg(test)]
mod median_tests {
    use super::*;

    #[test]
    fn the_median_without_sorting_equals_the_median_of_the_sorted_list() {
        let mut odd = vec![5_000_000, 1_000_000, 3_000_000];
        assert_eq!(median_seconds_unsorted(&mut odd), Some(3.0));
        let mut even = vec![4_000_000, 1_000_000, 2_000_000, 10_000_000];
        assert_eq!(median_seconds_unsorted(&mut even), Some(3.0));
        assert_eq!(median_seconds_unsorted(&mut []), None);
    }

    #[tokio::test]
    async fn a_timeline_by_sequence_number_equals_the_one_from_a_table_scan() {
        use crate::store::{NewEvent, WriterConfig};
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let at = |minute: i64| chrono::DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap();
        let event = |id: &str, anonymous: Option<&str>, user: Option<&str>, minute: i64| NewEvent {
            message_id: id.into(),
            source_id: "s".into(),
            kind: "track".into(),
            name: Some(format!("event {id}")),
            anonymous_id: anonymous.map(str::to_string),
            user_id: user.map(str::to_string),
            timestamp: at(minute),
            original_timestamp: None,
            sent_at: None,
            received_at: at(minute),
            properties: None,
            traits: None,
            context: None,
        };
        store
            .write(
                vec![
                    event("1", Some("anon"), None, 0),
                    event("2", None, Some("zed"), 1),
                    event("3", Some("anon"), Some("ann"), 2),
                    event("4", None, Some("ann"), 3),
                ],
                vec![],
            )
            .await
            .unwrap();
        let (first, last) = store
            .read(|conn| {
                let identities = r#"["ann","anon"]"#;
                // The store numbers events from 1: ann's are 1, 3 and 4.
                let by_seq = timeline_events(conn, "ann", identities, &[1, 3, 4], MAX_TIMELINE_STRETCHES)?;
                let scanned = timeline_events(conn, "ann", identities, &[1, 3, 4], 0)?;
                Ok((by_seq, scanned))
            })
            .await
            .unwrap();
        let seqs = |mut events: Vec<TimelineEvent>| {
            events.sort_by_key(|e| e.seq);
            events.into_iter().map(|e| (e.seq, e.name.unwrap_or_default())).collect::<Vec<_>>()
        };
        let expected = vec![(1, "event 1".to_string()), (3, "event 3".to_string()), (4, "event 4".to_string())];
        assert_eq!(seqs(first), expected);
        assert_eq!(seqs(last), expected);
    }

    #[test]
    fn sequence_numbers_split_into_stretches_shorter_than_a_row_group() {
        let (r, far) = (ROW_GROUP_ROWS, 10 * ROW_GROUP_ROWS);
        // 1 and r are less than a row group apart; r + 1 is a whole one after 1.
        let seqs = [1, 5, r, r + 1, r + 2, far];
        let stretches = seq_stretches(&seqs);
        assert_eq!(stretches, vec![&[1, 5, r][..], &[r + 1, r + 2][..], &[far][..]]);
        assert!(seq_stretches(&[]).is_empty());
    }
}
