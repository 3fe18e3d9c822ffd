//! The event index: every customer's events in time order, in memory, 16 bytes an event.
//!
//! Funnels, paths, drop-offs and stage occupancy are scans over it on every core, instead of
//! DuckDB filtering, joining identities and sorting millions of rows for each question (that
//! took 3.3 s for a 30-day funnel over 10M events; see the analytics benchmark). It is built
//! from the store at start-up and kept current from every committed batch, on its own thread,
//! so ingestion never waits for it; a question first waits until the index has applied
//! everything committed before it was asked, so an acknowledged event is always counted.
//! While the start-up load runs (in the background: ingestion answers meanwhile), questions
//! are refused with how far it has got ([`EventIndex::answer`], [`IndexError::WarmingUp`]).

pub mod arena;
pub mod channel;
pub mod columns;
pub mod snapshot;
pub mod stage;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        mpsc, Arc, Mutex, RwLock,
    },
};

use duckdb::{
    arrow::{
        array::{Array, BooleanArray, Int64Array, StringArray, UInt64Array},
        record_batch::RecordBatch,
    },
    params,
};
use rustc_hash::FxHashMap;
use tokio::sync::watch;

use self::{
    arena::{Arena, Events},
    columns::PropertyColumn,
    snapshot::SnapshotError,
};
use crate::store::{identity_link, sql, CommittedBatch, Store, StoreError};

/// The name id of events without a name (identify, group, alias).
pub const NO_NAME: u32 = (1 << NAME_BITS) - 1;
const NAME_BITS: u32 = 24;
const ANONYMOUS_BIT: u64 = 1 << NAME_BITS;
const SEQ_SHIFT: u32 = NAME_BITS + 1;

/// One event in the index: its time, and packed into one word its sequence number, whether
/// it carried only an anonymous id, and its interned name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub at_us: i64,
    packed: u64,
}

impl Entry {
    pub fn new(at_us: i64, seq: i64, name: u32, anonymous: bool) -> Self {
        let flag = if anonymous { ANONYMOUS_BIT } else { 0 };
        Entry { at_us, packed: ((seq.max(0) as u64) << SEQ_SHIFT) | flag | u64::from(name.min(NO_NAME)) }
    }

    pub fn seq(self) -> i64 {
        (self.packed >> SEQ_SHIFT) as i64
    }

    pub fn name(self) -> u32 {
        (self.packed & u64::from(NO_NAME)) as u32
    }

    pub fn is_named(self) -> bool {
        self.name() != NO_NAME
    }

    /// Whether the event carried an anonymous id and no user id (so a later identity link
    /// moves it to the linked user).
    fn is_anonymous(self) -> bool {
        self.packed & ANONYMOUS_BIT != 0
    }

    fn order(&self) -> (i64, i64) {
        (self.at_us, self.seq())
    }
}

/// One customer's events in time order (commit order among equal times).
#[derive(Debug, Clone)]
pub struct CustomerEvents {
    pub id: Arc<str>,
    pub events: Events,
    /// The channel id of their first event with attribution ([`columns::NONE`]: direct),
    /// kept current while the channel column is materialised (meaningless otherwise): a
    /// breakdown or filter by channel reads it instead of looking up every event's channel,
    /// which cost more than the funnel itself (a cache miss an event).
    first_touch: u32,
}

impl Default for CustomerEvents {
    fn default() -> Self {
        CustomerEvents { id: Arc::from(""), events: Events::default(), first_touch: columns::NONE }
    }
}

impl CustomerEvents {
    pub fn new(id: Arc<str>, events: Vec<Entry>) -> Self {
        CustomerEvents { id, events: events.into(), ..CustomerEvents::default() }
    }

    /// Their first touch's channel id in the channel column, [`columns::NONE`] for direct;
    /// only while the column is materialised ([`IndexData::channels`] is `Some`).
    pub fn first_touch(&self) -> u32 {
        self.first_touch
    }

    fn update_first_touch(&mut self, channels: &PropertyColumn) {
        self.first_touch = channel::first_touch(&self.events, channels);
    }

    /// Whether any of the customer's events carried a user id: they identified themselves.
    pub fn is_identified(&self) -> bool {
        self.events.iter().any(|e| !e.is_anonymous())
    }
}

/// The index's contents. Read through [`EventIndex::read`].
#[derive(Debug, Default)]
pub struct IndexData {
    customers: Vec<CustomerEvents>,
    slot_of: HashMap<Arc<str>, u32>,
    /// Anonymous id → user id; the first link wins, as in the store.
    links: HashMap<Arc<str>, Arc<str>>,
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u32>,
    /// By name id: whether the name was seen on a page or screen call (a page view), so that
    /// questions can leave page views out.
    page_view_names: Vec<bool>,
    applied_seq: i64,
    events: usize,
    /// Counts the changes made outside the index thread (erasure, retention), so that a
    /// compaction prepared beside them is not swapped in over them.
    removals: u64,
    /// The heap the arena of the last compaction holds ([`arena`]).
    arena_bytes: usize,
    /// Materialised columns (the least recently used goes when there are too many).
    properties: Vec<(Column, PropertyColumn)>,
}

/// Customers' events laid out anew ([`IndexData::compacted_copies`]).
pub struct Compacted {
    removals: u64,
    arena: Arena,
}

/// A column the index can materialise beside names and times: one value id per event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// A top-level property's values, by its name (a plain identifier).
    Property(String),
    /// Each event's channel, derived from its attribution ([`channel`]).
    Channel,
}

impl Column {
    /// The property's name; `None` for the channel.
    pub fn property_name(&self) -> Option<&str> {
        match self {
            Column::Property(name) => Some(name),
            Column::Channel => None,
        }
    }

    /// The column as a `breakdown` parameter names it (`$channel`, or the property's name).
    pub fn parameter(&self) -> String {
        self.property_name().unwrap_or(app::types::CHANNEL_BREAKDOWN).to_string()
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Property(name) => write!(f, "property {name}"),
            Column::Channel => f.write_str("the channel"),
        }
    }
}

/// Most properties kept materialised at once (4 bytes an event each).
pub const MAX_PROPERTY_COLUMNS: usize = 16;

impl IndexData {
    /// Every customer, including empty slots left by identity merges (skip those).
    pub fn customers(&self) -> &[CustomerEvents] {
        &self.customers
    }

    /// The customer an id (user or anonymous) belongs to.
    pub fn customer(&self, id: &str) -> Option<&CustomerEvents> {
        let id = self.links.get(id).map_or(id, |user| user.as_ref());
        self.slot_of.get(id).map(|&slot| &self.customers[slot as usize])
    }

    /// The customer an event with these ids belongs to.
    pub fn customer_of_event(&self, user: Option<&str>, anonymous: Option<&str>) -> Option<&CustomerEvents> {
        let id = self.customer_of(user, anonymous)?;
        self.slot_of.get(id).map(|&slot| &self.customers[slot as usize])
    }

    /// A materialised column (see [`EventIndex::materialise`]).
    pub fn column(&self, which: &Column) -> Option<&PropertyColumn> {
        self.properties.iter().find(|(c, _)| c == which).map(|(_, column)| column)
    }

    /// A materialised property's column.
    pub fn property(&self, name: &str) -> Option<&PropertyColumn> {
        self.properties.iter().find(|(c, _)| c.property_name() == Some(name)).map(|(_, column)| column)
    }

    /// The materialised channel column: each event's channel, where its attribution names one.
    pub fn channels(&self) -> Option<&PropertyColumn> {
        self.column(&Column::Channel)
    }

