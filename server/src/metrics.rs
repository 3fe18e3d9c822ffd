//! What an operator scrapes: `GET /metrics` in Prometheus' text format (OpenMetrics), one
//! registry per server. Each part of the pipeline is handed the few metrics it moves (the
//! ingestor its event counts, the writer its commits, the engine its alerts, the webhooks their
//! deliveries, the stream table its clients); figures that are states rather than happenings
//! (queue depth, lags, pending timers, file sizes) are read when scraped.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) encodes; nothing here formats
//! the exposition by hand. A registry per server rather than a global one keeps servers started
//! side by side in one test process apart.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
        info::Info,
    },
    registry::{Registry, Unit},
};

/// The content type Prometheus asks for and this module answers in.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabel {
    pub stream: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FileLabel {
    pub file: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// What ingestion counts, per message.
#[derive(Clone, Debug, Default)]
pub struct IngestMetrics {
    /// Messages that reached ingestion with a valid write key (stored, duplicate or refused).
    pub received: Counter,
    /// Messages committed to the store.
    pub stored: Counter,
    /// Messages dropped because their `messageId` was already stored.
    pub duplicates: Counter,
    /// Messages refused, by the dead-letter reason code (`invalid_json`, `too_large`, …).
    pub refused: Family<ReasonLabel, Counter>,
    /// Whole requests turned away before any message was read (bad key, rate limit, full disk).
    pub requests_refused: Family<ReasonLabel, Counter>,
}

impl IngestMetrics {
    pub fn refuse(&self, reason: &str, messages: u64) {
        self.refused.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc_by(messages);
    }

    pub fn refuse_request(&self, reason: &str) {
        self.requests_refused.get_or_create(&ReasonLabel { reason: reason.to_string() }).inc();
    }
}

/// What the writer measures of each commit.
#[derive(Clone, Debug)]
pub struct CommitMetrics {
    /// Seconds from opening the transaction to its commit (what a sender waits beyond the queue).
    pub seconds: Histogram,
    /// Events in one commit (group commit gathers whatever queued up meanwhile).
    pub events: Histogram,
}

impl Default for CommitMetrics {
    fn default() -> Self {
        CommitMetrics {
            // 1 ms to about 16 s.
            seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            // 1 to about 65k events.
            events: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
        }
    }
}

/// What the live engine and the webhooks count.
#[derive(Clone, Debug, Default)]
pub struct AlertMetrics {
    /// Alerts raised, by rule id.
    pub raised: Family<RuleLabel, Counter>,
    /// Webhook delivery attempts by outcome (`delivered`, `retrying`, `dead`).
    pub deliveries: Family<OutcomeLabel, Counter>,
}

/// Event streams open now, by stream (`events`, `stages`, `alerts`).
#[derive(Clone, Debug, Default)]
pub struct StreamMetrics {
    pub clients: Family<StreamLabel, Gauge>,
}

/// States read when scraped: where the pipeline stands now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    pub write_queue_depth: usize,
    /// Committed events the event index has not taken in yet.
    pub index_lag_events: i64,
    /// Committed events the rule engine has not evaluated yet.
    pub engine_lag_events: i64,
    pub pending_timers: usize,
    pub active_rules: usize,
    pub index_ready: bool,
}

/// Every metric of one server, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub ingest: IngestMetrics,
    pub commits: CommitMetrics,
    pub alerts: AlertMetrics,
    pub streams: StreamMetrics,
    write_queue_depth: Gauge,
    index_lag: Gauge,
    engine_lag: Gauge,
    pending_timers: Gauge,
    active_rules: Gauge,
    index_ready: Gauge,
    file_bytes: Family<FileLabel, Gauge>,
    /// The database file whose size (and its write-ahead log's) is reported; none in memory.
    database: Option<PathBuf>,
}

