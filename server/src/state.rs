//! The application state every handler and server function shares. It is built in one
//! place, [`crate::Wayline::open_with`], the composition root.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use app::backend::SharedBackend;

use app::privacy::PiiKeys;

use crate::{
    alerts::Alerts,
    analytics::Analytics,
    auth::Accounts,
    clock::Clock,
    http::{browser::HostPolicy, guard::AccessRules},
    hub::Hub,
    index::EventIndex,
    ingest::Ingestor,
    journeys::Journeys,
    rule_engine::LiveStatus,
    rules::Rules,
    sources::Sources,
    stage_feeds::OccupancyFeeds,
    store::Store,
    webhooks::Webhooks,
};

/// Services gathered in one place; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub sources: Arc<Sources>,
    pub journeys: Arc<Journeys>,
    pub rules: Arc<Rules>,
    pub alerts: Alerts,
    pub webhooks: Arc<Webhooks>,
    pub live_status: Arc<LiveStatus>,
    pub index: EventIndex,
    /// Stage occupancy feeds for dashboards.
    pub occupancy: OccupancyFeeds,
    pub ingestor: Ingestor,
    pub analytics: Analytics,
    pub backend: SharedBackend,
    /// Where "now" comes from: default ranges, receive times, replays.
    pub clock: Clock,
    pub leptos_options: LeptosOptions,
    /// Origins allowed to send events from browsers (`*` for any).
    pub cors_origins: Vec<String>,
    /// Users, API tokens and sessions: who is asking.
    pub accounts: Arc<Accounts>,
    /// What each request needs at the door.
    pub access: Arc<AccessRules>,
    /// Session cookies carry `Secure` (set when Wayline is served over HTTPS).
    pub secure_cookies: bool,
    /// The host names requests may be addressed to.
    pub host_policy: HostPolicy,
    /// Traits and properties masked for viewers.
    pub pii_keys: PiiKeys,
    /// Who changed what.
    pub audit: crate::audit::Audit,
    /// What `/metrics` reports to an operator's Prometheus.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The event streams open now, capped per person and in all.
    pub streams: crate::http::stream_slots::StreamSlots,
    /// Flips to `true` when the server shuts down, ending long-lived streams.
    pub shutdown: watch::Receiver<bool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
