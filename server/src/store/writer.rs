//! The single writer: drains the queue, appends a group of requests in one transaction
//! (group commit), then acknowledges each request and tells the listener.

use std::sync::Arc;

use duckdb::{params, Appender, Connection};
use tokio::sync::{mpsc, oneshot};

use super::{sql, CommittedBatch, NewDeadLetter, NewEvent, StoreError, StoredEvent, WriteReceipt};

/// Called on the writer thread after each commit, in commit order. Keep it quick.
pub type CommitListener = Box<dyn Fn(Arc<CommittedBatch>) + Send + 'static>;

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Requests that may wait in the queue before writers are told to retry.
    pub queue_capacity: usize,
    /// Most events committed in one transaction.
    pub max_group_events: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 1024,
            max_group_events: 20_000,
        }
    }
}

pub(super) struct WriteRequest {
    pub events: Vec<NewEvent>,
    pub dead_letters: Vec<NewDeadLetter>,
    pub ack: oneshot::Sender<Result<WriteReceipt, StoreError>>,
}

pub(super) fn spawn(
    conn: Connection,
    config: WriterConfig,
    on_commit: CommitListener,
) -> Result<(mpsc::Sender<WriteRequest>, std::thread::JoinHandle<()>), StoreError> {
    let next_seq = conn.query_row(sql::EVENTS_MAX_SEQ, [], |r| r.get::<_, i64>(0))? + 1;
    let next_dead_letter =
        conn.query_row(sql::DEAD_LETTERS_MAX_ID, [], |r| r.get::<_, i64>(0))? + 1;
    let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
    let mut writer = Writer {
        conn,
        next_seq,
        next_dead_letter,
        config,
        on_commit,
    };
    let thread = std::thread::Builder::new()
        .name("wayline-writer".into())
        .spawn(move || writer.run(receiver))
        .map_err(|e| StoreError::WriteFailed(format!("could not start the writer thread: {e}")))?;
    Ok((sender, thread))
}

struct Writer {
    conn: Connection,
    next_seq: i64,
    next_dead_letter: i64,
    config: WriterConfig,
    on_commit: CommitListener,
}

impl Writer {
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
        if let Err(e) = self.conn.execute_batch(sql::CHECKPOINT) {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        tracing::info!("writer drained its queue and stopped");
    }

    fn commit_group(&mut self, group: Vec<WriteRequest>) {
        let (seq_before, dead_before) = (self.next_seq, self.next_dead_letter);
        match self.append_all(&group) {
            Ok((stored, receipts)) => {
                // Listeners first: once a sender has its answer, every stream has the event.
                if !stored.is_empty() {
                    (self.on_commit)(Arc::new(CommittedBatch { events: stored }));
                }
                for (request, receipt) in group.into_iter().zip(receipts) {
                    let _ = request.ack.send(Ok(receipt));
                }
            }
            Err(e) => {
                (self.next_seq, self.next_dead_letter) = (seq_before, dead_before);
                tracing::error!(error = %e, "write transaction failed");
                let message = e.to_string();
                for request in group {
                    let _ = request
                        .ack
                        .send(Err(StoreError::WriteFailed(message.clone())));
                }
            }
        }
    }

    fn append_all(
        &mut self,
        group: &[WriteRequest],
    ) -> Result<(Vec<StoredEvent>, Vec<WriteReceipt>), StoreError> {
        let tx = self.conn.transaction()?;
        let mut stored = Vec::new();
        let mut receipts = Vec::with_capacity(group.len());
        {
            let mut events = tx.appender("events")?;
            let mut dead_letters = tx.appender("dead_letters")?;
            for request in group {
                let first_seq = self.next_seq;
                for event in &request.events {
                    append_event(&mut events, self.next_seq, event)?;
                    stored.push(StoredEvent {
                        seq: self.next_seq,
                        event: event.clone(),
                    });
                    self.next_seq += 1;
                }
                for letter in &request.dead_letters {
                    append_dead_letter(&mut dead_letters, self.next_dead_letter, letter)?;
                    self.next_dead_letter += 1;
                }
                receipts.push(WriteReceipt {
                    first_seq,
                    events: request.events.len(),
                    dead_letters: request.dead_letters.len(),
                });
            }
            events.flush()?;
            dead_letters.flush()?;
        }
        tx.commit()?;
        Ok((stored, receipts))
    }
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

fn append_event(appender: &mut Appender<'_>, seq: i64, e: &NewEvent) -> Result<(), StoreError> {
    appender.append_row(params![
        seq,
        e.message_id,
        e.source_id,
        e.kind,
        e.name,
        e.anonymous_id,
        e.user_id,
        e.timestamp.naive_utc(),
        e.original_timestamp.map(|t| t.naive_utc()),
        e.sent_at.map(|t| t.naive_utc()),
        e.received_at.naive_utc(),
        json_text(&e.properties),
        json_text(&e.traits),
        json_text(&e.context),
    ])?;
    Ok(())
}

fn append_dead_letter(
    appender: &mut Appender<'_>,
    id: i64,
    d: &NewDeadLetter,
) -> Result<(), StoreError> {
    appender.append_row(params![
        id,
        d.source_id,
        d.received_at.naive_utc(),
        d.reason_code,
        d.reason,
        d.payload,
    ])?;
    Ok(())
}
