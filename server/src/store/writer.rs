//! The single writer: drains the queue, appends a group of requests in one transaction
//! (group commit), then tells the listener and acknowledges each request. Being the only
//! writer makes it the one place where duplicates and identity links are decided.

use std::{
    borrow::Cow,
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
};

use duckdb::{params, Appender, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;

use super::{
    dedup::{Deduper, DEDUP_WINDOW},
    sql, CommittedBatch, JsonText, Micros, NewDeadLetter, NewEvent, StoreError, StoredEvent, WriteReceipt,
};

/// Called on the writer thread after each commit, in commit order. Keep it quick.
pub type CommitListener = Box<dyn Fn(Arc<CommittedBatch>) + Send + 'static>;

/// Tuning for the writer, and the clock it dates its work by.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Requests that may wait in the queue before writers are told to retry.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub max_group_events: usize,
    /// Decides which message ids are still inside the deduplication window.
    pub clock: Clock,
    /// Write-ahead log size, in KiB, at which DuckDB folds the log into the file.
    pub checkpoint_kib: u32,
    /// DuckDB's memory limit, in MiB (for the whole database, not only this connection).
    pub duckdb_memory_mib: u32,
    /// Where each commit's time and size are counted, for `/metrics`.
    pub metrics: crate::metrics::CommitMetrics,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 1024,
            max_group_events: 20_000,
            clock: Clock::system(),
            checkpoint_kib: crate::config::DEFAULT_CHECKPOINT_KIB,
            duckdb_memory_mib: crate::config::DEFAULT_DUCKDB_MEMORY_MIB,
            metrics: crate::metrics::CommitMetrics::default(),
        }
    }
}

/// A request's events, dead letters and the dead letter it replays, as the writer appends them.
type RequestParts = (Vec<NewEvent>, Vec<NewDeadLetter>, Option<i64>);

pub(super) struct WriteRequest {
    pub events: Vec<NewEvent>,
    pub dead_letters: Vec<NewDeadLetter>,
    /// A dead letter this request replays; marked replayed in the same commit.
    pub replays: Option<i64>,
    pub ack: oneshot::Sender<Result<WriteReceipt, StoreError>>,
    /// The request's place in its trace, when its events' path is traced.
    pub cause: crate::telemetry::Cause,
}

/// The anonymous ids the table links to a user.
fn linked_anonymous_ids(conn: &Connection) -> Result<HashSet<String>, StoreError> {
    Ok(conn
        .prepare(sql::IDENTITY_LINKED_ANONYMOUS_IDS)?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<HashSet<_>, _>>()?)
}

/// The anonymous ids already linked to a user: the writer inserts each link once. Shared with
/// the store so that an erasure, which deletes links, makes the writer forget them too.
pub(super) type LinkedIds = Arc<std::sync::Mutex<HashSet<String>>>;

pub(super) struct Spawned {
    pub sender: mpsc::Sender<WriteRequest>,
    pub thread: std::thread::JoinHandle<()>,
    pub linked: LinkedIds,
    /// What the deduplication memory holds: ids remembered and their bytes, after each commit.
    pub dedup: DedupGauge,
}

/// The deduplication memory's size as last seen by the writer (ids, bytes), for the status.
#[derive(Default)]
pub struct DedupSize {
    pub ids: AtomicUsize,
    pub bytes: AtomicUsize,
    /// The ids read back at start, until the writer takes them in at its next commit: an idle
    /// server holds them too.
    read_back_ids: AtomicUsize,
    read_back_bytes: AtomicUsize,
    /// Reading the ids back has ended (with them or with an error): until then a thread of
    /// its own reads the store, beside whatever the server is asked.
    read_back_ended: AtomicBool,
}

impl DedupSize {
    /// Ids remembered and their bytes, counting those read back and not yet taken in.
    pub fn remembered(&self) -> (usize, usize) {
        let load = |n: &AtomicUsize| n.load(Ordering::Relaxed);
        (load(&self.ids) + load(&self.read_back_ids), load(&self.bytes) + load(&self.read_back_bytes))
    }

    /// Whether reading the ids back at start has ended.
    pub fn read_back_ended(&self) -> bool {
        self.read_back_ended.load(Ordering::Acquire)
    }

