//! Analytics: the questions the journey map, funnels and customer pages ask of the store.
//! Each question is a query in `queries/analytics/` plus, where SQL would be contorted, a
//! small tested Rust step (see [`funnel`]).

pub mod cards;
pub mod channels;
pub mod cohorts;
pub mod funnel;
pub mod paths;
pub mod question;
mod scan;
pub mod stages;
mod timeline;

use std::{collections::HashMap, sync::Arc};

use app::types::{
    Direction, Dropoff, DroppedCustomer, DroppedPage, FunnelResult, Journey, NextEvent, OrderMode, PathCustomers,
    PathResult, RetentionResult, StageOccupancy, TrendPeriod, RETENTION_TOP_VALUES,
};
use chrono::{DateTime, Duration, Utc};

use crate::index::{stage::StageClassifier, Column, CustomerEvents, Entry, EventIndex, IndexError};
use crate::store::{sql, Store, StoreError};
use channels::ChannelFilter;
use funnel::{CustomerProgress, FunnelSpec, FunnelTally};
pub(crate) use scan::median_seconds_unsorted;
use scan::{each_customer, fold_customers, in_span, scan_funnel, scan_transitions, Transition};
use stages::Position;

/// How many of the newest events the property pickers sample.
const PROPERTY_KEYS_SAMPLE: i64 = 20_000;

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

/// Answers analytics questions from the event index, with property values and timelines
/// from the store's read connections.
#[derive(Clone)]
pub struct Analytics {
    store: Store,
    index: EventIndex,
    /// The longest gap between two events of one session.
    session_gap_us: i64,
}