impl Metrics {
    /// Every metric registered under the `wayline_` prefix, at zero. `database` is the DuckDB
    /// file, if the store is one.
    pub fn new(database: Option<&Path>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("wayline");
        let (ingest, commits, alerts, streams) =
            (IngestMetrics::default(), CommitMetrics::default(), AlertMetrics::default(), StreamMetrics::default());
        let gauge = Gauge::default;
        let (write_queue_depth, index_lag, engine_lag, pending_timers, active_rules, index_ready) =
            (gauge(), gauge(), gauge(), gauge(), gauge(), gauge());
        let file_bytes = Family::<FileLabel, Gauge>::default();
        // Every stream and delivery outcome from the start, at 0, so a dashboard has a series
        // to draw before the first client or the first webhook.
        for stream in ["events", "stages", "alerts"] {
            drop(streams.clients.get_or_create(&StreamLabel { stream }));
        }
        for outcome in ["delivered", "retrying", "dead"] {
            drop(alerts.deliveries.get_or_create(&OutcomeLabel { outcome }));
        }

        registry.register("build", "Wayline's version", Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }));
        let r = &mut registry;
        r.register("events_received", "Messages received with a valid write key", ingest.received.clone());
        r.register("events_stored", "Messages committed to the store", ingest.stored.clone());
        r.register(
            "events_duplicate",
            "Messages dropped as already stored (same messageId)",
            ingest.duplicates.clone(),
        );
        r.register("events_refused", "Messages refused and dead-lettered, by reason", ingest.refused.clone());
        r.register(
            "ingest_requests_refused",
            "Ingestion requests turned away before reading a message, by reason",
            ingest.requests_refused.clone(),
        );
        r.register_with_unit("commit", "Time to commit one group of writes", Unit::Seconds, commits.seconds.clone());
        r.register("commit_events", "Events per commit", commits.events.clone());
        r.register("write_queue_depth", "Write requests waiting for the writer", write_queue_depth.clone());
        r.register("index_lag_events", "Committed events the event index has not taken in", index_lag.clone());
        r.register("index_ready", "1 once the event index is loaded and questions are answered", index_ready.clone());
        r.register("engine_lag_events", "Committed events the rule engine has not evaluated", engine_lag.clone());
        r.register(
            "pending_timers",
            "Rule waits pending (sequence rules waiting for a deadline)",
            pending_timers.clone(),
        );
        r.register("active_rules", "Rules switched on", active_rules.clone());
        r.register("alerts_raised", "Alerts raised, by rule", alerts.raised.clone());
        r.register("webhook_deliveries", "Webhook delivery attempts, by outcome", alerts.deliveries.clone());
        r.register("sse_clients", "Event streams open, by stream", streams.clients.clone());
        r.register_with_unit(
            "database_file",
            "Size of the DuckDB file and its write-ahead log",
            Unit::Bytes,
            file_bytes.clone(),
        );

        Arc::new(Metrics {
            registry,
            ingest,
            commits,
            alerts,
            streams,
            write_queue_depth,
            index_lag,
            engine_lag,
            pending_timers,
            active_rules,
            index_ready,
            file_bytes,
            database: database.map(Path::to_path_buf),
        })
    }

    /// The exposition with `now`'s states filled in.
    pub fn render(&self, now: Sample) -> String {
        let as_gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.write_queue_depth.set(as_gauge(now.write_queue_depth));
        self.index_lag.set(now.index_lag_events.max(0));
        self.engine_lag.set(now.engine_lag_events.max(0));
        self.pending_timers.set(as_gauge(now.pending_timers));
        self.active_rules.set(as_gauge(now.active_rules));
        self.index_ready.set(i64::from(now.index_ready));
        if let Some(db) = &self.database {
            let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX));
            self.file_bytes.get_or_create(&FileLabel { file: "database" }).set(size(db));
            self.file_bytes.get_or_create(&FileLabel { file: "wal" }).set(size(&crate::store::wal_path(db)));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line `name` (with its labels, as encoded), if present.
    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_histograms_and_sampled_states_are_encoded_under_the_prefix() {
        let metrics = Metrics::new(None);
        metrics.ingest.received.inc_by(5);
        metrics.ingest.refuse("invalid_json", 2);
        metrics.commits.seconds.observe(0.003);
        metrics.commits.events.observe(3.0);
        metrics.alerts.raised.get_or_create(&RuleLabel { rule: "stuck".into() }).inc();
        let text = metrics.render(Sample {
            write_queue_depth: 7,
            index_lag_events: -1,
            index_ready: true,
            ..Sample::default()
        });
        assert_eq!(value(&text, "wayline_events_received_total"), Some(5.0));
        assert_eq!(value(&text, r#"wayline_events_refused_total{reason="invalid_json"}"#), Some(2.0));
        assert_eq!(value(&text, "wayline_commit_seconds_count"), Some(1.0));
        assert_eq!(value(&text, r#"wayline_commit_seconds_bucket{le="0.004"}"#), Some(1.0));
        assert_eq!(value(&text, r#"wayline_commit_seconds_bucket{le="0.002"}"#), Some(0.0));
        assert_eq!(value(&text, r#"wayline_alerts_raised_total{rule="stuck"}"#), Some(1.0));
        assert_eq!(value(&text, "wayline_write_queue_depth"), Some(7.0));
        // A lag is never negative, even when the two positions are read a moment apart.
        assert_eq!(value(&text, "wayline_index_lag_events"), Some(0.0));
        assert_eq!(value(&text, "wayline_index_ready"), Some(1.0));
        assert!(text.contains(r#"wayline_build_info{version=""#), "{text}");
        assert_eq!(value(&text, r#"wayline_sse_clients{stream="stages"}"#), Some(0.0), "present before any client");
        assert_eq!(value(&text, r#"wayline_webhook_deliveries_total{outcome="dead"}"#), Some(0.0));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_database_and_its_log_are_measured_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.duckdb");
        std::fs::write(&db, vec![0u8; 1234]).unwrap();
        let text = Metrics::new(Some(&db)).render(Sample::default());
        assert_eq!(value(&text, r#"wayline_database_file_bytes{file="database"}"#), Some(1234.0));
        assert_eq!(value(&text, r#"wayline_database_file_bytes{file="wal"}"#), Some(0.0));
    }
}
