//! The Wayline server. Data flows one way:
//! ingest → store (one writer, commit = ack) → event index → analytics and the rule engine
//! (rules → alerts → alert stream and webhooks), and → hub → event stream and pages.
//! [`Wayline::open_with`] is the composition root: every service is built and wired there.

pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod doctor;
pub mod erasure;
pub mod feed;
pub mod hashed_key;
pub mod health;
pub mod http;
pub mod hub;
pub mod import;
pub mod index;
pub mod ingest;
pub mod journeys;
pub mod memory;
pub mod metrics;
pub mod outcomes;
pub mod retention;
pub mod rule_engine;
pub mod rules;
pub mod saved_funnels;
pub mod secret;
pub mod sources;
pub mod stage_feeds;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod webhooks;

use std::path::Path;

use leptos::config::{Env, LeptosOptions};
use tokio::sync::watch;

use crate::{
    alerts::{AlertError, Alerts},
    analytics::Analytics,
    audit::Audit,
    auth::{Accounts, AuthError, SessionPolicy},
    clock::Clock,
    dashboard::Dashboard,
    http::{browser::HostPolicy, guard::AccessRules},
    hub::Hub,
    index::{EventIndex, IndexError},
    ingest::{IngestPolicy, Ingestor},
    journeys::{JourneyError, Journeys},
    rule_engine::{Engine, LiveFeed},
    rules::{RuleError, Rules},
    saved_funnels::SavedFunnels,
    sources::Sources,
    stage_feeds::OccupancyFeeds,
    state::AppState,
    store::{Store, StoreError, WriterConfig},
    webhooks::{RetryPolicy, WebhookError, Webhooks},
};

/// Why Wayline could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journey(#[from] JourneyError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// How to open Wayline besides where its database is.
pub struct OpenOptions {
    pub leptos_options: LeptosOptions,
    /// Origins allowed to send events from browsers (`*` for any).
    pub cors_origins: Vec<String>,
    /// The longest gap between two events of one session.
    pub session_gap: chrono::Duration,
    /// How long after its deadline a rule's timer fires, so late events still count.
    pub rule_lateness: std::time::Duration,
    /// How webhook deliveries are retried.
    pub webhook_retry: RetryPolicy,
    /// Where every part of the server reads the time of day ([`Clock::system`] in production).
    pub clock: Clock,
    /// Accept the demo source's public write key (only while `--demo` is on).
    pub demo_key: bool,
    /// How long sign-ins last.
    pub session_policy: SessionPolicy,
    /// Session cookies carry `Secure` (Wayline is served over HTTPS).
    pub secure_cookies: bool,
    /// The host names requests may be addressed to (against DNS rebinding).
    pub host_policy: HostPolicy,
    /// Webhooks may point at loopback and private addresses (off: such URLs are refused).
    pub allow_private_webhooks: bool,
    /// Ingestion's sizes, rate limits and address policy.
    pub ingest: IngestPolicy,
    /// Traits and properties masked for viewers.
    pub pii_keys: app::privacy::PiiKeys,
    /// Delete what is older than this many days, once a day (off when `None`).
    pub retention_days: Option<u32>,
    /// Write-ahead log size, in KiB, at which DuckDB checkpoints.
    pub checkpoint_kib: u32,
    /// DuckDB's memory limit, in MiB.
    pub duckdb_memory_mib: u32,
    /// When the event index is loaded from the store.
    pub index_load: IndexLoad,
}

/// When [`Wayline::open_with`] loads the event index.
#[derive(Debug, Default)]
pub enum IndexLoad {
    /// Before it returns (tests and tools: questions are answered at once).
    #[default]
    Before,
    /// In the background: ingestion answers from the first second whatever the history's
    /// size, and questions are refused with how far the load has got until it is ready
    /// (`wayline serve`).
    Background,
    /// In the background once `go` is sent (or dropped): a test holds a restart's load to see
    /// the warm-up.
    BackgroundWhen(tokio::sync::oneshot::Receiver<()>),
    /// Not at all: command-line tools that change accounts or sources ask no question.
    Skip,
}

