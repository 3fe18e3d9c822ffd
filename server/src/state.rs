//! The application state every handler and server function shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use app::backend::SharedBackend;

use crate::{
    dashboard::StoreBackend,
    hub::Hub,
    ingest::{Ingestor, Limits},
    store::Store,
};

/// Services gathered in one place; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub ingestor: Ingestor,
    pub backend: SharedBackend,
    pub leptos_options: LeptosOptions,
    /// Flips to `true` when the server shuts down, ending long-lived streams.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn new(
        store: Store,
        hub: Hub,
        limits: Limits,
        leptos_options: LeptosOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        AppState {
            ingestor: Ingestor::new(store.clone(), limits),
            backend: Arc::new(StoreBackend::new(store.clone())),
            store,
            hub,
            leptos_options,
            shutdown,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