    pub fn name_id(&self, name: &str) -> Option<u32> {
        self.name_ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n.as_ref())
    }

    /// Whether events of this name were page views (page or screen calls).
    pub fn is_page_view(&self, id: u32) -> bool {
        self.page_view_names.get(id as usize).copied().unwrap_or(false)
    }

    /// How many distinct event names there are (name ids are `0..names_len()`).
    pub fn names_len(&self) -> usize {
        self.names.len()
    }

    pub fn applied_seq(&self) -> i64 {
        self.applied_seq
    }

    pub fn events_len(&self) -> usize {
        self.events
    }

    /// Customers with at least one event.
    pub fn customers_len(&self) -> usize {
        self.slot_of.len()
    }

    /// Memory held, estimated from capacities (entries, slots, ids, maps).
    pub fn approximate_bytes(&self) -> usize {
        let entries: usize = self.arena_bytes + self.customers.iter().map(|c| c.events.own_bytes()).sum::<usize>();
        let ids: usize = self.slot_of.keys().map(|id| id.len() + 16).sum();
        let slots = self.customers.capacity() * size_of::<CustomerEvents>();
        let map_entry = size_of::<(Arc<str>, u32)>() + 8;
        let link_entry = size_of::<(Arc<str>, Arc<str>)>() + 8;
        let links: usize = self.links.keys().map(|a| a.len() + 16 + link_entry).sum();
        entries + ids + slots + self.slot_of.capacity() * map_entry + links
    }

    /// Memory held by materialised property columns, estimated.
    pub fn property_bytes(&self) -> usize {
        self.properties.iter().map(|(_, c)| c.approximate_bytes()).sum()
    }

    fn intern(&mut self, name: Option<&str>) -> u32 {
        let Some(name) = name else { return NO_NAME };
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        if id >= NO_NAME - 1 {
            // Sixteen million distinct names is a sender bug; keep counting the events.
            return NO_NAME - 1;
        }
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    /// Remembers that `name` was the name of a page view.
    fn mark_page_view(&mut self, name: u32) {
        if name >= NO_NAME - 1 {
            return;
        }
        let at = name as usize;
        if self.page_view_names.len() <= at {
            self.page_view_names.resize(at + 1, false);
        }
        self.page_view_names[at] = true;
    }

    fn slot(&mut self, id: &str) -> u32 {
        if let Some(&slot) = self.slot_of.get(id) {
            return slot;
        }
        let id: Arc<str> = Arc::from(id);
        let slot = self.customers.len() as u32;
        self.customers.push(CustomerEvents::new(id.clone(), Vec::new()));
        self.slot_of.insert(id, slot);
        slot
    }

    /// The customer an event belongs to: its user id, else the user its anonymous id is
    /// linked to, else the anonymous id (as the `customer_events` view says).
    fn customer_of<'a>(&'a self, user: Option<&'a str>, anonymous: Option<&'a str>) -> Option<&'a str> {
        user.or_else(|| anonymous.map(|a| self.links.get(a).map_or(a, |u| u.as_ref())))
    }

    fn insert(&mut self, customer: &str, entry: Entry) {
        let slot = self.slot(customer) as usize;
        let events = self.customers[slot].events.to_mut();
        // Events mostly arrive in time order; late ones go where they belong.
        if events.last().is_none_or(|last| last.order() <= entry.order()) {
            events.push(entry);
        } else {
            let at = events.partition_point(|e| e.order() <= entry.order());
            events.insert(at, entry);
        }
        self.events += 1;
    }

    /// Keeps the first touch of the customer known by `id` current after their events or
    /// their events' channels changed (see [`CustomerEvents::first_touch`]).
    fn refresh_first_touch(&mut self, id: &str) {
        let Some(&slot) = self.slot_of.get(id) else { return };
        if let Some((_, column)) = self.properties.iter().find(|(c, _)| *c == Column::Channel) {
            self.customers[slot as usize].update_first_touch(column);
        }
    }

    /// Every customer's first touch, once the channel column has been materialised.
    fn refresh_all_first_touches(&mut self) {
        use rayon::prelude::*;
        if let Some((_, column)) = self.properties.iter().find(|(c, _)| *c == Column::Channel) {
            self.customers.par_iter_mut().for_each(|customer| customer.update_first_touch(column));
        }
    }

    /// Lays out every customer's events one after another in one allocation ([`arena`]).
    pub fn compact(&mut self) {
        let copies = self.compacted_copies();
        self.swap_in(copies);
    }

    /// Hands every customer their stretch of `arena`, laid out for exactly these customers
    /// (at load, before the index is shared).
    pub(super) fn install(&mut self, arena: Arena) {
        debug_assert_eq!(arena.customers(), self.customers.len());
        self.arena_bytes = arena.bytes();
        for (slot, customer) in self.customers.iter_mut().enumerate() {
            customer.events = arena.events(slot);
        }
    }

    /// Every customer's events laid out one after another in slot order ([`arena`]), to be
    /// swapped in with [`IndexData::swap_in`].
    pub fn compacted_copies(&self) -> Compacted {
        Compacted { removals: self.removals, arena: Arena::lay_out(self.customers.iter().map(|c| c.events.as_slice())) }
    }

    /// Swaps in an arena made by [`IndexData::compacted_copies`] unless events were removed
    /// since (erasure, retention: it would bring them back); hands back what it replaced, to
    /// be freed outside any lock. Events are only added by the index thread, which makes
    /// the arena: none can have arrived in between.
    pub fn swap_in(&mut self, compacted: Compacted) -> Option<Vec<Events>> {
        let Compacted { removals, arena } = compacted;
        if removals != self.removals || arena.customers() != self.customers.len() {
            return None;
        }
        self.arena_bytes = arena.bytes();
        let replaced =
            self.customers.iter_mut().enumerate().map(|(slot, c)| std::mem::replace(&mut c.events, arena.events(slot)));
        Some(replaced.collect())
    }

    /// Links `anonymous` to `user` unless it is already linked, moving the anonymous
    /// events seen so far to the user.
    fn link(&mut self, anonymous: &str, user: &str) {
        if self.links.contains_key(anonymous) {
            return;
        }
        self.links.insert(Arc::from(anonymous), Arc::from(user));
        let Some(&from) = self.slot_of.get(anonymous) else { return };
        let (moving, staying): (Vec<Entry>, Vec<Entry>) =
            std::mem::take(&mut self.customers[from as usize].events).iter().partition(|e| e.is_anonymous());
        self.customers[from as usize].events = staying.into();
        if self.customers[from as usize].events.is_empty() {
            self.slot_of.remove(anonymous);
        }
        if moving.is_empty() {
            return;
        }
        let to = self.slot(user) as usize;
        let events = self.customers[to].events.to_mut();
        events.extend(moving);
        events.sort_by_key(Entry::order);
        self.refresh_first_touch(user);
        self.refresh_first_touch(anonymous);
    }

    /// Forgets every event of the given identities (erasure): their events and links go, and
    /// the materialised properties are dropped, to be read again from the store (where the
    /// rows are gone) when next asked for, so that no value of theirs stays in memory.
    pub fn forget(&mut self, ids: &[String]) {
        self.removals += 1;
        for id in ids {
            self.links.remove(id.as_str());
            if let Some(slot) = self.slot_of.remove(id.as_str()) {
                let customer = &mut self.customers[slot as usize];
                self.events -= customer.events.len();
                // Their stretch of the arena (times and name ids, no identity) is left
                // unreachable until the next compaction.
                customer.events = Events::default();
                customer.id = Arc::from("");
            }
        }
        self.links.retain(|_, user| !ids.iter().any(|id| id.as_str() == user.as_ref()));
        self.properties.clear();
    }

    /// Forgets every event that happened before `cutoff_us` (retention), as the store does,
    /// and the materialised properties with their values.
    pub fn forget_before(&mut self, cutoff_us: i64) {
        self.removals += 1;
        let mut forgotten = 0;
        for customer in &mut self.customers {
            let old = customer.events.iter().take_while(|e| e.at_us < cutoff_us).count();
            if old > 0 {
                customer.events.drop_first(old);
                forgotten += old;
            }
        }
        self.events -= forgotten;
        if forgotten > 0 {
            // Their values go with them; read again from the store when next asked for.
            self.properties.clear();
        }
    }

    /// Applies a committed batch (events already applied are skipped).
    pub fn apply(&mut self, batch: &CommittedBatch) {
        for stored in &batch.events {
            if stored.seq <= self.applied_seq {
                continue;
            }
            let event = &stored.event;
            let name = self.intern(event.name.as_deref());
            if is_page_view_kind(&event.kind) {
                self.mark_page_view(name);
            }
            let anonymous = event.user_id.is_none();
            let entry = Entry::new(event.timestamp.timestamp_micros(), stored.seq, name, anonymous);
            if let Some(customer) = self.customer_of(event.user_id.as_deref(), event.anonymous_id.as_deref()) {
                let customer = customer.to_string();
                self.insert(&customer, entry);
            }
            if let Some((earlier, user)) = identity_link(event) {
                self.link(&earlier, user);
            }
            if let (Some(properties), false) = (&event.properties, self.properties.is_empty()) {
                // The channel column asks for no key: "" is no property's name.
                let keys = self.properties.iter().map(|(c, _)| c.property_name().unwrap_or(""));
                let values = columns::extract(properties.as_str(), keys);
                for ((which, column), value) in self.properties.iter_mut().zip(values) {
                    if let (Some(value), Column::Property(_)) = (value, which) {
                        column.set(stored.seq, &value);
                    }
                }
            }
            let channel = self.channels().is_some().then(|| {
                channel::of_event(
                    event.context.as_ref().map(|c| c.as_str()),
                    event.properties.as_ref().map(|p| p.as_str()),
                )
            });
            if let (Some(Some(channel)), Some((_, column))) =
                (channel, self.properties.iter_mut().find(|(c, _)| *c == Column::Channel))
            {
                column.set(stored.seq, channel);
                if let Some(customer) = self.customer_of(event.user_id.as_deref(), event.anonymous_id.as_deref()) {
                    let customer = customer.to_string();
                    self.refresh_first_touch(&customer);
                }
            }
            self.applied_seq = stored.seq;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the event index stopped: {0}")]
    Stopped(String),
    /// The start-up load has not finished: questions are answered once it has.
    #[error(
        "Wayline is starting: the event index is {percent} % loaded, and questions are answered \
         once it is ready; retry in a few seconds (events sent meanwhile are stored and counted)"
    )]
    WarmingUp { percent: u8 },
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// Hands committed batches to the index. Called by the store's writer after each commit,
/// before senders are acknowledged; never blocks.
pub struct IndexFeed {
    sender: mpsc::Sender<Arc<CommittedBatch>>,
    shared: Arc<Shared>,
}

