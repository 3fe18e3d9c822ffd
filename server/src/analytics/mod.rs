//! Analytics: the questions the journey map, funnels and customer pages ask of the store.
//! Each question is a query in `queries/analytics/` plus, where SQL would be contorted, a
//! small tested Rust step (see [`funnel`]).

pub mod funnel;

use chrono::{DateTime, Duration, Utc};
use duckdb::params;
use serde::Deserialize;

use crate::store::{sql, Micros, Store, StoreError};
use funnel::{CustomerProgress, FunnelResult, FunnelSpec, OrderMode, TimedEvent};

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
