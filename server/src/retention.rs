//! Retention: with `retention_days` set, once a day everything older goes — events that
//! happened before the cutoff, dead letters, resolved alerts and webhook delivery logs — from
//! the store and from the event index. Off by default: an analytics history is kept until
//! someone decides otherwise.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{
    clock::Clock,
    index::{EventIndex, IndexError},
    store::{Store, StoreError},
};

/// How often retention runs.
pub const SWEEP_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest retention accepted (about 100 years; beyond it, switch retention off).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What one sweep removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Swept {
    pub cutoff: DateTime<Utc>,
    pub rows: Vec<(&'static str, usize)>,
}

/// Deletes what is older than `days` by `clock` from the store, then from the index.
pub async fn sweep(store: &Store, index: &EventIndex, clock: &Clock, days: u32) -> Result<Swept, RetentionError> {
    let cutoff = clock.now() - chrono::Duration::days(i64::from(days.clamp(1, MAX_RETENTION_DAYS)));
    // To the microsecond, as events are stored and indexed, so both draw the same line.
    let cutoff = DateTime::from_timestamp_micros(cutoff.timestamp_micros()).unwrap_or(cutoff);
    let rows = store.delete_older(cutoff).await?;
    index.forget_before(cutoff.timestamp_micros()).await?;
    Ok(Swept { cutoff, rows })
}

/// Runs [`sweep`] now and then every [`SWEEP_EVERY`], until the store closes.
pub async fn run(store: Store, index: EventIndex, clock: Clock, days: u32) {
    let mut every_day = tokio::time::interval(SWEEP_EVERY);
    loop {
        every_day.tick().await;
        match sweep(&store, &index, &clock, days).await {
            Ok(swept) => tracing::info!(cutoff = %swept.cutoff, rows = ?swept.rows, "retention ran"),
            Err(RetentionError::Store(StoreError::Closed)) => return,
            Err(e) => tracing::error!(error = %e, "retention failed; it runs again tomorrow"),
        }
    }
}