impl IndexFeed {
    pub fn send(&self, batch: &Arc<CommittedBatch>) {
        if let Some(last) = batch.events.last() {
            self.shared.committed.fetch_max(last.seq, Ordering::SeqCst);
        }
        // A closed channel means the index is gone (shutdown); nothing to keep.
        let _ = self.sender.send(batch.clone());
    }
}

struct Shared {
    data: RwLock<IndexData>,
    /// The highest sequence number committed (told to the feed).
    committed: AtomicI64,
    /// The highest sequence number applied to `data`; -1 until loaded.
    applied: watch::Sender<i64>,
    pending: Mutex<Option<mpsc::Receiver<Arc<CommittedBatch>>>>,
    /// How far the start-up load has got.
    load: LoadProgress,
    /// Where the index is saved ([`snapshot`]), once loaded with one.
    snapshot: Mutex<Option<PathBuf>>,
    /// The sequence number the saved snapshot reaches (-1: none saved).
    saved_seq: AtomicI64,
    /// Held while a property is materialised, so two questions needing the same new property
    /// read it once.
    materialising: Mutex<()>,
    /// When each property was last asked for (a counter, not a clock): the least recently
    /// used goes when too many are materialised.
    last_used: Mutex<(u64, HashMap<Column, u64>)>,
}

/// Handle to the index; cheap to clone.
#[derive(Clone)]
pub struct EventIndex {
    shared: Arc<Shared>,
}

