//! The server's side of [`app::backend::DashboardBackend`]: what the pages' server functions call.

use app::{
    backend::{BackendFuture, DashboardBackend},
    error::AppError,
    types::LiveEvent,
};

use crate::{feed::live_event, store::Store};

/// Answers the dashboard from the store.
pub struct StoreBackend {
    store: Store,
}

impl StoreBackend {
    pub fn new(store: Store) -> Self {
        StoreBackend { store }
    }
}

impl DashboardBackend for StoreBackend {
    fn recent_events(&self, limit: usize) -> BackendFuture<Vec<LiveEvent>> {
        let store = self.store.clone();
        Box::pin(async move {
            let events = store.recent_events(limit).await.map_err(|e| {
                tracing::error!(error = %e, "recent events query failed");
                AppError::Store(e.to_string())
            })?;
            Ok(events.iter().map(live_event).collect())
        })
    }
}
