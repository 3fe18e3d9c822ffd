//! Caps on open event streams: each holds a connection and a task for as long as it lasts, so
//! one person (or a leaked token) may hold only so many, and the server only so many in all.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::http::StatusCode;

use super::error::ApiError;
use crate::metrics::{StreamLabel, StreamMetrics};

/// Streams one person or token may hold open at once (a dashboard tab holds one to three).
pub const PER_PRINCIPAL: usize = 64;
/// Streams open at once in all.
pub const TOTAL: usize = 2_000;

/// The open streams, per principal. Cheap to clone.
#[derive(Clone, Default)]
pub struct StreamSlots {
    open: Arc<Mutex<HashMap<String, usize>>>,
    /// Streams open per stream name, for `/metrics`.
    metrics: StreamMetrics,
}

/// One open stream; the slot frees itself when the stream ends (the value is dropped).
pub struct StreamSlot {
    slots: StreamSlots,
    holder: String,
    stream: &'static str,
}

impl StreamSlots {
    pub fn new(metrics: StreamMetrics) -> Self {
        StreamSlots { open: Arc::default(), metrics }
    }

    /// A slot for a `stream` (`events`, `stages`, `alerts`) that `holder` opens, or `429`
    /// naming the cap reached.
    pub fn take(&self, holder: &str, stream: &'static str) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().map_err(|_| busy("the stream table is unavailable; retry"))?;
        if open.values().sum::<usize>() >= TOTAL {
            return Err(busy(&format!("{TOTAL} event streams are open, the most this server keeps; retry shortly")));
        }
        let mine = open.entry(holder.to_string()).or_default();
        if *mine >= PER_PRINCIPAL {
            return Err(busy(&format!(
                "{holder} has {PER_PRINCIPAL} event streams open, the most one person or token may; close some tabs or streams"
            )));
        }
        *mine += 1;
        self.metrics.clients.get_or_create(&StreamLabel { stream }).inc();
        Ok(StreamSlot { slots: self.clone(), holder: holder.to_string(), stream })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().map(|open| open.values().sum()).unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.slots.metrics.clients.get_or_create(&StreamLabel { stream: self.stream }).dec();
        if let Ok(mut open) = self.slots.open.lock() {
            if let Some(n) = open.get_mut(&self.holder) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.holder);
                }
            }
        }
    }
}

fn busy(message: &str) -> ApiError {
    ApiError { retry_after: Some(10), ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_gets_its_share_and_a_slot_comes_back_when_its_stream_ends() {
        let metrics = StreamMetrics::default();
        let clients = |stream| metrics.clients.get_or_create(&StreamLabel { stream }).get();
        let slots = StreamSlots::new(metrics.clone());
        let held: Vec<StreamSlot> =
            (0..PER_PRINCIPAL).map(|_| slots.take("ada@example.com", "events").unwrap()).collect();
        let refused = slots.take("ada@example.com", "alerts").err().unwrap();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.message.contains("ada@example.com"), "{}", refused.message);
        let other = slots.take("bob@example.com", "alerts");
        assert!(other.is_ok(), "another person has their own share");
        assert_eq!(
            (clients("events"), clients("alerts")),
            (PER_PRINCIPAL as i64, 1),
            "a refused stream is not counted"
        );
        drop(held);
        assert_eq!(slots.open(), 1);
        assert_eq!(clients("events"), 0);
        assert!(slots.take("ada@example.com", "events").is_ok());
    }
}
