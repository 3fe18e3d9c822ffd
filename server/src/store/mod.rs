//! The event store: one embedded DuckDB file. One writer thread appends in batches and
//! acknowledges only after commit; reads run on their own connections off the async executor.

mod dedup;
mod json_text;
mod migrations;
pub mod sql;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
pub use dedup::DEDUP_WINDOW;
pub use json_text::{value_of, value_text, JsonText};
pub use migrations::{migrate, MIGRATIONS};
pub use writer::{identity_link, CommitListener, WriterConfig};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DuckDB error: {0}")]
    Duckdb(#[from] duckdb::Error),
    #[error("could not create the data directory {path}: {source}; create it or pass another --db path")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("migration {version} failed: {source}")]
    Migration { version: i32, source: duckdb::Error },
    #[error(
        "the database was written by a newer Wayline (schema {found}, this build knows up to {known}); upgrade Wayline"
    )]
    NewerSchema { found: i32, known: i32 },
    #[error("the write queue is full; retry shortly")]
    QueueFull,
    #[error("the store is shutting down")]
    Closed,
    #[error("the write could not be committed: {0}")]
    WriteFailed(String),
    /// The disk holding the database (or its write-ahead log) is full: the commit failed and
    /// nothing of it was stored; it succeeds again once there is space.
    #[error("the disk holding the database is full ({0}); free space there, nothing of this write was stored")]
    DiskFull(String),
    /// DuckDB could not replay the write-ahead log at start-up: Wayline refuses to start rather
    /// than start without what the log holds.
    #[error(
        "could not replay the write-ahead log {wal}: {detail}. Nothing was changed. Run `wayline doctor --db {db}` \
         to check both files, then `wayline doctor --db {db} --repair` to keep a copy of them and replay the log up \
         to its damaged entry (what follows it is set aside)",
        wal = wal_path(db).display(),
        db = db.display()
    )]
    WalReplay { db: PathBuf, detail: String },
    #[error("a read task failed: {0}")]
    Task(String),
}

/// DuckDB's write-ahead log for the database file `db`: the same name with `.wal` appended.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".wal");
    PathBuf::from(name)
}

/// Why opening `db` failed, telling a log DuckDB could not replay from other errors.
pub fn opening_failed(db: &Path, error: duckdb::Error) -> StoreError {
    let detail = error.to_string();
    if detail.contains("replaying WAL") {
        StoreError::WalReplay { db: db.to_path_buf(), detail }
    } else {
        StoreError::Duckdb(error)
    }
}

/// Whether a failed write's message says the disk is full (out of space or over quota).
pub fn is_disk_full(message: &str) -> bool {
    message.contains("No space left on device") || message.contains("Disk quota exceeded")
}

/// An event as ingestion hands it to the store: validated and normalised, not yet numbered.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub message_id: String,
    pub source_id: String,
    /// Segment call type: track, page, screen, identify, group, alias.
    pub kind: String,
    pub name: Option<String>,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub original_timestamp: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub properties: Option<JsonText>,
    pub traits: Option<JsonText>,
    pub context: Option<JsonText>,
}

/// A committed event with its store-assigned sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: NewEvent,
}

pub use app::types::{DeadLetter, NewDeadLetter};

/// A registered source (a sending app or site). Its write key is only kept hashed.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    /// When its write key was revoked; refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything one transaction committed, in sequence order; what listeners are told.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedBatch {
    pub events: Vec<StoredEvent>,
    /// The requests among them whose path is traced (with `--otlp-endpoint`; else none).
    pub traced: Vec<crate::telemetry::Traced>,
}

impl CommittedBatch {
    /// Events committed by requests none of which is traced.
    pub fn of(events: Vec<StoredEvent>) -> Self {
        CommittedBatch { events, traced: Vec::new() }
    }
}

/// What one write request committed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteReceipt {
    /// Sequence numbers given to the request's events (empty range if it had none).
    pub first_seq: i64,
    /// Events stored.
    pub events: usize,
    /// Events not stored because their `messageId` was already stored for the source.
    pub duplicates: usize,
    pub dead_letters: usize,
}

/// A UTC time handed to DuckDB as microseconds. (duckdb-rs binds chrono times as text for
/// DuckDB to parse back; on the ingest path that formatting and parsing cost more than the
/// rest of the row.)
pub struct Micros(pub i64);

impl Micros {
    pub fn of(at: DateTime<Utc>) -> Self {
        Micros(at.timestamp_micros())
    }
}

impl duckdb::ToSql for Micros {
    fn to_sql(&self) -> duckdb::Result<duckdb::types::ToSqlOutput<'_>> {
        Ok(duckdb::types::ToSqlOutput::Owned(duckdb::types::Value::Timestamp(
            duckdb::types::TimeUnit::Microsecond,
            self.0,
        )))
    }
}

