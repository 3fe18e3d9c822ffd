//! The hub: fans every committed batch out to whoever listens (SSE streams today, the live
//! engine later) over one tokio broadcast channel.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, OnceLock},
};

use tokio::sync::broadcast;

use crate::store::{CommittedBatch, StoredEvent};

/// Newest events kept in memory, so a new stream's first frame costs no query.
pub const RECENT_EVENTS: usize = 50;

/// Batches a slow listener may fall behind before it is told to resync.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A committed batch as the hub hands it out, with room for its encoding, so that a frame
/// sent to every stream is encoded once, not once per stream.
#[derive(Debug)]
pub struct Published {
    pub batch: Arc<CommittedBatch>,
    encoded: OnceLock<Arc<str>>,
}

impl Published {
    /// The batch encoded by `encode`, the first caller's encoding shared by all.
    pub fn encoded(&self, encode: impl FnOnce(&CommittedBatch) -> String) -> Arc<str> {
        self.encoded.get_or_init(|| Arc::from(encode(&self.batch))).clone()
    }
}

/// Cheap to clone; all clones share one channel.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Published>>,
    recent: Arc<Mutex<VecDeque<StoredEvent>>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Hub { sender, recent: Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_EVENTS))) }
    }

    /// Starts the in-memory list of newest events (oldest first) from the store's.
    pub fn seed(&self, events: Vec<StoredEvent>) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.extend(events);
            let excess = recent.len().saturating_sub(RECENT_EVENTS);
            recent.drain(..excess);
        }
    }

    /// The newest events, newest first.
    pub fn recent(&self) -> Vec<StoredEvent> {
        self.recent.lock().map(|r| r.iter().rev().cloned().collect()).unwrap_or_default()
    }

    /// Tells every current listener about a committed batch. Never blocks.
    pub fn publish(&self, batch: Arc<CommittedBatch>) {
        if let Ok(mut recent) = self.recent.lock() {
            let tail = batch.events.len().saturating_sub(RECENT_EVENTS);
            recent.extend(batch.events[tail..].iter().cloned());
            let excess = recent.len().saturating_sub(RECENT_EVENTS);
            recent.drain(..excess);
        }
        // No listener is not an error: nobody is watching right now.
        let _ = self.sender.send(Arc::new(Published { batch, encoded: OnceLock::new() }));
    }

    /// Listens for batches committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }

    /// How many listeners are connected.
    pub fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }
}