    fn set_read_back(&self, ids: usize, bytes: usize) {
        self.read_back_ids.store(ids, Ordering::Relaxed);
        self.read_back_bytes.store(bytes, Ordering::Relaxed);
    }
}

pub(super) type DedupGauge = Arc<DedupSize>;

/// Starts the writer. The message ids of the last days are read back from the store on a
/// thread of their own, unless `read_back` hands them in (tests hold them back).
pub(super) fn spawn(
    conn: Connection,
    config: WriterConfig,
    on_commit: CommitListener,
    read_back: Option<ReadBack>,
) -> Result<Spawned, StoreError> {
    conn.execute_batch(&sql::writer_settings(config.checkpoint_kib, config.duckdb_memory_mib))?;
    let next_seq = conn.query_row(sql::EVENTS_MAX_SEQ, [], |r| r.get::<_, i64>(0))? + 1;
    let next_dead_letter = conn.query_row(sql::DEAD_LETTERS_MAX_ID, [], |r| r.get::<_, i64>(0))? + 1;
    let linked = linked_anonymous_ids(&conn)?;
    tracing::info!(identity_links = linked.len(), "writer state loaded");
    let dedup = DedupGauge::default();
    let (read_back, read_back_thread) = match read_back {
        Some(handed_in) => (handed_in, None),
        None => {
            let (read_back, thread) = read_back_in_background(conn.try_clone()?, config.clock.clone(), dedup.clone())?;
            (read_back, Some(thread))
        }
    };
    let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
    let linked: LinkedIds = Arc::new(std::sync::Mutex::new(linked));
    let mut writer = Writer {
        conn,
        next_seq,
        next_dead_letter,
        config,
        on_commit,
        seen: Deduper::default(),
        recall: Recall::ReadingBack(read_back),
        read_back_thread,
        linked: linked.clone(),
        dedup: dedup.clone(),
    };
    writer.publish_dedup_size();
    let thread = std::thread::Builder::new()
        .name("wayline-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|e| StoreError::WriteFailed(format!("could not start the writer thread: {e}")))?;
    Ok(Spawned { sender, thread, linked, dedup })
}

/// The thread reading message ids back: stopped and waited for when the writer stops, so that
/// no connection to the file outlives the store's close.
struct ReadBackThread {
    thread: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    interrupt: Arc<duckdb::InterruptHandle>,
}

impl ReadBackThread {
    fn stop_and_wait(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.interrupt.interrupt();
        let _ = self.thread.join();
    }
}

/// The message ids of the last days, as the store holds them, read back on a thread of their
/// own: at 100M events that is some 24M ids and 15-20 s, which ingestion does not wait for.
fn read_back_in_background(
    conn: Connection,
    clock: Clock,
    gauge: DedupGauge,
) -> Result<(ReadBack, ReadBackThread), StoreError> {
    let (done, read_back) = std::sync::mpsc::sync_channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = conn.interrupt_handle();
    let stopped = stop.clone();
    let thread = std::thread::Builder::new()
        .name("wayline-message-ids".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let loaded = load_recent_message_ids(&conn, &clock, &stopped);
            if let Ok(seen) = &loaded {
                let ms = started.elapsed().as_millis() as u64;
                tracing::info!(remembered_message_ids = seen.len(), ms, "message ids read back");
                gauge.set_read_back(seen.len(), seen.approximate_bytes());
            }
            gauge.read_back_ended.store(true, Ordering::Release);
            let _ = done.send(loaded);
        })
        .map_err(|e| StoreError::WriteFailed(format!("could not start reading message ids back: {e}")))?;
    Ok((read_back, ReadBackThread { thread, stop, interrupt }))
}

/// The message ids received within the window, unless `stop` is set first.
pub(super) fn load_recent_message_ids(
    conn: &Connection,
    clock: &Clock,
    stop: &AtomicBool,
) -> Result<Deduper, StoreError> {
    let now = clock.now();
    let since = (now - DEDUP_WINDOW).naive_utc();
    let mut seen = Deduper::default();
    let mut stmt = conn.prepare(sql::EVENTS_RECENT_MESSAGE_IDS)?;
    let mut rows = stmt.query(params![since])?;
    while let Some(row) = rows.next()? {
        if stop.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let source: String = row.get(0)?;
        let message: String = row.get(1)?;
        seen.insert(&source, &message, now);
    }
    Ok(seen)
}

