//! Analytics: the questions the journey map, funnels and customer pages ask of the store.
//! Each question is a query in `queries/analytics/` plus, where SQL would be contorted, a
//! small tested Rust step (see [`funnel`]).

pub mod funnel;
pub mod stages;

use chrono::{DateTime, Duration, Utc};
use duckdb::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    journeys::Journey,
    store::{sql, JsonText, Micros, Store, StoreError},
};
use funnel::{CustomerProgress, FunnelResult, FunnelSpec, OrderMode, TimedEvent};
use stages::{NamedEvent, StageOccupancy, SESSION_GAP_US};

/// Longest conversion window a funnel may have.
pub const MAX_WINDOW: Duration = Duration::days(90);
/// Most steps a funnel may have.
pub const MAX_STEPS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The question was asked wrongly; the message names the parameter and the fix.
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl FunnelQuery {
    /// Checks the question and fills in defaults.
    pub fn to_spec(&self, now: DateTime<Utc>) -> Result<FunnelSpec, AnalyticsError> {
        let bad = |m: String| AnalyticsError::BadQuery(m);
        let steps: Vec<String> = self
            .steps
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if steps.len() < 2 || steps.len() > MAX_STEPS {
            return Err(bad(format!(
                "a funnel needs 2 to {MAX_STEPS} steps, got {}; pass steps=product_viewed,added_to_cart,purchase_completed",
                steps.len()
            )));
        }
        let window = self.window.unwrap_or(86_400);
        if window < 1 || window > MAX_WINDOW.num_seconds() {
            return Err(bad(format!(
                "window={window} is out of range; use 1 to {} seconds (90 days)",
                MAX_WINDOW.num_seconds()
            )));
        }
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - Duration::days(30));
        if from >= to {
            return Err(bad(format!("from ({from}) must be before to ({to})")));
        }
        Ok(FunnelSpec {
            steps,
            window_us: window * 1_000_000,
            from_us: from.timestamp_micros(),
            to_us: to.timestamp_micros(),
            mode: self.mode.unwrap_or_default(),
        })
    }
}

/// Answers analytics questions from the store's read connections.
#[derive(Clone)]
pub struct Analytics {
    store: Store,
}

impl Analytics {
    pub fn new(store: Store) -> Self {
        Analytics { store }
    }

    /// Counts a funnel.
    pub async fn funnel(&self, spec: FunnelSpec) -> Result<FunnelResult, AnalyticsError> {
        let progress = self
            .store
            .read({
                let spec = spec.clone();
                move |conn| {
                    let names = serde_json::to_string(&spec.steps).unwrap_or_else(|_| "[]".into());
                    let mut stmt = conn.prepare(sql::ANALYTICS_FUNNEL_EVENTS)?;
                    let mut rows = stmt.query(params![
                        Micros(spec.from_us),
                        Micros(spec.to_us + spec.window_us + 1),
                        spec.mode == OrderMode::Strict,
                        names
                    ])?;
                    let mut customers: Vec<CustomerProgress> = Vec::new();
                    let mut current: Option<String> = None;
                    let mut events: Vec<TimedEvent> = Vec::new();
                    while let Some(row) = rows.next()? {
                        let customer: String = row.get(0)?;
                        if current.as_deref() != Some(customer.as_str()) {
                            if current.is_some() {
                                customers.push(funnel::progress(&spec, &events));
                            }
                            events.clear();
                            current = Some(customer);
                        }
                        events.push(TimedEvent { at_us: row.get(1)?, name: row.get(3)? });
                    }
                    if current.is_some() {
                        customers.push(funnel::progress(&spec, &events));
                    }
                    Ok(customers)
                }
            })
            .await?;
        Ok(funnel::summarise(&spec, &progress))
    }
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

impl Analytics {
    /// Sessions active in the last `minutes`, counted by the stage they are in now.
    pub async fn active_stages(
        &self,
        journey: Journey,
        minutes: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<StageOccupancy>, AnalyticsError> {
        if !(1..=24 * 60).contains(&minutes) {
            return Err(AnalyticsError::BadQuery(format!("minutes={minutes} is out of range; use 1 to 1440")));
        }
        let active_since = now - Duration::minutes(minutes);
        let lookback = active_since - SESSION_LOOKBACK;
        let customers = self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::ANALYTICS_RECENT_SESSION_EVENTS)?;
                let mut rows = stmt.query(params![Micros::of(active_since), Micros::of(lookback)])?;
                let mut customers: Vec<Vec<NamedEvent>> = Vec::new();
                let mut current: Option<String> = None;
                while let Some(row) = rows.next()? {
                    let customer: String = row.get(0)?;
                    if current.as_deref() != Some(customer.as_str()) {
                        customers.push(Vec::new());
                        current = Some(customer);
                    }
                    if let Some(events) = customers.last_mut() {
                        events.push(NamedEvent { at_us: row.get(1)?, name: row.get(2)? });
                    }
                }
                Ok(customers)
            })
            .await?;
        Ok(stages::occupancy(&journey, &customers, active_since.timestamp_micros(), now.timestamp_micros()))
    }

    /// The whole timeline of the customer known by `id` (any of their identities).
    pub async fn customer_timeline(&self, id: &str, journey: Journey) -> Result<Timeline, AnalyticsError> {
        let customer_id = self.store.resolve_customer(id).await?;
        let identities = self.store.customer_ids(&customer_id).await?;
        let gap_seconds = SESSION_GAP_US / 1_000_000;
        let rows = self
            .store
            .read({
                let customer_id = customer_id.clone();
                move |conn| {
                    let mut stmt = conn.prepare(sql::ANALYTICS_CUSTOMER_TIMELINE)?;
                    let rows = stmt.query_map(params![customer_id, gap_seconds], |row| {
                        let json = |i: usize| -> duckdb::Result<Option<JsonText>> {
                            Ok(row.get::<_, Option<String>>(i)?.and_then(|t| JsonText::parse(t).ok()))
                        };
                        let kind: String = row.get(1)?;
                        let properties = if kind == "identify" || kind == "group" { json(7)? } else { json(6)? };
                        Ok((
                            row.get::<_, i64>(9)?,
                            TimelineEvent {
                                seq: row.get(0)?,
                                name: row.get(2)?,
                                anonymous_id: row.get(3)?,
                                user_id: row.get(4)?,
                                at: time_of(row.get(5)?),
                                stage: None,
                                properties: crate::store::value_of(&properties),
                                kind,
                            },
                        ))
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                }
            })
            .await?;
        let mut sessions: Vec<TimelineSession> = Vec::new();
        for (number, mut event) in rows {
            event.stage =
                event.name.as_deref().and_then(|n| journey.stage_of(n)).map(|i| journey.stages[i].name.clone());
            match sessions.last_mut() {
                Some(session) if session.number == number => {
                    session.ended_at = event.at;
                    session.events.push(event);
                }
                _ => sessions.push(TimelineSession {
                    number,
                    started_at: event.at,
                    ended_at: event.at,
                    events: vec![event],
                }),
            }
        }
        Ok(Timeline { customer_id, identities, sessions })
    }
}