impl EventIndex {
    /// An empty index and the feed the store's commit listener must call. Load it with
    /// [`EventIndex::load`] once the store is open.
    pub fn new() -> (Self, IndexFeed) {
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            data: RwLock::new(IndexData::default()),
            committed: AtomicI64::new(0),
            applied: watch::channel(-1).0,
            pending: Mutex::new(Some(receiver)),
            load: LoadProgress::default(),
            snapshot: Mutex::new(None),
            saved_seq: AtomicI64::new(-1),
            materialising: Mutex::new(()),
            last_used: Mutex::new((0, HashMap::new())),
        });
        (EventIndex { shared: shared.clone() }, IndexFeed { sender, shared })
    }

    /// Reads everything committed so far from the store, then applies the batches committed
    /// since, on a thread of its own, until the store closes.
    pub async fn load(&self, store: &Store) -> Result<(), IndexError> {
        self.load_with_snapshot(store, None).await
    }

    /// As [`EventIndex::load`], starting from the snapshot at `snapshot` when it matches the
    /// store (see [`snapshot`]), and saving to it from then on ([`EventIndex::save`]).
    pub async fn load_with_snapshot(&self, store: &Store, snapshot: Option<PathBuf>) -> Result<(), IndexError> {
        let started = std::time::Instant::now();
        let saved = match &snapshot {
            Some(path) => self.read_snapshot(store, path.clone()).await,
            None => None,
        };
        let from = if saved.is_some() { "its snapshot" } else { "the store" };
        self.shared.saved_seq.store(saved.as_ref().map_or(-1, |(_, seq)| *seq), Ordering::SeqCst);
        let saved = saved.map(|(data, _)| data);
        let data = match saved {
            Some(data) => data,
            None => {
                let shared = self.shared.clone();
                store.read(move |conn| load_snapshot(conn, &shared.load)).await?
            }
        };
        if let Ok(mut path) = self.shared.snapshot.lock() {
            *path = snapshot;
        }
        let (events, customers, seq) = (data.events, data.slot_of.len(), data.applied_seq);
        *self.shared.data.write().map_err(|e| IndexError::Stopped(e.to_string()))? = data;
        let receiver = self.shared.pending.lock().ok().and_then(|mut p| p.take());
        let receiver = receiver.ok_or_else(|| IndexError::Stopped("the index was loaded twice".into()))?;
        self.shared.committed.fetch_max(seq, Ordering::SeqCst);
        self.shared.applied.send_replace(seq);
        let shared = self.shared.clone();
        std::thread::Builder::new()
            .name("wayline-index".into())
            .spawn(move || apply_batches(&shared, receiver))
            .map_err(|e| IndexError::Stopped(format!("could not start the index thread: {e}")))?;
        tracing::info!(events, customers, ms = started.elapsed().as_millis() as u64, from, "event index loaded");
        Ok(())
    }

    /// The snapshot at `path` brought up to date with the store, with the sequence number it
    /// was saved at; `None` (and why, in the log) when it cannot be used and the index must be
    /// rebuilt.
    async fn read_snapshot(&self, store: &Store, path: PathBuf) -> Option<(IndexData, i64)> {
        let shown = path.display().to_string();
        let read = tokio::task::spawn_blocking(move || snapshot::read(&path)).await.ok()?;
        let mut data = match read {
            Ok(data) => data,
            Err(SnapshotError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(error = %e, "rebuilding the event index from the store instead");
                return None;
            }
        };
        self.shared.load.total.store(data.events as u64, Ordering::Relaxed);
        self.shared.load.read.store(data.events as u64, Ordering::Relaxed);
        // The store must still hold what the snapshot holds: an erasure or a retention run
        // since it was saved removed events, and the snapshot may not bring them back.
        let seq = data.applied_seq;
        let count = store.read(move |conn| Ok(conn.query_row(sql::INDEX_COUNT_EVENTS, params![seq], |r| r.get(0))?));
        let stored: i64 = count.await.ok()?;
        if stored != data.events as i64 {
            tracing::info!(
                snapshot = %shown,
                saved = data.events,
                stored,
                "the store changed since the index snapshot was saved; rebuilding the index"
            );
            return None;
        }
        // Then the events committed since it was saved, as they are applied live.
        loop {
            let batch = store.events_after(data.applied_seq, CATCH_UP_BATCH).await.ok()?;
            if batch.is_empty() {
                // Laid out again only if events arrived since it was saved: the snapshot
                // itself is read into one arena.
                if data.customers.iter().any(|c| c.events.own_bytes() > 0) {
                    data = tokio::task::spawn_blocking(move || {
                        data.compact();
                        data
                    })
                    .await
                    .ok()?;
                }
                return Some((data, seq));
            }
            let caught_up = tokio::task::spawn_blocking(move || {
                data.apply(&CommittedBatch::of(batch));
                data
            });
            data = caught_up.await.ok()?;
        }
    }

    /// Saves the index to its snapshot file, if it has one, is loaded and has changed since
    /// last saved: the read lock is held while it is encoded (a fraction of a second for ten
    /// million events), not while it is written.
    pub async fn save(&self) -> Result<(), IndexError> {
        self.write_snapshot(false).await
    }

    /// Saves the snapshot; `always` even when no event was applied since the last save (a
    /// deletion changed it).
    async fn write_snapshot(&self, always: bool) -> Result<(), IndexError> {
        let path = self.shared.snapshot.lock().ok().and_then(|p| p.clone());
        let (Some(path), None) = (path, self.warming_up()) else { return Ok(()) };
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let (bytes, seq) = {
                let data = shared.data.read().map_err(|e| IndexError::Stopped(e.to_string()))?;
                if !always && data.applied_seq == shared.saved_seq.load(Ordering::SeqCst) {
                    return Ok(());
                }
                (snapshot::encode(&data), data.applied_seq)
            };
            snapshot::write(&bytes, &path)?;
            shared.saved_seq.store(seq, Ordering::SeqCst);
            Ok(())
        })
        .await
        .map_err(|e| IndexError::Stopped(e.to_string()))?
    }

    /// While the start-up load runs, how far it has got (percent of the events read, at most
    /// 99 until the index is ready); `None` once it is ready.
    pub fn warming_up(&self) -> Option<u8> {
        if *self.shared.applied.borrow() >= 0 {
            return None;
        }
        let total = self.shared.load.total.load(Ordering::Relaxed).max(1);
        let read = self.shared.load.read.load(Ordering::Relaxed);
        Some((read.saturating_mul(100) / total).min(99) as u8)
    }

    /// Answers a question: as [`EventIndex::read`], but refused with
    /// [`IndexError::WarmingUp`] while the start-up load runs, instead of waiting for it.
    pub async fn answer<T, F>(&self, f: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&IndexData) -> T + Send + 'static,
    {
        match self.warming_up() {
            Some(percent) => Err(IndexError::WarmingUp { percent }),
            None => self.read(f).await,
        }
    }

    /// The newest sequence number committed, and the newest applied to the index.
    pub fn progress(&self) -> (i64, i64) {
        (self.shared.committed.load(Ordering::SeqCst), *self.shared.applied.borrow())
    }

    /// Makes sure the given columns are materialised: reads each missing one from the
    /// store for the events applied so far without holding the index (a long scan must not
    /// stop questions and the rule engine), then, holding it still, the few events applied
    /// meanwhile, so none is missed; after that every applied batch keeps it current.
    /// Refused with [`IndexError::WarmingUp`] while the start-up load runs.
    pub async fn materialise(&self, store: &Store, wanted: Vec<Column>) -> Result<(), IndexError> {
        if let Ok(mut last_used) = self.shared.last_used.lock() {
            let (tick, uses) = &mut *last_used;
            for which in &wanted {
                *tick += 1;
                uses.insert(which.clone(), *tick);
            }
        }
        let missing: Vec<Column> =
            self.answer(move |data| wanted.into_iter().filter(|c| data.column(c).is_none()).collect()).await?;
        if missing.is_empty() {
            return Ok(());
        }
        let conn = store.read_connection()?;
        let shared = self.shared.clone();
        let stopped = |e: String| IndexError::Stopped(e);
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = shared.materialising.lock().map_err(|e| stopped(e.to_string()))?;
            for which in missing {
                let upto = {
                    let data = shared.data.read().map_err(|e| stopped(e.to_string()))?;
                    if data.column(&which).is_some() {
                        continue;
                    }
                    data.applied_seq
                };
                let started = std::time::Instant::now();
                let mut column = PropertyColumn::default();
                load_column(&conn, &which, -1, upto, &mut column)?;
                let mut data = shared.data.write().map_err(|e| stopped(e.to_string()))?;
                load_column(&conn, &which, upto, data.applied_seq, &mut column)?;
                if data.properties.len() >= MAX_PROPERTY_COLUMNS {
                    let least_recent = least_recently_used(&data.properties, &shared.last_used);
                    let (dropped, _) = data.properties.remove(least_recent);
                    tracing::info!(column = %dropped, "dropped the least recently used materialised column");
                }
                tracing::info!(column = %which, ms = started.elapsed().as_millis() as u64, "materialised a column");
                let is_channel = which == Column::Channel;
                data.properties.push((which, column));
                if is_channel {
                    data.refresh_all_first_touches();
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| IndexError::Stopped(e.to_string()))?
    }

    /// Forgets the given identities (see [`IndexData::forget`]), once everything committed
    /// before the call has been applied; the snapshot on disk is saved again without them.
    pub async fn forget(&self, ids: Vec<String>) -> Result<(), IndexError> {
        self.change(move |data| data.forget(&ids)).await?;
        self.save_or_remove().await;
        Ok(())
    }

    /// Forgets the events before `cutoff_us` (see [`IndexData::forget_before`]), on disk too.
    pub async fn forget_before(&self, cutoff_us: i64) -> Result<(), IndexError> {
        self.change(move |data| data.forget_before(cutoff_us)).await?;
        self.save_or_remove().await;
        Ok(())
    }

    /// Saves the snapshot after a deletion; if that fails, removes it, so that no forgotten
    /// event stays on disk in it (a restart then rebuilds the index from the store).
    async fn save_or_remove(&self) {
        if let Err(e) = self.write_snapshot(true).await {
            let path = self.shared.snapshot.lock().ok().and_then(|p| p.clone());
            let removed = path.map(std::fs::remove_file);
            tracing::warn!(error = %e, removed = ?removed, "could not save the index snapshot after a deletion");
        }
    }

    /// Runs `f` on the index held for writing, on the blocking pool, once everything committed
    /// before the call has been applied (erasure and retention: rare, and brief).
    async fn change(&self, f: impl FnOnce(&mut IndexData) + Send + 'static) -> Result<(), IndexError> {
        self.read(|_| ()).await?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut data = shared.data.write().map_err(|e| IndexError::Stopped(e.to_string()))?;
            f(&mut data);
            Ok(())
        })
        .await
        .map_err(|e| IndexError::Stopped(e.to_string()))?
    }

    /// Runs `f` over the index on the blocking pool, once everything committed before the
    /// call has been applied.
    pub async fn read<T, F>(&self, f: F) -> Result<T, IndexError>
    where
        T: Send + 'static,
        F: FnOnce(&IndexData) -> T + Send + 'static,
    {
        let target = self.shared.committed.load(Ordering::SeqCst);
        let mut applied = self.shared.applied.subscribe();
        applied
            .wait_for(|&seq| seq >= target)
            .await
            .map_err(|_| IndexError::Stopped("the index thread ended".into()))?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let data = shared.data.read().map_err(|e| IndexError::Stopped(e.to_string()))?;
            Ok(f(&data))
        })
        .await
        .map_err(|e| IndexError::Stopped(e.to_string()))?
    }
}

