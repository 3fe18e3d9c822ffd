//! The hub: fans every committed batch out to whoever listens (the event streams) over one
//! tokio broadcast channel, and keeps the newest events for a new stream's first frame. A
//! frame is encoded once, as the bytes sent on the wire, and shared by every stream.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, OnceLock},
};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::store::{CommittedBatch, StoredEvent};

/// Newest events kept in memory, so a new stream's first frame costs no query.
pub const RECENT_EVENTS: usize = 50;

/// Batches a slow listener may fall behind before it is told to resync.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One server-sent event, encoded once as the bytes on the wire (`event:`, `id:`, `data:`
/// lines); cloning it shares the bytes, so a thousand streams cost one encoding.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The SSE id: the newest sequence number in the frame.
    pub id: Option<i64>,
    /// The SSE event name.
    pub name: &'static str,
    wire: Bytes,
    /// Where the JSON starts in `wire`.
    data_at: usize,
    /// The frame as viewers read it (personal data masked), made by the first viewer's stream
    /// and shared by every clone: a hundred viewers cost one masking, not a hundred.
    masked: Arc<OnceLock<Option<Frame>>>,
}

/// Two frames are equal when they send the same bytes; the masked twin follows from them.
impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.name == other.name && self.wire == other.wire
    }
}

impl Frame {
    /// `json` must be one line, as serde_json's compact output is.
    pub fn new(id: Option<i64>, name: &'static str, json: &str) -> Self {
        debug_assert!(!json.contains('\n'), "an SSE data line cannot hold a newline");
        let head = match id {
            Some(id) => format!("event: {name}\nid: {id}\ndata: "),
            None => format!("event: {name}\ndata: "),
        };
        let mut wire = Vec::with_capacity(head.len() + json.len() + 2);
        wire.extend_from_slice(head.as_bytes());
        wire.extend_from_slice(json.as_bytes());
        wire.extend_from_slice(b"\n\n");
        Frame { id, name, wire: Bytes::from(wire), data_at: head.len(), masked: Arc::default() }
    }

    /// The frame as `mask` makes it for viewers, made once for this frame and all its clones
    /// (`None` when it cannot be made).
    pub fn masked(&self, mask: impl FnOnce(&Frame) -> Option<Frame>) -> Option<Frame> {
        self.masked.get_or_init(|| mask(self)).clone()
    }

    /// The frame as sent on the wire, shared.
    pub fn wire(&self) -> Bytes {
        self.wire.clone()
    }

    /// The frame's JSON data.
    pub fn json(&self) -> &str {
        std::str::from_utf8(&self.wire[self.data_at..self.wire.len() - 2]).unwrap_or_default()
    }
}

/// Something announced to many streams, with room for its frame, so that it is encoded once
/// for all of them, not once per stream (a committed batch, a changed alert).
#[derive(Debug)]
pub struct Announced<T> {
    pub value: T,
    frame: OnceLock<Frame>,
    /// Where the value's traced path got to, which work done for it continues (a webhook
    /// sent for an alert); none when nothing is traced.
    pub cause: crate::telemetry::Cause,
}

impl<T> Announced<T> {
    pub fn new(value: T) -> Self {
        Self::caused_by(value, crate::telemetry::Cause::none())
    }

    pub fn caused_by(value: T, cause: crate::telemetry::Cause) -> Self {
        Announced { value, frame: OnceLock::new(), cause }
    }

    /// The frame as `encode` makes it, the first caller's frame shared by all.
    pub fn frame(&self, encode: impl FnOnce(&T) -> Frame) -> Frame {
        self.frame.get_or_init(|| encode(&self.value)).clone()
    }
}

/// A committed batch as the hub hands it out.
pub type Published = Announced<Arc<CommittedBatch>>;

/// The newest events, and the first frame made of them until they change.
#[derive(Default)]
struct Recent {
    events: VecDeque<StoredEvent>,
    snapshot: Option<Frame>,
}

impl Recent {
    fn extend(&mut self, events: impl IntoIterator<Item = StoredEvent>) {
        self.events.extend(events);
        let excess = self.events.len().saturating_sub(RECENT_EVENTS);
        self.events.drain(..excess);
        self.snapshot = None;
    }
}

/// Cheap to clone; all clones share one channel.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Published>>,
    recent: Arc<Mutex<Recent>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Hub { sender, recent: Arc::new(Mutex::new(Recent::default())) }
    }

    /// Drops from the newest events every event of the given identities (erasure), so that a
    /// new stream's first frame does not show them.
    pub fn forget(&self, ids: &[String]) {
        if let Ok(mut recent) = self.recent.lock() {
            let names = |id: &Option<String>| id.as_ref().is_some_and(|id| ids.contains(id));
            recent.events.retain(|e| !names(&e.event.user_id) && !names(&e.event.anonymous_id));
            recent.snapshot = None;
        }
    }

    /// Starts the in-memory list of newest events (oldest first) from the store's.
    pub fn seed(&self, events: Vec<StoredEvent>) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.extend(events);
        }
    }

    /// The frame `make` makes of the newest events (newest first), made once and shared
    /// until a batch changes them: a thousand new streams cost one encoding.
    pub fn snapshot(&self, make: impl FnOnce(&mut dyn Iterator<Item = &StoredEvent>) -> Frame) -> Frame {
        let Ok(mut recent) = self.recent.lock() else {
            return make(&mut std::iter::empty());
        };
        if let Some(frame) = &recent.snapshot {
            return frame.clone();
        }
        let frame = make(&mut recent.events.iter().rev());
        recent.snapshot = Some(frame.clone());
        frame
    }

    /// Tells every current listener about a committed batch. Never blocks.
    pub fn publish(&self, batch: Arc<CommittedBatch>) {
        if let Ok(mut recent) = self.recent.lock() {
            let tail = batch.events.len().saturating_sub(RECENT_EVENTS);
            recent.extend(batch.events[tail..].iter().cloned());
        }
        // No listener is not an error: nobody is watching right now.
        let _ = self.sender.send(Arc::new(Announced::new(batch)));
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
