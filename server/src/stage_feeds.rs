//! Stage occupancy pushed to dashboards: for each journey, activity window and channel watched,
//! one task recounts the active sessions per stage from the event index at most every
//! 250 ms after events commit (and every few seconds anyway, as sessions age and time in
//! stage grows), and every stream watching it gets the new counts when they change.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use app::types::StageOccupancy;

use crate::{
    analytics::{Active, Analytics},
    clock::Clock,
    hub::Hub,
    journeys::Journey,
};

/// Counts are recomputed at most this often.
pub const COALESCE: Duration = Duration::from_millis(250);
/// ... and at least this often, for sessions that end and times that grow without events.
const REFRESH: Duration = Duration::from_secs(5);

type Key = (String, Active);
/// Most distinct feeds (journey, minutes, channel) counted at once; each recounts on commits.
pub const MAX_FEEDS: usize = 64;
/// The latest counts of one feed.
pub type Counts = watch::Receiver<Arc<Vec<StageOccupancy>>>;

/// The occupancy feeds being watched. Cheap to clone.
#[derive(Clone)]
pub struct OccupancyFeeds {
    analytics: Analytics,
    clock: Clock,
    hub: Hub,
    feeds: Arc<Mutex<HashMap<Key, Counts>>>,
}

impl OccupancyFeeds {
    pub fn new(analytics: Analytics, hub: Hub, clock: Clock) -> Self {
        OccupancyFeeds { analytics, clock, hub, feeds: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The feed of `journey` counted over the `active` sessions, started if nobody watched it.
    pub async fn watch(&self, journey: Journey, active: Active) -> Result<Counts, crate::analytics::AnalyticsError> {
        let key = (journey.name.clone(), active.clone());
        if let Some(feed) = self.feeds.lock().ok().and_then(|f| f.get(&key).cloned()) {
            return Ok(feed);
        }
        let too_many = || {
            crate::analytics::AnalyticsError::Busy(format!(
                "{MAX_FEEDS} different live stage views are open, the most Wayline counts at once; retry when some close, or watch one already open (the same journey, minutes and channel)"
            ))
        };
        if self.feeds.lock().is_ok_and(|feeds| feeds.len() >= MAX_FEEDS) {
            return Err(too_many());
        }
        let first = self.analytics.active_stages(journey.clone(), active.clone(), self.clock.now()).await?;
        let (sender, receiver) = watch::channel(Arc::new(first));
        if let Ok(mut feeds) = self.feeds.lock() {
            if let Some(existing) = feeds.get(&key) {
                return Ok(existing.clone());
            }
            if feeds.len() >= MAX_FEEDS {
                return Err(too_many());
            }
            feeds.insert(key.clone(), receiver.clone());
        }
        tokio::spawn(self.clone().recount(journey, active, sender, key));
        Ok(receiver)
    }

    /// Recounts after commits (coalesced) and on a timer, until nobody watches.
    async fn recount(
        self,
        journey: Journey,
        active: Active,
        sender: watch::Sender<Arc<Vec<StageOccupancy>>>,
        key: Key,
    ) {
        let mut commits = self.hub.subscribe();
        loop {
            // Wait for a commit or the refresh, then let more commits gather.
            let _ = tokio::time::timeout(REFRESH, commits.recv()).await;
            tokio::time::sleep(COALESCE).await;
            while commits.try_recv().is_ok() {}
            // The map holds one receiver; any other is a stream.
            if sender.receiver_count() <= 1 {
                break;
            }
            match self.analytics.active_stages(journey.clone(), active.clone(), self.clock.now()).await {
                Ok(counts) => {
                    sender.send_if_modified(|current| {
                        let changed = **current != counts;
                        if changed {
                            *current = Arc::new(counts);
                        }
                        changed
                    });
                }
                Err(e) => tracing::warn!(error = %e, "could not recount stage occupancy"),
            }
        }
        if let Ok(mut feeds) = self.feeds.lock() {
            feeds.remove(&key);
        }
    }
}
