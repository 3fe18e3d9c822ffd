//! The application state every handler and server function shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::watch;

use app::backend::SharedBackend;

use crate::{
    alerts::Alerts,
    analytics::{index::EventIndex, Analytics},
    auth::Accounts,
    clock::Clock,
    dashboard::Dashboard,
    http::guard::AccessRules,
    hub::Hub,
    ingest::{Ingestor, Limits},
    journeys::Journeys,
    live::{occupancy::OccupancyFeeds, LiveStatus},
    rules::Rules,
    sources::Sources,
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
    /// Flips to `true` when the server shuts down, ending long-lived streams.
    pub shutdown: watch::Receiver<bool>,
}

/// What [`AppState::new`] is built from besides the store and hub.
pub struct StateOptions {
    pub limits: Limits,
    /// The event index, loaded, fed by the store's commits.
    pub index: EventIndex,
    pub rules: Arc<Rules>,
    pub alerts: Alerts,
    pub webhooks: Arc<Webhooks>,
    pub live_status: Arc<LiveStatus>,
    /// The longest gap between two events of one session, in µs.
    pub session_gap_us: i64,
    pub cors_origins: Vec<String>,
    pub leptos_options: LeptosOptions,
    pub accounts: Arc<Accounts>,
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(
        store: Store,
        hub: Hub,
        sources: Arc<Sources>,
        journeys: Arc<Journeys>,
        options: StateOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let analytics = Analytics::new(store.clone(), options.index.clone(), options.session_gap_us);
        let ingestor = Ingestor::new(store.clone(), sources.clone(), options.limits);
        AppState {
            ingestor: ingestor.clone(),
            backend: Arc::new(Dashboard {
                store: store.clone(),
                analytics: analytics.clone(),
                journeys: journeys.clone(),
                alerts: options.alerts.clone(),
                rules: options.rules.clone(),
                ingestor,
                sources: sources.clone(),
                saved_funnels: crate::saved_funnels::SavedFunnels::new(store.clone()),
                accounts: options.accounts.clone(),
            }),
            occupancy: OccupancyFeeds::new(analytics.clone(), hub.clone(), store.clock().clone()),
            clock: store.clock().clone(),
            analytics,
            index: options.index,
            live_status: options.live_status,
            store,
            hub,
            sources,
            journeys,
            rules: options.rules,
            alerts: options.alerts,
            webhooks: options.webhooks,
            access: Arc::new(AccessRules::new(std::path::Path::new(options.leptos_options.site_root.as_ref()))),
            leptos_options: options.leptos_options,
            cors_origins: options.cors_origins,
            accounts: options.accounts,
            secure_cookies: options.secure_cookies,
            shutdown,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
