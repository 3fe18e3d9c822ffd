//! The hub: fans every committed batch out to whoever listens (SSE streams today, the live
//! engine later) over one tokio broadcast channel.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::CommittedBatch;

/// Batches a slow listener may fall behind before it is told to resync.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Cheap to clone; all clones share one channel.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<CommittedBatch>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Hub { sender }
    }

    /// Tells every current listener about a committed batch. Never blocks.
    pub fn publish(&self, batch: Arc<CommittedBatch>) {
        // No listener is not an error: nobody is watching right now.
        let _ = self.sender.send(batch);
    }

    /// Listens for batches committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.sender.subscribe()
    }

    /// How many listeners are connected.
    pub fn listeners(&self) -> usize {
        self.sender.receiver_count()
    }
}