impl OpenOptions {
    /// The defaults: a 30-minute session gap, the system clock, the demo key accepted, a server
    /// on loopback, no private webhooks, ingestion unthrottled (what tests and tools start
    /// from; `wayline serve` sets the rate limits).
    pub fn new(leptos_options: LeptosOptions) -> Self {
        OpenOptions {
            leptos_options,
            cors_origins: Vec::new(),
            session_gap: chrono::Duration::minutes(config::DEFAULT_SESSION_GAP_MINUTES),
            rule_lateness: rule_engine::LATENESS,
            webhook_retry: RetryPolicy::default(),
            clock: Clock::system(),
            demo_key: true,
            session_policy: SessionPolicy::default(),
            secure_cookies: false,
            host_policy: HostPolicy::loopback(),
            allow_private_webhooks: false,
            ingest: IngestPolicy::unthrottled(),
            pii_keys: app::privacy::PiiKeys::default(),
            retention_days: None,
            checkpoint_kib: config::DEFAULT_CHECKPOINT_KIB,
            duckdb_memory_mib: config::DEFAULT_DUCKDB_MEMORY_MIB,
            index_load: IndexLoad::Before,
        }
    }
}

/// Where the database lives: a file, or memory (tests).
pub enum Database<'a> {
    File(&'a Path),
    InMemory,
}

/// A wired application: its state and the switch that ends its long-lived streams.
/// Clones share both.
#[derive(Clone)]
pub struct Wayline {
    pub state: AppState,
    shutdown: std::sync::Arc<watch::Sender<bool>>,
    /// Where the event index is saved (a database in a file only).
    snapshot: Option<std::path::PathBuf>,
}

impl Wayline {
    /// Opens the store, loads the sources and wires store → hub → streams, with the default
    /// session gap (30 minutes) and the demo write key accepted (tests and tools; `wayline
    /// serve` uses [`Wayline::open_with`] and accepts it only with `--demo`).
    pub async fn open(
        db: Database<'_>,
        leptos_options: LeptosOptions,
        cors_origins: Vec<String>,
    ) -> Result<Self, OpenError> {
        Self::open_with(db, OpenOptions { cors_origins, ..OpenOptions::new(leptos_options) }).await
    }

    /// As [`Wayline::open`], with every option.
    pub async fn open_with(db: Database<'_>, options: OpenOptions) -> Result<Self, OpenError> {
        let OpenOptions {
            leptos_options,
            cors_origins,
            session_gap,
            rule_lateness,
            webhook_retry,
            clock,
            demo_key,
            session_policy,
            secure_cookies,
            host_policy,
            allow_private_webhooks,
            ingest,
            pii_keys,
            retention_days,
            checkpoint_kib,
            duckdb_memory_mib,
            index_load,
        } = options;
        let hub = Hub::new(hub::DEFAULT_CAPACITY);
        let metrics = metrics::Metrics::new(match &db {
            Database::File(path) => Some(path),
            Database::InMemory => None,
        });
        let (index, index_feed) = EventIndex::new();
        let (live_feed, live_batches) = LiveFeed::new();
        let on_commit = {
            let hub = hub.clone();
            Box::new(move |batch| {
                index_feed.send(&batch);
                live_feed.send(&batch);
                hub.publish(batch);
            })
        };
        let writer = WriterConfig {
            clock: clock.clone(),
            checkpoint_kib,
            duckdb_memory_mib,
            metrics: metrics.commits.clone(),
            ..WriterConfig::default()
        };
        let (store, snapshot) = match db {
            Database::File(path) => (Store::open(path, writer, on_commit)?, Some(index::snapshot::path_for(path))),
            Database::InMemory => (Store::open_in_memory(writer, on_commit)?, None),
        };
        let go = match index_load {
            IndexLoad::Before => {
                index.load_with_snapshot(&store, snapshot.clone()).await?;
                None
            }
            IndexLoad::Background => {
                let (go, when) = tokio::sync::oneshot::channel();
                let _ = go.send(());
                Some(when)
            }
            IndexLoad::BackgroundWhen(when) => Some(when),
            IndexLoad::Skip => None,
        };
        if let Some(when) = go {
            let (index, store, snapshot) = (index.clone(), store.clone(), snapshot.clone());
            tokio::spawn(async move {
                let _ = when.await;
                if let Err(e) = index.load_with_snapshot(&store, snapshot).await {
                    tracing::error!(error = %e, "could not load the event index; questions cannot be answered");
                }
            });
        }
        if snapshot.is_some() {
            tokio::spawn(save_index_now_and_then(index.clone()));
        }
        tokio::spawn(memory::release_now_and_then());
        // Channels come from every event's context, a long read on a big file: started once the
        // index is ready, in the background, so the journey map rarely waits for it.
        tokio::spawn({
            let (index, store) = (index.clone(), store.clone());
            async move {
                let loaded = index.read(|_| ()).await;
                if let Err(e) = async {
                    loaded?;
                    index.materialise(&store, vec![index::Column::Channel]).await
                }
                .await
                {
                    tracing::warn!(error = %e, "could not read the events' channels");
                }
            }
        });
        let mut newest = store.recent_events(hub::RECENT_EVENTS).await?;
        newest.reverse();
        hub.seed(newest);
        let sources = std::sync::Arc::new(Sources::load(store.clone(), demo_key).await?);
        let accounts = std::sync::Arc::new(Accounts::load(store.clone(), session_policy).await?);
        let journeys = std::sync::Arc::new(Journeys::load(store.clone()).await?);
        let rules = std::sync::Arc::new(Rules::load(store.clone()).await?);
        let alerts = Alerts::load(store.clone()).await?;
        let live_status = std::sync::Arc::new(rule_engine::LiveStatus::default());
        let engine = Engine {
            index: index.clone(),
            store: store.clone(),
            rules: rules.clone(),
            journeys: journeys.clone(),
            alerts: alerts.clone(),
            lateness: rule_lateness,
            status: live_status.clone(),
            metrics: metrics.alerts.clone(),
        };
        tokio::spawn(engine.run(live_batches));
        let webhooks = std::sync::Arc::new(
            Webhooks::load(store.clone(), webhook_retry, allow_private_webhooks, metrics.alerts.clone()).await?,
        );
        tokio::spawn(webhooks.clone().run(alerts.clone()));
        if let Some(days) = retention_days {
            tokio::spawn(retention::run(store.clone(), index.clone(), clock.clone(), days));
        }
        let (shutdown, stopping) = watch::channel(false);
        let analytics = Analytics::new(store.clone(), index.clone(), session_gap);
        let ingestor = Ingestor::new(store.clone(), sources.clone(), ingest, metrics.ingest.clone());
        let audit = Audit::new(store.clone());
        let backend = std::sync::Arc::new(Dashboard {
            store: store.clone(),
            analytics: analytics.clone(),
            journeys: journeys.clone(),
            alerts: alerts.clone(),
            rules: rules.clone(),
            ingestor: ingestor.clone(),
            sources: sources.clone(),
            saved_funnels: SavedFunnels::new(store.clone()),
            accounts: accounts.clone(),
            pii_keys: pii_keys.clone(),
            retention_days,
            index: index.clone(),
            hub: hub.clone(),
            audit: audit.clone(),
        });
        let state = AppState {
            occupancy: OccupancyFeeds::new(analytics.clone(), hub.clone(), clock.clone()),
            access: std::sync::Arc::new(AccessRules::new(Path::new(leptos_options.site_root.as_ref()))),
            streams: crate::http::stream_slots::StreamSlots::new(metrics.streams.clone()),
            metrics,
            shutdown: stopping,
            store,
            hub,
            sources,
            journeys,
            rules,
            alerts,
            webhooks,
            live_status,
            index,
            ingestor,
            analytics,
            backend,
            clock,
            leptos_options,
            cors_origins,
            accounts,
            secure_cookies,
            host_policy,
            pii_keys,
            audit,
        };
        Ok(Wayline { state, shutdown: std::sync::Arc::new(shutdown), snapshot })
    }