/// The anonymous (or earlier) id and the user id an event links, if any: `alias` links its
/// `previousId`; any other event carrying both ids links its anonymous id.
pub fn identity_link(event: &NewEvent) -> Option<(Cow<'_, str>, &str)> {
    let user = event.user_id.as_deref()?;
    let earlier = if event.kind == "alias" {
        // Rare: only alias calls pay for parsing their properties.
        return match super::value_of(&event.properties).get("previousId").and_then(|v| v.as_str()) {
            Some(previous) if previous != user => Some((Cow::Owned(previous.to_string()), user)),
            _ => None,
        };
    } else {
        event.anonymous_id.as_deref()
    }?;
    (earlier != user).then_some((Cow::Borrowed(earlier), user))
}

/// Where the message ids read back at start arrive.
pub(super) type ReadBack = std::sync::mpsc::Receiver<Result<Deduper, StoreError>>;

/// Whether the writer's memory of message ids holds everything the store holds.
enum Recall {
    /// The ids are still being read back: until they arrive, each commit asks the store about
    /// its own ids.
    ReadingBack(ReadBack),
    /// Reading them back failed: every commit asks the store, which is slower but as exact.
    AskTheStore,
    Whole,
}

struct Writer {
    conn: Connection,
    next_seq: i64,
    next_dead_letter: i64,
    config: WriterConfig,
    on_commit: CommitListener,
    /// The message ids of the last days; during [`Recall::ReadingBack`], only those the writer
    /// stored or found in the store since it started.
    seen: Deduper,
    recall: Recall,
    read_back_thread: Option<ReadBackThread>,
    linked: LinkedIds,
    dedup: DedupGauge,
}

/// What one group changed in the writer's memory, to undo if its transaction fails.
#[derive(Default)]
struct Undo {
    seen: Vec<(String, String)>,
    linked: Vec<String>,
}

impl Writer {
    fn publish_dedup_size(&self) {
        self.dedup.ids.store(self.seen.len(), Ordering::Relaxed);
        self.dedup.bytes.store(self.seen.approximate_bytes(), Ordering::Relaxed);
    }