/// The position of the materialised property asked for longest ago.
fn least_recently_used(
    properties: &[(Column, PropertyColumn)],
    last_used: &Mutex<(u64, HashMap<Column, u64>)>,
) -> usize {
    let Ok(last_used) = last_used.lock() else { return 0 };
    properties
        .iter()
        .enumerate()
        .min_by_key(|(_, (which, _))| last_used.1.get(which).copied().unwrap_or(0))
        .map_or(0, |(position, _)| position)
}

/// The index thread: applies batches as they come, several at once when they queue up, and
/// compacts the index each time it has grown by an eighth (at least [`COMPACT_AFTER`]
/// events): the customers whose events arrived since have them copied out of the arena, one
/// by one, and a scan slows down as they add up (a funnel over 10M events: 122 ms with 3 % of
/// the customers copied out, 169 ms when compacted only every quarter of growth).
fn apply_batches(shared: &Shared, receiver: mpsc::Receiver<Arc<CommittedBatch>>) {
    let next_compaction = |events: usize| events + (events / 8).max(COMPACT_AFTER);
    let mut compact_at = shared.data.read().map_or(COMPACT_AFTER, |data| next_compaction(data.events));
    while let Ok(first) = receiver.recv() {
        let mut batches = vec![first];
        batches.extend(receiver.try_iter());
        let applying: Vec<tracing::Span> =
            batches.iter().flat_map(|b| crate::stage_spans!(b.traced, "index.apply")).collect();
        let Ok(mut data) = shared.data.write() else { return };
        for batch in &batches {
            data.apply(batch);
        }
        let (seq, events) = (data.applied_seq, data.events);
        drop(data);
        shared.applied.send_replace(seq);
        drop(applying);
        if events >= compact_at {
            compact_beside_questions(shared);
            compact_at = next_compaction(events);
        }
    }
}

/// Fewest events added between two compactions of the index.
const COMPACT_AFTER: usize = 1_000_000;

/// Compacts the index ([`IndexData::compacted_copies`]) while questions go on: the copies
/// are made under the read lock, and only swapped in under the write lock (milliseconds).
fn compact_beside_questions(shared: &Shared) {
    let started = std::time::Instant::now();
    let Some(copies) = shared.data.read().ok().map(|data| data.compacted_copies()) else { return };
    let replaced = shared.data.write().ok().and_then(|mut data| data.swap_in(copies));
    // The old vectors are freed here, outside the lock.
    let done = replaced.is_some();
    drop(replaced);
    tracing::debug!(done, ms = started.elapsed().as_millis() as u64, "compacted the event index");
}

/// Segment's page and screen calls are page views.
fn is_page_view_kind(kind: &str) -> bool {
    matches!(kind, "page" | "screen")
}

/// Events read from the store at a time while a snapshot catches up.
const CATCH_UP_BATCH: usize = 10_000;

/// How far the start-up load has got: events read of those to read.
#[derive(Debug, Default)]
struct LoadProgress {
    total: AtomicU64,
    read: AtomicU64,
}

/// Everything committed up to now: links first (so anonymous events land with their user),
/// then every event, sorted per customer.
fn load_snapshot(conn: &duckdb::Connection, progress: &LoadProgress) -> Result<IndexData, StoreError> {
    let mut data = IndexData::default();
    let max_seq: i64 = conn.query_row(sql::EVENTS_MAX_SEQ, [], |row| row.get(0))?;
    let total: i64 = conn.query_row(sql::INDEX_COUNT_EVENTS, params![max_seq], |row| row.get(0))?;
    progress.total.store(total.max(0) as u64, Ordering::Relaxed);
    let mut links = conn.prepare(sql::INDEX_LOAD_LINKS)?;
    let mut rows = links.query(params![max_seq])?;
    while let Some(row) = rows.next()? {
        let (anonymous, user): (String, String) = (row.get(0)?, row.get(1)?);
        data.links.entry(Arc::from(anonymous)).or_insert_with(|| Arc::from(user));
    }
    // Every event with its customer's slot, laid out per customer at the end (`Arena::gather`).
    let mut slots: Vec<u32> = Vec::with_capacity(total.max(0) as usize);
    let mut entries: Vec<Entry> = Vec::with_capacity(total.max(0) as usize);
    let mut events = conn.prepare(sql::INDEX_LOAD_EVENTS)?;
    for batch in events.query_arrow(params![max_seq])? {
        let customers: &StringArray = typed(&batch, 0, "index")?;
        let times: &Int64Array = typed(&batch, 1, "index")?;
        let seqs: &Int64Array = typed(&batch, 2, "index")?;
        let names: &StringArray = typed(&batch, 3, "index")?;
        let anonymous: &BooleanArray = typed(&batch, 4, "index")?;
        let page_views: &BooleanArray = typed(&batch, 5, "index")?;
        for i in 0..batch.num_rows() {
            let name = data.intern((!names.is_null(i)).then(|| names.value(i)));
            if page_views.value(i) {
                data.mark_page_view(name);
            }
            let entry = Entry::new(times.value(i), seqs.value(i), name, anonymous.value(i));
            slots.push(data.slot(customers.value(i)));
            entries.push(entry);
        }
        progress.read.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
    }
    data.events = entries.len();
    let arena = Arena::gather(data.customers.len(), &slots, &entries, Entry::order);
    drop((slots, entries));
    data.install(arena);
    data.applied_seq = max_seq;
    Ok(data)
}

/// Adds to `column` the values of the events in `after < seq <= upto`: a property's, or each
/// event's channel for [`Column::Channel`].
fn load_column(
    conn: &duckdb::Connection,
    which: &Column,
    after: i64,
    upto: i64,
    column: &mut PropertyColumn,
) -> Result<(), StoreError> {
    if after >= upto {
        return Ok(());
    }
    match which {
        Column::Channel => load_channels(conn, after, upto, column),
        Column::Property(name) => load_property(conn, name, after, upto, column),
    }
}