impl Analytics {
    /// Analytics over `index`, with sessions split at gaps longer than `session_gap`.
    pub fn new(store: Store, index: EventIndex, session_gap: Duration) -> Self {
        let session_gap_us = session_gap.num_microseconds().unwrap_or(stages::SESSION_GAP_US);
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
            .answer(move |data| {
                let all_events = spec.mode == OrderMode::Strict;
                let by_value = spec.breakdown.is_some();
                let period = Some(period.micros_and_origin());
                let values = spec.breakdown.as_ref().and_then(|c| data.column(c));
                let mut names: Vec<String> = values.map_or(Vec::new(), |c| c.dictionary().to_vec());
                // By channel: each customer's first touch, direct (no touch) named after the rest.
                let by_channel = spec.breakdown == Some(Column::Channel);
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
                        (true, Some(_)) => {
                            let touch = customer.first_touch();
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
    /// with what each did right after, and those next events counted over all of them. Those
    /// whose window is still open at `now_us` (they may yet go on) come after those who
    /// dropped for good, and are marked.
    pub async fn funnel_dropped(
        &self,
        spec: FunnelSpec,
        step: usize,
        limit: usize,
        offset: usize,
        now_us: i64,
    ) -> Result<DroppedPage, AnalyticsError> {
        if step == 0 || step >= spec.steps.len() {
            return Err(AnalyticsError::BadQuery(format!(
                "step={step} has no next step to drop before; use 1 to {}",
                spec.steps.len() - 1
            )));
        }
        self.materialise(&spec).await?;
        let window_us = spec.window_us;
        let mut dropped: Vec<(bool, Arc<str>, Option<String>)> = self
            .index
            .answer(move |data| {
                let found: Vec<(bool, Arc<str>, Option<u32>)> = scan_funnel(
                    data,
                    &spec,
                    true,
                    Vec::new,
                    |found, customer, p| {
                        if p.reached == step {
                            let open = p.started_us.saturating_add(window_us) > now_us;
                            found.push((open, customer.id.clone(), p.next_event));
                        }
                    },
                    Vec::extend,
                );
                found.into_iter().map(|(open, id, next)| (open, id, next.map(|n| data.name(n).to_string()))).collect()
            })
            .await?;
        // Gone for good first, then still inside their window; a stable order within each,
        // whatever order the parallel scan found them in.
        dropped.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let still_in_window = dropped.iter().filter(|d| d.0).count() as u64;
        let mut next: HashMap<&str, u64> = HashMap::new();
        for (_, _, event) in &dropped {
            *next.entry(event.as_deref().unwrap_or("(nothing)")).or_default() += 1;
        }
        let mut next: Vec<NextEvent> =
            next.into_iter().map(|(event, customers)| NextEvent { event: event.to_string(), customers }).collect();
        next.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.event.cmp(&b.event)));
        let customers = dropped
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(open, id, next_event)| DroppedCustomer {
                customer_id: id.to_string(),
                next_event: next_event.clone(),
                still_in_window: *open,
            })
            .collect();
        Ok(DroppedPage { step, total: dropped.len() as u64, still_in_window, offset, customers, next_events: next })
    }

    /// Where customers leave the journey: for each stage transition, the customers with an
    /// event of the stage in the range, how many of them reached the next stage within the
    /// window after it, and how long those who did not stayed before their last event.
    /// `spec` gives the window and range; its steps are the journey's stages.
    pub async fn journey_dropoffs(&self, journey: &Journey, spec: FunnelSpec) -> Result<Vec<Dropoff>, AnalyticsError> {
        let mut conditions: Vec<Column> = journey.condition_properties().into_iter().map(Column::Property).collect();
        conditions.extend(spec.channel.as_ref().map(|_| Column::Channel));
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
        // The whole journey as one funnel: each event is classified once into the stages it
        // belongs to, and each transition reads its pair of stages from that.
        let whole = FunnelSpec { steps: journey.stages.iter().map(|s| s.matchers()).collect(), ..spec.clone() };
        let per_transition = self
            .index
            .answer(move |data| {
                // Per transition: customers who reached its first stage, and how long those
                // who went no further stayed.
                scan_transitions(
                    data,
                    &whole,
                    &transitions,
                    || (0u64, Vec::new()),
                    |(reached, stayed): &mut (u64, Vec<i64>), _, outcome| {
                        *reached += 1;
                        if let Transition::Left { stayed_us } = outcome {
                            stayed.push(stayed_us.max(0));
                        }
                    },
                    |a, b| {
                        a.0 += b.0;
                        a.1.extend(b.1);
                    },
                )
            })
            .await?;
        Ok(journey
            .stages
            .windows(2)
            .zip(per_transition)
            .map(|(pair, (reached, mut stayed))| {
                let left = stayed.len() as u64;
                Dropoff {
                    from_stage: pair[0].name.clone(),
                    to_stage: pair[1].name.clone(),
                    reached,
                    left,
                    left_share: if reached == 0 { 0.0 } else { left as f64 / reached as f64 },
                    median_seconds_before_leaving: median_seconds_unsorted(&mut stayed),
                    average_seconds_before_leaving: (!stayed.is_empty())
                        .then(|| stayed.iter().sum::<i64>() as f64 / stayed.len() as f64 / 1e6),
                }
            })
            .collect())
    }

    /// Retention by cohort (see [`cohorts`]): the grid, its average curve and, if asked, one
    /// curve per first-touch channel.
    pub async fn retention(&self, question: question::RetentionQuestion) -> Result<RetentionResult, AnalyticsError> {
        if let Some(column) = &question.breakdown {
            self.index.materialise(&self.store, vec![column.clone()]).await?;
        }
        Ok(self
            .index
            .answer(move |data| {
                let mut spec = cohorts::RetentionSpec::new(
                    question.period,
                    question.from.timestamp_micros(),
                    question.to.timestamp_micros(),
                    question.now.timestamp_micros(),
                    question.periods,
                );
                // A named event the index has never seen: nobody did it, so no cohort.
                let id =
                    |name: &Option<String>| name.as_deref().map(|n| data.name_id(n).unwrap_or(crate::index::NO_NAME));
                (spec.start, spec.returning) = (id(&question.start), id(&question.returning));
                let by_channel = question.breakdown == Some(Column::Channel);
                let values = question.breakdown.as_ref().and_then(|column| data.column(column));
                // A customer's group: their first touch's channel, or the property's value on
                // their starting event.
                let found = each_customer(data, |customer, _| {
                    let retention = cohorts::customer_retention(&spec, &customer.events)?;
                    let group = match values {
                        Some(_) if by_channel => customer.first_touch(),
                        Some(column) => column.get(retention.start_seq),
                        None => crate::index::columns::NONE,
                    };
                    Some((group, retention))
                });
                let mut all = cohorts::RetentionTally::default();
                let mut by_value: HashMap<u32, cohorts::RetentionTally> = HashMap::new();
                for (group, retention) in found {
                    all.add(&spec, retention);
                    if values.is_some() {
                        by_value.entry(group).or_default().add(&spec, retention);
                    }
                }
                let value_name = |id: u32| match values?.dictionary().get(id as usize) {
                    Some(name) => Some(name.clone()),
                    // No first touch is a direct visit, a channel like the others.
                    None if by_channel => Some(crate::index::channel::DIRECT.to_string()),
                    None => None,
                };
                // Channels are a short, fixed list: every one gets its curve.
                let top = if by_channel { usize::MAX } else { RETENTION_TOP_VALUES };
                let breakdown = cohorts::breakdown_curves(&spec, by_value, value_name, top);
                RetentionResult {
                    period: question.period,
                    start_event: question.start.clone(),
                    return_event: question.returning.clone(),
                    cohorts: all.grid(&spec),
                    average: all.curve(&spec, "all".into()),
                    breakdown,
                    breakdown_by: question.breakdown.as_ref().map(Column::parameter),
                }
            })
            .await?)
    }

    /// Paths after (or before) an anchor event.
    pub async fn paths(&self, mut spec: paths::PathSpec) -> Result<PathResult, AnalyticsError> {
        spec.session_gap_us = self.session_gap_us;
        Ok(self
            .index
            .answer(move |data| {
                let counts = count_paths(data, &spec);
                paths::summarise(&spec, &counts, |id| data.name(id))
            })
            .await?)
    }

    /// The customers at one node of the paths (`event` at `level`, as the Sankey draws it),
    /// `limit` from `offset`.
    pub async fn path_customers(
        &self,
        mut spec: paths::PathSpec,
        level: usize,
        event: String,
        limit: usize,
        offset: usize,
    ) -> Result<PathCustomers, AnalyticsError> {
        spec.session_gap_us = self.session_gap_us;
        if level >= spec.depth {
            return Err(AnalyticsError::BadQuery(format!(
                "level={level} is deeper than the paths asked for; use 0 to {}",
                spec.depth - 1
            )));
        }
        Ok(self
            .index
            .answer(move |data| {
                let found = customer_paths(data, &spec, |customer, path| (customer.id.clone(), path));
                let at = paths::customers_at(&spec, &found, level, &event, |id| data.name(id));
                PathCustomers {
                    level,
                    total: at.len() as u64,
                    offset,
                    customers: at.iter().skip(offset).take(limit).map(|id| id.to_string()).collect(),
                    event,
                }
            })
            .await?)
    }

    /// Materialises the properties a funnel reads, if it reads any.
    async fn materialise(&self, spec: &FunnelSpec) -> Result<(), AnalyticsError> {
        let columns = spec.columns();
        if !columns.is_empty() {
            self.index.materialise(&self.store, columns).await?;
        }
        Ok(())
    }
}

/// Longest session look-back when finding where active sessions are.
const SESSION_LOOKBACK: Duration = Duration::hours(24);

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
        self.index.materialise(&self.store, vec![Column::Channel]).await?;
        Ok(self.index.answer(channels::seen).await?)
    }

    /// Every event name the index holds (track events and page names), sorted.
    pub async fn event_names(&self) -> Result<Vec<String>, AnalyticsError> {
        Ok(self
            .index
            .answer(|data| {
                let mut names: Vec<String> = (0..data.names_len() as u32)
                    .map(|id| data.name(id).to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                names.sort();
                names.dedup();
                names
            })
            .await?)
    }

    /// The property keys of the newest events, most used first (see
    /// `queries/analytics/property_keys.sql`).
    pub async fn property_keys(&self) -> Result<Vec<String>, AnalyticsError> {
        Ok(self
            .store
            .read(|conn| {
                let mut stmt = conn.prepare(sql::ANALYTICS_PROPERTY_KEYS)?;
                let rows = stmt.query_map(duckdb::params![PROPERTY_KEYS_SAMPLE], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?)
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
        let mut conditions: Vec<Column> = journey.condition_properties().into_iter().map(Column::Property).collect();
        conditions.extend(channel.as_ref().map(|_| Column::Channel));
        if !conditions.is_empty() {
            self.index.materialise(&self.store, conditions).await?;
        }
        let journey = journey.clone();
        Ok(self
            .index
            .answer(move |data| {
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
}

/// Every customer's path for `spec`, kept as `keep` makes it.
fn customer_paths<T: Send>(
    data: &crate::index::IndexData,
    spec: &paths::PathSpec,
    keep: impl Fn(&CustomerEvents, paths::Path) -> T + Sync,
) -> Vec<T> {
    let Some(anchor) = data.name_id(&spec.anchor) else { return Vec::new() };
    each_customer(data, |customer, named| path_of(data, spec, anchor, customer, named).map(|path| keep(customer, path)))
}

/// Every customer's path for `spec`, added up as they are found.
fn count_paths(data: &crate::index::IndexData, spec: &paths::PathSpec) -> paths::PathCounts {
    let Some(anchor) = data.name_id(&spec.anchor) else { return paths::PathCounts::new(spec) };
    fold_customers(
        data,
        || paths::PathCounts::new(spec),
        |counts, customer, named| {
            if let Some(path) = path_of(data, spec, anchor, customer, named) {
                counts.add(&path);
            }
        },
        paths::PathCounts::merge,
    )
}

/// One customer's path (see [`paths::customer_path`]), page views left out if the spec says
/// so (the anchor stays even if it is one); `named` is scratch space.
fn path_of(
    data: &crate::index::IndexData,
    spec: &paths::PathSpec,
    anchor: u32,
    customer: &CustomerEvents,
    named: &mut Vec<Entry>,
) -> Option<paths::Path> {
    // After the anchor nothing before the range matters; before it, nothing after.
    let (from, to) = match spec.direction {
        Direction::After => (spec.from_us, i64::MAX),
        Direction::Before => (i64::MIN, spec.to_us),
    };
    let counted =
        |e: &&Entry| e.is_named() && (e.name() == anchor || !(spec.skip_page_views && data.is_page_view(e.name())));
    named.extend(in_span(&customer.events, from, to).iter().filter(counted));
    paths::customer_path(spec, anchor, named)
}