    /// Reads the linked anonymous ids from the table again, after a commit carrying links
    /// failed: an erasure deleting a customer's links while this writer's transaction adds
    /// one of them leaves a link the writer's memory no longer holds, and appending it again
    /// would fail every later commit carrying it. Relearnt, only the one commit failed (its
    /// senders are answered with the error and send again).
    fn relearn_links(&mut self) {
        match linked_anonymous_ids(&self.conn) {
            Ok(ids) => {
                if let Ok(mut linked) = self.linked.lock() {
                    *linked = ids;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the identity links again"),
        }
    }

    /// Takes the ids read back at start in, once they have arrived.
    fn take_read_back(&mut self) {
        let Recall::ReadingBack(read_back) = &self.recall else { return };
        let arrived = match read_back.try_recv() {
            Err(std::sync::mpsc::TryRecvError::Empty) => return,
            Ok(arrived) => arrived,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(StoreError::Closed),
        };
        if let Some(finished) = self.read_back_thread.take() {
            let _ = finished.thread.join();
        }
        // Handed in (tests), no thread said so.
        self.dedup.read_back_ended.store(true, Ordering::Release);
        self.recall = match arrived {
            Ok(mut read_back) => {
                read_back.absorb(std::mem::take(&mut self.seen));
                self.seen = read_back;
                self.publish_dedup_size();
                self.dedup.set_read_back(0, 0);
                Recall::Whole
            }
            Err(e) => {
                tracing::error!(error = %e, "could not read message ids back; each commit asks the store instead");
                Recall::AskTheStore
            }
        };
    }

    /// While the memory is not whole, the ids of this group that the store already holds are
    /// remembered first, so that they count as duplicates.
    fn recall_stored(&mut self, requests: &[RequestParts]) -> Result<(), StoreError> {
        if matches!(self.recall, Recall::Whole) {
            return Ok(());
        }
        let asked: Vec<_> = requests
            .iter()
            .flat_map(|(events, _, _)| events)
            .map(|e| serde_json::json!({"source_id": e.source_id, "message_id": e.message_id}))
            .collect();
        if asked.is_empty() {
            return Ok(());
        }
        let now = self.config.clock.now();
        let since = (now - DEDUP_WINDOW).naive_utc();
        let mut stmt = self.conn.prepare_cached(sql::EVENTS_STORED_MESSAGE_IDS)?;
        let mut rows = stmt.query(params![serde_json::Value::Array(asked).to_string(), since])?;
        while let Some(row) = rows.next()? {
            let (source, message): (String, String) = (row.get(0)?, row.get(1)?);
            self.seen.insert(&source, &message, now);
        }
        Ok(())
    }

    fn run(&mut self, mut queue: mpsc::Receiver<WriteRequest>) {
        while let Some(first) = queue.blocking_recv() {
            let mut group = vec![first];
            let mut size = group[0].events.len();
            // Whatever queued up while the last commit ran goes into this one.
            while size < self.config.max_group_events {
                match queue.try_recv() {
                    Ok(request) => {
                        size += request.events.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        if let Some(reading) = self.read_back_thread.take() {
            reading.stop_and_wait();
        }
        if let Err(e) = self.conn.execute_batch(sql::CHECKPOINT) {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        tracing::info!("writer drained its queue and stopped");
    }

    fn commit_group(&mut self, group: Vec<WriteRequest>) {
        self.take_read_back();
        let (seq_before, dead_before) = (self.next_seq, self.next_dead_letter);
        let mut undo = Undo::default();
        let mut acks = Vec::with_capacity(group.len());
        let mut requests = Vec::with_capacity(group.len());
        let mut causes = Vec::with_capacity(group.len());
        let events = group.iter().map(|r| r.events.len() as i64).sum::<i64>();
        for request in group {
            acks.push(request.ack);
            requests.push((request.events, request.dead_letters, request.replays));
            causes.push(request.cause);
        }
        // Each traced request gets a span for the transaction it shares with the others.
        let commits: Vec<tracing::Span> = causes
            .iter()
            .filter(|c| c.is_traced())
            .map(|cause| crate::path_span!(cause, "store.commit", events))
            .collect();
        let started = std::time::Instant::now();
        let appended = self.append_all(requests, &mut undo);
        drop(commits);
        match appended {
            Ok((stored, receipts)) => {
                self.config.metrics.seconds.observe(started.elapsed().as_secs_f64());
                self.config.metrics.events.observe(stored.len() as f64);
                let traced = causes
                    .into_iter()
                    .zip(&receipts)
                    .filter(|(cause, receipt)| cause.is_traced() && receipt.events > 0)
                    .map(|(cause, receipt)| {
                        let seqs = receipt.first_seq..receipt.first_seq + receipt.events as i64;
                        crate::telemetry::Traced { seqs, cause }
                    })
                    .collect();
                // Listeners first: once a sender has its answer, every stream has the event.
                if !stored.is_empty() {
                    (self.on_commit)(Arc::new(CommittedBatch { events: stored, traced }));
                }
                self.publish_dedup_size();
                for (ack, receipt) in acks.into_iter().zip(receipts) {
                    let _ = ack.send(Ok(receipt));
                }
            }
            Err(e) => {
                (self.next_seq, self.next_dead_letter) = (seq_before, dead_before);
                for (source, message) in &undo.seen {
                    self.seen.forget(source, message);
                }
                if let Ok(mut linked) = self.linked.lock() {
                    for anonymous in &undo.linked {
                        linked.remove(anonymous);
                    }
                }
                let message = e.to_string();
                let disk_full = super::is_disk_full(&message);
                if !disk_full && !undo.linked.is_empty() {
                    self.relearn_links();
                }
                if disk_full {
                    tracing::error!(
                        error = %e,
                        "the disk holding the database is full: senders are answered 503 with Retry-After \
                         until space is freed; nothing acknowledged is lost"
                    );
                } else {
                    tracing::error!(error = %e, "write transaction failed");
                }
                for ack in acks {
                    let error = if disk_full {
                        StoreError::DiskFull(message.clone())
                    } else {
                        StoreError::WriteFailed(message.clone())
                    };
                    let _ = ack.send(Err(error));
                }
            }
        }
    }

    fn append_all(
        &mut self,
        requests: Vec<RequestParts>,
        undo: &mut Undo,
    ) -> Result<(Vec<StoredEvent>, Vec<WriteReceipt>), StoreError> {
        self.recall_stored(&requests)?;
        let now = self.config.clock.now();
        let tx = self.conn.transaction()?;
        let mut stored = Vec::new();
        let mut receipts = Vec::with_capacity(requests.len());
        {
            let mut events = tx.appender("events")?;
            let mut properties = tx.appender("event_properties")?;
            let mut dead_letters = tx.appender("dead_letters")?;
            // Appended, not inserted row by row: a statement executed per identify was planned
            // again every time (7 % of the server's CPU in a soak profile). `linked` holds the
            // anonymous ids the table holds (loaded at start, forgotten by an erasure, a failed
            // commit's taken out again), so a link is appended once; should the two ever
            // differ, the failed commit makes the writer read them again (`relearn_links`).
            let mut links = tx.appender("identity_links")?;
            let mut mark_replayed = tx.prepare_cached(sql::DEAD_LETTERS_MARK_REPLAYED)?;
            for (request_events, request_letters, replays) in requests {
                let first_seq = self.next_seq;
                let mut receipt = WriteReceipt { first_seq, ..WriteReceipt::default() };
                for event in request_events {
                    if !self.seen.insert(&event.source_id, &event.message_id, now) {
                        receipt.duplicates += 1;
                        continue;
                    }
                    undo.seen.push((event.source_id.clone(), event.message_id.clone()));
                    append_event(&mut events, &mut properties, self.next_seq, &event)?;
                    if let Some((earlier, user)) = identity_link(&event) {
                        let mut linked = self.linked.lock().map_err(|_| StoreError::Closed)?;
                        if !linked.contains(earlier.as_ref()) {
                            links.append_row(params![
                                earlier.as_ref(),
                                user,
                                Micros::of(event.timestamp),
                                self.next_seq
                            ])?;
                            linked.insert(earlier.to_string());
                            undo.linked.push(earlier.into_owned());
                        }
                    }
                    stored.push(StoredEvent { seq: self.next_seq, event });
                    self.next_seq += 1;
                    receipt.events += 1;
                }
                for letter in &request_letters {
                    append_dead_letter(&mut dead_letters, self.next_dead_letter, letter)?;
                    self.next_dead_letter += 1;
                    receipt.dead_letters += 1;
                }
                if let Some(id) = replays {
                    mark_replayed.execute(params![now.naive_utc(), id])?;
                }
                receipts.push(receipt);
            }
            events.flush()?;
            properties.flush()?;
            dead_letters.flush()?;
            links.flush()?;
        }
        tx.commit()?;
        Ok((stored, receipts))
    }
}

/// The event's row, and a row per top-level property (see migration 10).
fn append_event(
    appender: &mut Appender<'_>,
    properties: &mut Appender<'_>,
    seq: i64,
    e: &NewEvent,
) -> Result<(), StoreError> {
    for (key, value) in e.properties.as_ref().map(JsonText::top_level_texts).unwrap_or_default() {
        properties.append_row(params![seq, key, value])?;
    }
    appender.append_row(params![
        seq,
        e.message_id,
        e.source_id,
        e.kind,
        e.name,
        e.anonymous_id,
        e.user_id,
        Micros::of(e.timestamp),
        e.original_timestamp.map(Micros::of),
        e.sent_at.map(Micros::of),
        Micros::of(e.received_at),
        e.properties.as_ref().map(JsonText::as_str),
        e.traits.as_ref().map(JsonText::as_str),
        e.context.as_ref().map(JsonText::as_str),
    ])?;
    Ok(())
}

fn append_dead_letter(appender: &mut Appender<'_>, id: i64, d: &NewDeadLetter) -> Result<(), StoreError> {
    appender.append_row(params![
        id,
        d.source_id,
        Micros::of(d.received_at),
        d.reason_code,
        d.reason,
        d.payload,
        d.call_type,
        None::<chrono::NaiveDateTime>,
    ])?;
    Ok(())
}