/// One property's values, as [`PropertyColumn`] value ids. The values travel from DuckDB as
/// its 64-bit hash of each (two integer columns, read at a fraction of the cost of 10M
/// strings), and each distinct value once with its hash; both read in one snapshot. Two
/// values with one hash (never seen, but possible) fall back to reading the text.
fn load_property(
    conn: &duckdb::Connection,
    name: &str,
    after: i64,
    upto: i64,
    column: &mut PropertyColumn,
) -> Result<(), StoreError> {
    let snapshot = conn.unchecked_transaction()?;
    let mut id_of_hash: FxHashMap<u64, u32> = FxHashMap::default();
    let mut distinct = snapshot.prepare(sql::INDEX_PROPERTY_DISTINCT_VALUES)?;
    for batch in distinct.query_arrow(params![name, after, upto])? {
        let hashes: &UInt64Array = typed(&batch, 0, "property values")?;
        let values: &StringArray = typed(&batch, 1, "property values")?;
        for i in 0..batch.num_rows() {
            let id = column.intern(values.value(i));
            if id_of_hash.insert(hashes.value(i), id).is_some_and(|other| other != id) {
                return load_property_texts(&snapshot, name, after, upto, column);
            }
        }
    }
    column.reserve_through(upto);
    let mut stmt = snapshot.prepare(sql::INDEX_PROPERTY_VALUE_HASHES)?;
    for batch in stmt.query_arrow(params![name, after, upto])? {
        let seqs: &Int64Array = typed(&batch, 0, "property")?;
        let hashes: &UInt64Array = typed(&batch, 1, "property")?;
        for (seq, hash) in seqs.values().iter().zip(hashes.values().iter()) {
            // Every hash is in the map: both queries read one snapshot.
            if let Some(&id) = id_of_hash.get(hash) {
                column.set_id(*seq, id);
            }
        }
    }
    Ok(())
}

/// One property's values as text (the fallback of [`load_property`]).
fn load_property_texts(
    conn: &duckdb::Connection,
    name: &str,
    after: i64,
    upto: i64,
    column: &mut PropertyColumn,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(sql::INDEX_PROPERTY_VALUES)?;
    for batch in stmt.query_arrow(params![name, after, upto])? {
        let seqs: &Int64Array = typed(&batch, 0, "property")?;
        let values: &StringArray = typed(&batch, 1, "property")?;
        for i in 0..batch.num_rows() {
            column.set(seqs.value(i), values.value(i));
        }
    }
    Ok(())
}

/// Each event's channel, for the events whose attribution names one.
fn load_channels(
    conn: &duckdb::Connection,
    after: i64,
    upto: i64,
    column: &mut PropertyColumn,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(sql::INDEX_CHANNEL_VALUES)?;
    for batch in stmt.query_arrow(params![after, upto])? {
        let seqs: &Int64Array = typed(&batch, 0, "channel")?;
        let text = |i: usize| typed::<StringArray>(&batch, i, "channel");
        let (source, medium, referrer, page_url) = (text(1)?, text(2)?, text(3)?, text(4)?);
        for i in 0..batch.num_rows() {
            let attribution = channel::Attribution {
                source: text_at(source, i),
                medium: text_at(medium, i),
                referrer: text_at(referrer, i),
                page_url: text_at(page_url, i),
            };
            if let Some(channel) = channel::classify(&attribution) {
                column.set(seqs.value(i), channel);
            }
        }
    }
    Ok(())
}

/// Column `i` of a query's result batch as the array type the query gives it.
fn typed<'a, T: 'static>(batch: &'a RecordBatch, i: usize, query: &str) -> Result<&'a T, StoreError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| StoreError::Task(format!("column {i} of the {query} query has an unexpected type")))
}

