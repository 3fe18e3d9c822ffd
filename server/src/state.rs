//! The application state every handler and server function shares.

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
    dashboard::Dashboard,
    http::{browser::HostPolicy, guard::AccessRules},
    hub::Hub,
    index::EventIndex,
    ingest::{IngestPolicy, Ingestor},
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
    /// The host names requests may be addressed to.
    pub host_policy: HostPolicy,
    /// Traits and properties masked for viewers.
    pub pii_keys: PiiKeys,
    /// Who changed what.
    pub audit: crate::audit::Audit,
    /// The event streams open now, capped per person and in all.
    pub streams: crate::http::stream_slots::StreamSlots,
    /// Flips to `true` when the server shuts down, ending long-lived streams.
    pub shutdown: watch::Receiver<bool>,
}

/// What [`AppState::new`] is built from besides the store and hub.
pub struct StateOptions {
    pub ingest: IngestPolicy,
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
    pub host_policy: HostPolicy,
    /// Traits and properties masked for viewers.
    pub pii_keys: PiiKeys,
    /// Days after which data is deleted (off when `None`).
    pub retention_days: Option<u32>,
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
        let ingestor = Ingestor::new(store.clone(), sources.clone(), options.ingest);
        let audit = crate::audit::Audit::new(store.clone());
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
                pii_keys: options.pii_keys.clone(),
                retention_days: options.retention_days,
                index: options.index.clone(),
                hub: hub.clone(),
                audit: audit.clone(),
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
            host_policy: options.host_policy,
            pii_keys: options.pii_keys,
            audit: audit.clone(),
            streams: Default::default(),
            shutdown,
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