/// What a customer's identify calls said about who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerTraits {
    pub customer_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    writer: Mutex<Option<mpsc::Sender<writer::WriteRequest>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Read connections are cloned from this one; DuckDB shares the database between them.
    reader: Mutex<Connection>,
    clock: Clock,
    /// The writer's memory of linked anonymous ids (an erasure makes it forget).
    linked: writer::LinkedIds,
    dedup: writer::DedupGauge,
}

impl Store {
    /// Opens (creating if needed) the DuckDB file at `path`, applies migrations and starts
    /// the writer thread. `on_commit` is told about every committed batch, in order.
    pub fn open(path: &Path, config: WriterConfig, on_commit: CommitListener) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir { path: dir.to_path_buf(), source })?;
        }
        let conn = Connection::open(path).map_err(|e| opening_failed(path, e))?;
        Self::start(conn, config, on_commit, None)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory(config: WriterConfig, on_commit: CommitListener) -> Result<Self, StoreError> {
        Self::start(Connection::open_in_memory()?, config, on_commit, None)
    }

    /// A store on a file whose writer gets its message ids read back only when the test sends
    /// them, to see what it does before.
    #[cfg(test)]
    fn open_reading_back_from(
        path: &Path,
        config: WriterConfig,
        read_back: writer::ReadBack,
    ) -> Result<Self, StoreError> {
        Self::start(Connection::open(path)?, config, Box::new(|_| {}), Some(read_back))
    }

    fn start(
        mut conn: Connection,
        config: WriterConfig,
        on_commit: CommitListener,
        read_back: Option<writer::ReadBack>,
    ) -> Result<Self, StoreError> {
        let applied = migrate(&mut conn)?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied schema migrations");
        }
        let reader = conn.try_clone()?;
        let clock = config.clock.clone();
        let writer::Spawned { sender, thread, linked, dedup } = writer::spawn(conn, config, on_commit, read_back)?;
        Ok(Store {
            inner: Arc::new(StoreInner {
                writer: Mutex::new(Some(sender)),
                writer_thread: Mutex::new(Some(thread)),
                reader: Mutex::new(reader),
                clock,
                linked,
                dedup,
            }),
        })
    }

    /// Write requests waiting for the writer (each answered after its commit): how far the
    /// writer is behind, for the status endpoint and the soak.
    pub fn queued_writes(&self) -> usize {
        let guard = self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref().map_or(0, |sender| sender.max_capacity() - sender.capacity())
    }

    /// Message ids the writer remembers to refuse a resent message (the last seven days'), and
    /// the bytes they take, as of its last commit (with those read back at start and not yet
    /// taken in, which wait for its next commit).
    pub fn remembered_message_ids(&self) -> (usize, usize) {
        self.inner.dedup.remembered()
    }

    /// Whether the message ids of the last days have been read back since the store opened
    /// (a thread of its own reads them, 20-45 s at 100M events; the benchmarks wait for it
    /// so that it does not share the cores with the questions they time).
    pub fn message_ids_read_back(&self) -> bool {
        self.inner.dedup.read_back_ended()
    }

    /// The clock this store dates its records by; the services built on the store share it.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Queues events and dead letters for the writer and waits until they are committed.
    /// Answers [`StoreError::QueueFull`] at once when the queue is full: callers must tell
    /// their sender to retry, never drop.
    pub async fn write(
        &self,
        events: Vec<NewEvent>,
        dead_letters: Vec<NewDeadLetter>,
    ) -> Result<WriteReceipt, StoreError> {
        self.submit(events, dead_letters, None).await
    }

    /// Writes the events that replace dead letter `id` and marks it replayed, in one commit.
    pub async fn write_replay(&self, events: Vec<NewEvent>, id: i64) -> Result<WriteReceipt, StoreError> {
        self.submit(events, Vec::new(), Some(id)).await
    }

    async fn submit(
        &self,
        events: Vec<NewEvent>,
        dead_letters: Vec<NewDeadLetter>,
        replays: Option<i64>,
    ) -> Result<WriteReceipt, StoreError> {
        let (ack, committed) = oneshot::channel();
        let request =
            writer::WriteRequest { events, dead_letters, replays, ack, cause: crate::telemetry::Cause::current() };
        {
            let guard = self.inner.writer.lock().map_err(|_| StoreError::Closed)?;
            let sender = guard.as_ref().ok_or(StoreError::Closed)?;
            sender.try_send(request).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        }
        committed.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops taking writes, lets the writer commit what is queued, checkpoints and waits for it.
    pub async fn close(&self) {
        if let Ok(mut writer) = self.inner.writer.lock() {
            writer.take();
        }
        let thread = self.inner.writer_thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// A fresh read connection, for work that must run synchronously on a blocking thread.
    pub fn read_connection(&self) -> Result<Connection, StoreError> {
        let template = self.inner.reader.lock().map_err(|_| StoreError::Closed)?;
        Ok(template.try_clone()?)
    }

    /// Runs the query `f` on a fresh connection on the blocking pool.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.on_own_connection(f).await
    }

    /// Runs the change `f` (to rules, alerts, accounts, sources…, or an erasure) on a fresh
    /// connection on the blocking pool. Events and dead letters never come this way: they go
    /// through the one writer ([`Store::write`]), which numbers and acknowledges them.
    pub async fn change<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.on_own_connection(f).await
    }

    async fn on_own_connection<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = {
            let template = self.inner.reader.lock().map_err(|_| StoreError::Closed)?;
            template.try_clone()?
        };
        tokio::task::spawn_blocking(move || f(&conn)).await.map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The newest `limit` events, newest first.
    pub async fn recent_events(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |conn| select_events(conn, sql::EVENTS_SELECT_RECENT, params![limit as i64])).await
    }

    /// The bytes DuckDB holds in memory for this database.
    pub async fn duckdb_memory_bytes(&self) -> Result<i64, StoreError> {
        self.read(|conn| Ok(conn.query_row(sql::MEMORY_BYTES, [], |row| row.get(0))?)).await
    }

    /// Up to `limit` events committed after `seq`, oldest first.
    pub async fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |conn| select_events(conn, sql::EVENTS_SELECT_AFTER, params![seq, limit as i64])).await
    }

    /// The newest `limit` dead letters, newest first.
    pub async fn recent_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(sql::DEAD_LETTERS_SELECT_RECENT)?;
            let rows = stmt.query_map(params![limit as i64], dead_letter_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// One dead letter, if it exists.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(sql::DEAD_LETTERS_SELECT_ONE)?;
            let mut rows = stmt.query_map(params![id], dead_letter_row)?;
            Ok(rows.next().transpose()?)
        })
        .await
    }

    /// Registers a source. Runs beside the event writer: sources are rare admin writes.
    pub async fn insert_source(&self, source: SourceRecord) -> Result<(), StoreError> {
        self.change(move |conn| {
            conn.execute(
                sql::SOURCES_INSERT,
                params![source.id, source.name, source.key_hash, source.created_at.naive_utc()],
            )?;
            Ok(())
        })
        .await
    }

    /// Every registered source.
    /// Marks a source's write key revoked; false when there is no such source, or it was
    /// revoked before.
    pub async fn revoke_source(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.change(move |conn| Ok(conn.execute(sql::SOURCES_REVOKE, params![id, at.naive_utc()])? == 1)).await
    }

    pub async fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(sql::SOURCES_SELECT_ALL)?;
            let rows = stmt.query_map([], |row| {
                Ok(SourceRecord {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    key_hash: row.get(2)?,
                    created_at: row.get::<_, NaiveDateTime>(3)?.and_utc(),
                    revoked_at: row.get::<_, Option<NaiveDateTime>>(4)?.map(|at| at.and_utc()),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Every stored journey as (name, JSON definition).
    pub async fn journeys(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(sql::JOURNEYS_SELECT_ALL)?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Creates or replaces a journey's JSON definition.
    pub async fn upsert_journey(&self, name: String, definition: String) -> Result<(), StoreError> {
        let now = self.clock().now();
        self.change(move |conn| {
            conn.execute(sql::JOURNEYS_UPSERT, params![name, definition, Micros::of(now)])?;
            Ok(())
        })
        .await
    }

    /// The customer id an identity belongs to (the linked user id, or the id itself).
    pub async fn resolve_customer(&self, id: &str) -> Result<String, StoreError> {
        let id = id.to_string();
        self.read(move |conn| Ok(conn.query_row(sql::IDENTITY_RESOLVE_CUSTOMER, params![id], |row| row.get(0))?)).await
    }

    /// Customers whose id or identify traits contain `text`: (customer id, latest traits as
    /// JSON text), most recently seen first, at most 50.
    pub async fn search_customers(&self, text: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let text = text.trim().to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare(sql::CUSTOMERS_SEARCH)?;
            let rows = stmt.query_map(params![text], |row| Ok((row.get(0)?, row.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The latest `name` and `email` traits of each listed customer that gave any, by id.
    pub async fn customer_traits(&self, ids: &[String]) -> Result<Vec<CustomerTraits>, StoreError> {
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        self.read(move |conn| {
            let mut stmt = conn.prepare(sql::CUSTOMERS_TRAITS)?;
            let rows = stmt.query_map(params![ids], |row| {
                Ok(CustomerTraits { customer_id: row.get(0)?, name: row.get(1)?, email: row.get(2)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Deletes, in one transaction, every row that names any of `ids`: events, identity links,
    /// dead letters naming them, their alerts and those alerts' webhook deliveries; then
    /// checkpoints, so the deleted rows leave the write-ahead log too. Returns the rows deleted
    /// per table.
    pub async fn erase_identities(&self, ids: Vec<String>) -> Result<Vec<(&'static str, usize)>, StoreError> {
        let linked = self.inner.linked.clone();
        self.change(move |conn| {
            let erased = delete_in_one_transaction(conn, &sql::ERASURE_STATEMENTS, |stmt| {
                ids.iter().try_fold(0, |rows, id| Ok(rows + stmt.execute(params![id])?))
            })?;
            // The links are gone: the writer links a returning anonymous id afresh.
            if let Ok(mut linked) = linked.lock() {
                for id in &ids {
                    linked.remove(id);
                }
            }
            Ok(erased)
        })
        .await
    }

    /// Deletes what retention lets go before `cutoff`: events that happened before it, dead
    /// letters received before it, resolved alerts last changed before it and delivery logs.
    /// Returns the rows deleted per table.
    pub async fn delete_older(&self, cutoff: DateTime<Utc>) -> Result<Vec<(&'static str, usize)>, StoreError> {
        self.change(move |conn| {
            delete_in_one_transaction(conn, &sql::RETENTION_STATEMENTS, |stmt| {
                stmt.execute(params![cutoff.naive_utc()])
            })
        })
        .await
    }

    /// Rows anywhere that still name `id` (0 once it is erased).
    pub async fn rows_naming(&self, id: &str) -> Result<i64, StoreError> {
        let id = id.to_string();
        self.read(move |conn| Ok(conn.query_row(sql::ERASURE_REMAINING, params![id], |row| row.get(0))?)).await
    }

    /// Every identity (anonymous or user id) of the customer known by `id`.
    pub async fn customer_ids(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare(sql::IDENTITY_CUSTOMER_IDS)?;
            let rows = stmt.query_map(params![id], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// Runs `statements` (each through `run`, which returns the rows it deleted) in one
/// transaction, then checkpoints so that the deleted rows leave the write-ahead log too.
fn delete_in_one_transaction(
    conn: &Connection,
    statements: &[(&'static str, &'static str)],
    run: impl Fn(&mut duckdb::Statement<'_>) -> Result<usize, duckdb::Error>,
) -> Result<Vec<(&'static str, usize)>, StoreError> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let deleted = statements
        .iter()
        .map(|(table, statement)| Ok((*table, run(&mut conn.prepare(statement)?)?)))
        .collect::<Result<Vec<_>, duckdb::Error>>();
    match deleted {
        Ok(deleted) => {
            conn.execute_batch("COMMIT")?;
            // Best effort: a checkpoint fails while the writer is mid-commit; the next one
            // (at the latest on shutdown) folds the deletion in then.
            if let Err(e) = conn.execute_batch(sql::CHECKPOINT) {
                tracing::info!(error = %e, "no checkpoint right after the deletion; the next one folds it in");
            }
            Ok(deleted)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

fn dead_letter_row(row: &duckdb::Row<'_>) -> duckdb::Result<DeadLetter> {
    Ok(DeadLetter {
        id: row.get(0)?,
        letter: NewDeadLetter {
            source_id: row.get(1)?,
            received_at: row.get::<_, NaiveDateTime>(2)?.and_utc(),
            reason_code: row.get(3)?,
            reason: row.get(4)?,
            payload: row.get(5)?,
            call_type: row.get(6)?,
        },
        replayed_at: row.get::<_, Option<NaiveDateTime>>(7)?.map(|t| t.and_utc()),
    })
}

fn select_events(
    conn: &Connection,
    query: &str,
    params: &[&dyn duckdb::ToSql],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare(query)?;
    let rows = stmt.query_map(params, |row| {
        let json = |i: usize| -> duckdb::Result<Option<JsonText>> {
            let text: Option<String> = row.get(i)?;
            Ok(text.and_then(|t| JsonText::parse(t).ok()))
        };
        Ok(StoredEvent {
            seq: row.get(0)?,
            event: NewEvent {
                message_id: row.get(1)?,
                source_id: row.get(2)?,
                kind: row.get(3)?,
                name: row.get(4)?,
                anonymous_id: row.get(5)?,
                user_id: row.get(6)?,
                timestamp: row.get::<_, NaiveDateTime>(7)?.and_utc(),
                received_at: row.get::<_, NaiveDateTime>(8)?.and_utc(),
                properties: json(9)?,
                context: json(10)?,
                traits: json(11)?,
                // Not needed by the feed; the full row stays in DuckDB.
                original_timestamp: None,
                sent_at: None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