/// Row `i` of a text column, `None` when null.
fn text_at(column: &StringArray, i: usize) -> Option<&str> {
    (!column.is_null(i)).then(|| column.value(i))
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::store::{NewEvent, StoredEvent};

    /// A stored track event (identify without a name), `at_s` seconds after the epoch.
    pub(crate) fn event(
        seq: i64,
        at_s: i64,
        name: Option<&str>,
        anonymous: Option<&str>,
        user: Option<&str>,
    ) -> StoredEvent {
        let at = Utc.timestamp_opt(at_s, 0).unwrap();
        StoredEvent {
            seq,
            event: NewEvent {
                message_id: format!("m{seq}"),
                source_id: "s".into(),
                kind: if name.is_some() { "track" } else { "identify" }.into(),
                name: name.map(str::to_string),
                anonymous_id: anonymous.map(str::to_string),
                user_id: user.map(str::to_string),
                timestamp: at,
                original_timestamp: None,
                sent_at: None,
                received_at: at,
                properties: None,
                traits: None,
                context: None,
            },
        }
    }

    fn names(data: &IndexData, id: &str) -> Vec<(i64, String)> {
        data.customer(id)
            .map(|c| c.events.iter().map(|e| (e.at_us / 1_000_000, data.name(e.name()).to_string())).collect())
            .unwrap_or_default()
    }

    #[test]
    fn an_entry_keeps_its_sequence_name_and_anonymity() {
        let e = Entry::new(5, 123_456_789_012, 77, true);
        assert_eq!((e.at_us, e.seq(), e.name(), e.is_anonymous(), e.is_named()), (5, 123_456_789_012, 77, true, true));
        assert!(!Entry::new(5, 1, NO_NAME, false).is_named());
    }

    #[test]
    fn late_events_are_placed_in_time_order() {
        let mut data = IndexData::default();
        data.apply(&CommittedBatch::of(vec![
            event(1, 10, Some("a"), None, Some("u")),
            event(2, 30, Some("c"), None, Some("u")),
            event(3, 20, Some("b"), None, Some("u")),
            event(4, 20, Some("b2"), None, Some("u")),
        ]));
        let expected: Vec<(i64, String)> =
            vec![(10, "a".into()), (20, "b".into()), (20, "b2".into()), (30, "c".into())];
        assert_eq!(names(&data, "u"), expected, "equal times keep commit order");
        assert_eq!(data.applied_seq(), 4);
        // A batch seen again changes nothing.
        data.apply(&CommittedBatch::of(vec![event(4, 20, Some("b2"), None, Some("u"))]));
        assert_eq!(data.events_len(), 4);
    }

    #[test]
    fn an_identify_moves_earlier_anonymous_events_to_the_user_and_later_ones_follow() {
        let mut data = IndexData::default();
        data.apply(&CommittedBatch::of(vec![
            event(1, 10, Some("Home"), Some("anon"), None),
            event(2, 40, Some("product_viewed"), None, Some("ann")),
            event(3, 20, None, Some("anon"), Some("ann")),
            event(4, 50, Some("added_to_cart"), Some("anon"), None),
            // A second link of the same anonymous id is ignored.
            event(5, 60, None, Some("anon"), Some("bob")),
        ]));
        let expected: Vec<(i64, String)> =
            vec![(10, "Home".into()), (20, String::new()), (40, "product_viewed".into()), (50, "added_to_cart".into())];
        assert_eq!(names(&data, "ann"), expected);
        assert_eq!(names(&data, "anon"), expected, "the anonymous id finds its user");
        assert_eq!(data.customers_len(), 2, "ann and bob; the anonymous slot is gone");
    }

    #[tokio::test]
    async fn the_channel_column_reads_the_same_from_the_store_as_from_live_events() {
        use crate::store::JsonText;
        let attributed = |seq: i64, context: Option<serde_json::Value>, properties: Option<serde_json::Value>| {
            let mut e = event(seq, seq * 10, Some("Home"), None, Some("u"));
            e.event.context = context.as_ref().map(JsonText::from_value);
            e.event.properties = properties.as_ref().map(JsonText::from_value);
            e
        };
        let shop = "https://shop.example.com/";
        let events = vec![
            attributed(1, Some(serde_json::json!({ "campaign": { "source": "newsletter", "medium": "email" } })), None),
            attributed(
                2,
                Some(serde_json::json!({ "page": { "referrer": "https://www.google.com/", "url": shop } })),
                None,
            ),
            attributed(
                3,
                Some(serde_json::json!({ "page": { "referrer": format!("{shop}cart"), "url": shop } })),
                None,
            ),
            attributed(4, None, Some(serde_json::json!({ "referrer": "https://blog.example.org/post" }))),
            attributed(
                5,
                Some(serde_json::json!({ "campaign": "summer", "page": { "referrer": "https://bing.com/" } })),
                None,
            ),
            attributed(6, Some(serde_json::json!({ "page": { "url": shop }, "locale": "en-GB" })), None),
        ];
        let expected =
            vec![Some("email"), Some("organic search"), None, Some("referral"), Some("organic search"), None];
        let channels_of = |data: &IndexData| -> Vec<Option<String>> {
            let column = data.channels().expect("the channel column");
            (1..=6).map(|seq| column.dictionary().get(column.get(seq) as usize).cloned()).collect()
        };
        let expected: Vec<Option<String>> = expected.into_iter().map(|c| c.map(str::to_string)).collect();

        // Live: applied to an index that already keeps the column.
        let mut live = IndexData::default();
        live.properties.push((Column::Channel, PropertyColumn::default()));
        live.apply(&CommittedBatch::of(events.clone()));
        assert_eq!(channels_of(&live), expected);

        // Stored, then read by `queries/index/channel_values.sql`.
        let (index, _feed) = EventIndex::new();
        let store = Store::open_in_memory(crate::store::WriterConfig::default(), Box::new(|_| {})).unwrap();
        store.write(events.into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        index.load(&store).await.unwrap();
        index.materialise(&store, vec![Column::Channel]).await.unwrap();
        assert_eq!(index.read(move |data| channels_of(data)).await.unwrap(), expected);
        store.close().await;
    }

    #[tokio::test]
    async fn a_property_read_from_the_store_by_hash_or_as_text_equals_the_one_kept_live() {
        let with_plan = |seq: i64, properties: Option<&str>| {
            let mut e = event(seq, seq * 10, Some("view"), None, Some("u"));
            e.event.properties = properties.map(|p| crate::store::JsonText::parse(p.into()).unwrap());
            e
        };
        let events = vec![
            with_plan(1, Some(r#"{"plan":"pro"}"#)),
            with_plan(2, Some(r#"{"plan":"free","other":1}"#)),
            with_plan(3, None),
            with_plan(4, Some(r#"{"plan":null}"#)),
            with_plan(5, Some(r#"{"plan":2.50}"#)),
            with_plan(6, Some(r#"{"plan":"pro"}"#)),
            with_plan(7, Some(r#"{"plan":"caf\u00e9"}"#)),
        ];
        let values = |column: &PropertyColumn| -> Vec<Option<String>> {
            (0..=8).map(|seq| column.dictionary().get(column.get(seq) as usize).cloned()).collect()
        };
        let text = |v: &str| Some(v.to_string());
        let expected = vec![None, text("pro"), text("free"), None, None, text("2.5"), text("pro"), text("café"), None];

        let mut live = IndexData::default();
        live.properties.push((Column::Property("plan".into()), PropertyColumn::default()));
        live.apply(&CommittedBatch::of(events.clone()));
        assert_eq!(values(&live.properties[0].1), expected);

        let store = Store::open_in_memory(crate::store::WriterConfig::default(), Box::new(|_| {})).unwrap();
        store.write(events.into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        let (by_hash, as_text) = store
            .read(|conn| {
                let (mut by_hash, mut as_text) = (PropertyColumn::default(), PropertyColumn::default());
                load_property(conn, "plan", -1, 5, &mut by_hash)?;
                load_property(conn, "plan", 5, 7, &mut by_hash)?;
                load_property_texts(conn, "plan", -1, 7, &mut as_text)?;
                Ok((by_hash, as_text))
            })
            .await
            .unwrap();
        assert_eq!(values(&by_hash), expected, "in two ranges, as `materialise` reads them");
        assert_eq!(values(&as_text), expected);
        store.close().await;
    }

    #[test]
    fn compacting_lays_every_customers_events_out_in_one_arena_in_exactly_the_memory_they_need() {
        let mut data = IndexData::default();
        let events: Vec<StoredEvent> =
            (1..=100).map(|seq| event(seq, seq, Some("Home"), None, Some(["u", "v", "w"][seq as usize % 3]))).collect();
        for event in events {
            data.apply(&CommittedBatch::of(vec![event]));
        }
        let before: Vec<Vec<(i64, String)>> = ["u", "v", "w"].iter().map(|id| names(&data, id)).collect();
        let bytes_before = data.approximate_bytes();
        data.compact();
        let after: Vec<Vec<(i64, String)>> = ["u", "v", "w"].iter().map(|id| names(&data, id)).collect();
        assert_eq!(after, before);
        assert!(data.customers().iter().all(|c| c.events.own_bytes() == 0), "all in the arena");
        assert_eq!(data.arena_bytes, 100 * size_of::<Entry>(), "exactly the events, no room to grow");
        assert!(data.approximate_bytes() < bytes_before, "{} < {bytes_before}", data.approximate_bytes());
        // An event arriving after the compaction: its customer's events are copied out.
        data.apply(&CommittedBatch::of(vec![event(101, 1, Some("Pricing"), None, Some("u"))]));
        assert_eq!(names(&data, "u")[0], (1, "Pricing".to_string()), "a late event, placed first");
        assert_eq!(names(&data, "u")[1..], before[0][..]);
        let own: Vec<bool> =
            ["u", "v", "w"].iter().map(|id| data.customer(id).unwrap().events.own_bytes() > 0).collect();
        assert_eq!(own, [true, false, false]);
    }

    #[test]
    fn a_compaction_prepared_before_an_erasure_is_not_swapped_in_over_it() {
        let mut data = IndexData::default();
        data.apply(&CommittedBatch::of(vec![
            event(1, 10, Some("Home"), None, Some("u")),
            event(2, 20, Some("Home"), None, Some("v")),
        ]));
        let copies = data.compacted_copies();
        data.forget(&["u".to_string()]);
        assert!(data.swap_in(copies).is_none(), "the copies still hold u's events");
        assert_eq!(names(&data, "u"), Vec::<(i64, String)>::new());
        assert_eq!(data.events_len(), 1);
        let copies = data.compacted_copies();
        assert!(data.swap_in(copies).is_some(), "nothing removed since these copies");
        assert_eq!(names(&data, "v"), vec![(20, "Home".to_string())]);
    }

    #[tokio::test]
    async fn each_customers_first_touch_is_kept_current_as_events_arrive_late_and_identities_merge() {
        use crate::store::JsonText;
        let with = |mut e: StoredEvent, context: serde_json::Value| {
            e.event.context = Some(JsonText::from_value(&context));
            e
        };
        let google = serde_json::json!({ "page": { "referrer": "https://www.google.com/" } });
        let email = serde_json::json!({ "campaign": { "source": "newsletter", "medium": "email" } });
        let blog = serde_json::json!({ "page": { "referrer": "https://blog.example.org/post" } });
        let batches = vec![
            vec![with(event(1, 50, Some("Home"), None, Some("u")), google)],
            // Earlier than the first: the newsletter brought them.
            vec![with(event(2, 20, Some("Home"), None, Some("u")), email)],
            vec![event(3, 10, Some("Home"), Some("a"), None), with(event(4, 5, Some("Home"), Some("a"), None), blog)],
            // `a` turns out to be `u`: their anonymous visit from the blog came first of all.
            vec![event(5, 60, None, Some("a"), Some("u"))],
        ];
        let touch = |data: &IndexData, id: &str| -> String {
            let column = data.channels().expect("the channel column");
            let customer = data.customer(id).expect("the customer");
            assert_eq!(customer.first_touch(), channel::first_touch(&customer.events, column), "kept current");
            column.dictionary().get(customer.first_touch() as usize).cloned().unwrap_or_else(|| "direct".into())
        };
        let mut live = IndexData::default();
        live.properties.push((Column::Channel, PropertyColumn::default()));
        let mut seen = Vec::new();
        for batch in &batches {
            live.apply(&CommittedBatch::of(batch.clone()));
            seen.push(touch(
                &live,
                batch[0].event.user_id.as_deref().or(batch[0].event.anonymous_id.as_deref()).unwrap(),
            ));
        }
        assert_eq!(seen, ["organic search", "email", "referral", "referral"]);

        // Materialised after the fact, from the store: the same first touch.
        let (index, _feed) = EventIndex::new();
        let store = Store::open_in_memory(crate::store::WriterConfig::default(), Box::new(|_| {})).unwrap();
        store.write(batches.concat().into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        index.load(&store).await.unwrap();
        index.materialise(&store, vec![Column::Channel]).await.unwrap();
        assert_eq!(index.read(move |data| touch(data, "u")).await.unwrap(), "referral");
        store.close().await;
    }

    #[tokio::test]
    async fn page_views_are_known_by_name_live_and_after_a_reload() {
        let page = |seq: i64, name: &str, kind: &str| {
            let mut e = event(seq, seq * 10, Some(name), None, Some("u"));
            e.event.kind = kind.into();
            e
        };
        let events = vec![page(1, "Home", "page"), page(2, "added_to_cart", "track"), page(3, "Settings", "screen")];
        let page_views = |data: &IndexData| -> Vec<(String, bool)> {
            ["Home", "added_to_cart", "Settings", "never seen"]
                .iter()
                .map(|n| (n.to_string(), data.name_id(n).is_some_and(|id| data.is_page_view(id))))
                .collect()
        };
        let expected: Vec<(String, bool)> =
            [("Home", true), ("added_to_cart", false), ("Settings", true), ("never seen", false)]
                .iter()
                .map(|(n, b)| (n.to_string(), *b))
                .collect();

        let mut live = IndexData::default();
        live.apply(&CommittedBatch::of(events.clone()));
        assert_eq!(page_views(&live), expected);

        let (index, _feed) = EventIndex::new();
        let store = Store::open_in_memory(crate::store::WriterConfig::default(), Box::new(|_| {})).unwrap();
        store.write(events.into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        index.load(&store).await.unwrap();
        assert_eq!(index.read(move |data| page_views(data)).await.unwrap(), expected);
        store.close().await;
    }

    #[tokio::test]
    async fn a_snapshot_is_used_while_it_matches_the_store_and_the_store_rebuilds_it_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wayline.duckdb");
        let path = snapshot::path_for(&db);
        let open = || Store::open(&db, crate::store::WriterConfig::default(), Box::new(|_| {})).unwrap();
        let summary =
            |data: &IndexData| (names(data, "ann"), names(data, "bob"), data.customers_len(), data.events_len());

        // Saved after four events (ann's anonymous visit linked to her, and bob).
        let store = open();
        let first = vec![
            event(1, 10, Some("view"), None, Some("ann")),
            event(2, 20, Some("Home"), Some("anon"), None),
            event(3, 30, None, Some("anon"), Some("ann")),
            event(4, 40, Some("view"), Some("bob-device"), Some("bob")),
        ];
        store.write(first.into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        let (index, _feed) = EventIndex::new();
        index.load_with_snapshot(&store, Some(path.clone())).await.unwrap();
        assert_eq!(index.shared.saved_seq.load(Ordering::SeqCst), -1, "no snapshot yet: built from the store");
        index.save().await.unwrap();
        assert!(path.exists());

        // One more event after the save: the restart loads the snapshot and catches up, and
        // the index equals one rebuilt from the store.
        store.write(vec![event(5, 50, Some("cart"), Some("anon"), None).event], vec![]).await.unwrap();
        store.close().await;
        let store = open();
        let (restarted, _feed) = EventIndex::new();
        restarted.load_with_snapshot(&store, Some(path.clone())).await.unwrap();
        assert_eq!(restarted.shared.saved_seq.load(Ordering::SeqCst), 4, "loaded from the snapshot saved at 4");
        let (rebuilt, _feed) = EventIndex::new();
        rebuilt.load(&store).await.unwrap();
        let expected = rebuilt.read(summary).await.unwrap();
        assert_eq!(restarted.read(summary).await.unwrap(), expected);
        assert_eq!(expected.0.len(), 4, "ann: view, Home, identify, cart");

        // Bob erased while the server was down (`wayline customer erase`): the snapshot holds
        // him, so it is not used.
        restarted.save().await.unwrap();
        crate::erasure::erase_stored(&store, "bob").await.unwrap();
        store.close().await;
        let store = open();
        let (after_erasure, _feed) = EventIndex::new();
        after_erasure.load_with_snapshot(&store, Some(path.clone())).await.unwrap();
        assert_eq!(after_erasure.shared.saved_seq.load(Ordering::SeqCst), -1, "rebuilt from the store");
        let (_, bob, customers, events) = after_erasure.read(summary).await.unwrap();
        assert_eq!((bob.len(), customers, events), (0, 1, 4));

        // A damaged snapshot is not trusted either.
        std::fs::write(&path, b"WLINDEX1 cut").unwrap();
        let (after_damage, _feed) = EventIndex::new();
        after_damage.load_with_snapshot(&store, Some(path.clone())).await.unwrap();
        assert_eq!(after_damage.shared.saved_seq.load(Ordering::SeqCst), -1);
        assert_eq!(after_damage.read(summary).await.unwrap().3, 4);
        store.close().await;
    }

    #[test]
    fn the_property_asked_for_longest_ago_is_the_one_dropped() {
        let column = |name: &str| match name {
            "$channel" => Column::Channel,
            property => Column::Property(property.to_string()),
        };
        let properties: Vec<(Column, PropertyColumn)> =
            ["plan", "category", "$channel"].iter().map(|n| (column(n), PropertyColumn::default())).collect();
        let uses = |pairs: &[(&str, u64)]| {
            Mutex::new((9, pairs.iter().map(|(n, t)| (column(n), *t)).collect::<HashMap<_, _>>()))
        };
        assert_eq!(least_recently_used(&properties, &uses(&[("plan", 5), ("category", 2), ("$channel", 9)])), 1);
        assert_eq!(least_recently_used(&properties, &uses(&[("plan", 5), ("category", 7), ("$channel", 9)])), 0);
        // Materialised but never asked for since (by this index's memory): first to go.
        assert_eq!(least_recently_used(&properties, &uses(&[("plan", 5), ("category", 7)])), 2);
    }

    #[tokio::test]
    async fn loading_from_the_store_matches_applying_the_batches() {
        let (index, feed) = EventIndex::new();
        let store = Store::open_in_memory(
            crate::store::WriterConfig::default(),
            Box::new(move |batch: Arc<CommittedBatch>| feed.send(&batch)),
        )
        .unwrap();
        let batch = vec![event(1, 10, Some("Home"), Some("anon"), None), event(2, 20, None, Some("anon"), Some("ann"))];
        store.write(batch.into_iter().map(|e| e.event).collect(), vec![]).await.unwrap();
        index.load(&store).await.unwrap();
        let in_arena = index.read(|data| data.customers().iter().all(|c| c.events.own_bytes() == 0)).await.unwrap();
        assert!(in_arena, "a rebuild lays every customer's events out in one arena");
        // Committed after the load: applied by the index thread.
        let later = vec![event(3, 5, Some("ad_clicked"), Some("anon"), None).event];
        store.write(later, vec![]).await.unwrap();
        let (seen, applied) = index.read(|data| (names(data, "ann"), data.applied_seq())).await.unwrap();
        let expected: Vec<(i64, String)> = vec![(5, "ad_clicked".into()), (10, "Home".into()), (20, String::new())];
        assert_eq!(seen, expected);
        assert_eq!(applied, 3);
        store.close().await;
    }
}