    /// The router serving everything.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// The file the event index is saved to (see [`index::snapshot`]), for a database in a file.
    pub fn index_snapshot(&self) -> Option<&Path> {
        self.snapshot.as_deref()
    }

    /// Ends SSE streams so that graceful shutdown can finish.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Lets the writer commit what is queued, checkpoint and stop; then saves the event index
    /// with everything committed, so that the next start loads it instead of rebuilding it.
    pub async fn close(&self) {
        self.state.store.close().await;
        // Everything committed is in the index once it has applied the last batches.
        if self.state.index.warming_up().is_none() && self.state.index.read(|_| ()).await.is_ok() {
            let started = std::time::Instant::now();
            match self.state.index.save().await {
                Ok(()) => tracing::info!(ms = started.elapsed().as_millis() as u64, "event index saved"),
                Err(e) => tracing::warn!(error = %e, "could not save the event index; the next start rebuilds it"),
            }
        }
    }
}

/// How often the event index is saved while Wayline runs, when it has changed: a crash then
/// loses at most this much of the snapshot, which the next start reads from the store.
const SAVE_INDEX_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Saves the event index every [`SAVE_INDEX_EVERY`] if it changed (off the hot path: on a
/// blocking thread, holding the index only while it is encoded).
async fn save_index_now_and_then(index: EventIndex) {
    let mut tick = tokio::time::interval(SAVE_INDEX_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = index.save().await {
            tracing::warn!(error = %e, "could not save the event index");
        }
    }
}

/// Leptos settings for serving the dashboard from `site_root` (which holds `pkg/`).
pub fn leptos_options(site_root: &Path, addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("app")
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .env(Env::PROD)
        .build()
}
