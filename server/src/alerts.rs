//! Alerts: a rule's condition met by one customer, with the events that met it and what the
//! customer did just before; and their lifecycle (open → acknowledged → resolved, with an
//! assignee and a note). Every change gets a new version, the alert stream's event id.

use std::{collections::HashMap, sync::Arc};

pub use app::types::{Alert, AlertChange, AlertEvent, AlertFilter, AlertGroup, AlertRestore, AlertState};
use chrono::{DateTime, Utc};
use duckdb::params;
use tokio::sync::{broadcast, Mutex};

use crate::{
    hashed_key::hashed_key,
    hub::Announced,
    store::{sql, Micros, Store, StoreError},
    telemetry::{Cause, Traced},
};

/// What the rule engine raises.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub rule_id: String,
    pub rule_name: String,
    pub customer_id: String,
    pub anchor_seq: i64,
    pub message: String,
    pub triggering: Vec<AlertEvent>,
    pub context: Vec<AlertEvent>,
    pub occurred_at: DateTime<Utc>,
    /// The customer is in the rule's holdout (see [`crate::rules::in_holdout`]).
    pub holdout: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no alert {0}; list them with GET /api/v1/alerts")]
    NotFound(i64),
    #[error("alert {id} is resolved; reopen it (state \"open\") before acknowledging it")]
    Transition { id: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records the `alert.raised` span of an alert met by an event of a traced request (the
/// newest event that met it); its place, for the webhooks sent for it.
fn alert_raised(alert: &Alert, traced: &[Traced]) -> Cause {
    let newest = alert.triggering.iter().map(|e| e.seq).max().unwrap_or(alert.anchor_seq);
    let Some(request) = crate::telemetry::request_of(traced, newest) else { return Cause::none() };
    let span = crate::path_span!(
        &request.cause,
        "alert.raised",
        rule = %alert.rule_id,
        alert = alert.id,
        holdout = alert.holdout,
    );
    Cause::of(&span)
}

/// A rule, a customer and the anchor event an alert is about (one alert each), as a
/// [`hashed_key`]: the memory of the alerts raised holds no strings.
pub type AnchorKey = u128;

pub fn anchor_key(rule_id: &str, customer_id: &str, anchor_seq: i64) -> AnchorKey {
    hashed_key(&(rule_id, customer_id, anchor_seq))
}

/// Where ids and versions continue from, and which anchors have alerted recently (with when
/// their condition was met, µs); writes take it in turn.
struct Counters {
    last_id: i64,
    last_version: i64,
    raised: HashMap<AnchorKey, i64>,
    /// The record is pruned when it grows past this.
    prune_at: usize,
    /// The most anchors kept after a prune ([`MAX_REMEMBERED_ANCHORS`] but in tests).
    max_remembered: usize,
}

/// How far back raised anchors are remembered in memory. The rule engine raises nothing met
/// more than a day ago, so an older anchor does not come back; if it does (a rule's wait made
/// longer), the table's unique key still refuses it.
pub const REMEMBERED: chrono::Duration = chrono::Duration::days(2);
/// The most anchors remembered in memory (by the alert store, and by the rule engine): the
/// newest are kept. Without a bound, two days of a busy rule set are tens of millions of
/// anchors, held in memory and read back at every start (a soak raised 1.2M alerts an hour);
/// an older anchor raised again is still refused by the table's unique key, only more slowly.
pub const MAX_REMEMBERED_ANCHORS: usize = 1_000_000;
const FIRST_PRUNE_AT: usize = 10_000;

/// Keeps the `keep` entries with the highest values (the newest anchors, by sequence number
/// or by time), forgetting the rest; ties at the threshold are all kept.
pub fn keep_newest<K>(remembered: &mut HashMap<K, i64>, keep: usize) {
    if remembered.len() <= keep {
        return;
    }
    if keep == 0 {
        remembered.clear();
        return;
    }
    let mut values: Vec<i64> = remembered.values().copied().collect();
    let cut = values.len() - keep;
    let (_, &mut threshold, _) = values.select_nth_unstable(cut);
    remembered.retain(|_, value| *value >= threshold);
}

/// The alert store and the channel that announces every change. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    store: Store,
    counters: Arc<Mutex<Counters>>,
    changes: broadcast::Sender<Arc<Announced<Alert>>>,
}

/// Alert changes a slow stream may fall behind before it is told to resync.
const CHANGES_CAPACITY: usize = 1024;

impl Alerts {
    pub async fn load(store: Store) -> Result<Self, AlertError> {
        Self::load_remembering(store, MAX_REMEMBERED_ANCHORS).await
    }

    /// As [`Alerts::load`], remembering at most `max_remembered` raised anchors in memory.
    async fn load_remembering(store: Store, max_remembered: usize) -> Result<Self, AlertError> {
        let (last_id, last_version) = store
            .read(|conn| Ok(conn.query_row(sql::ALERTS_COUNTERS, [], |row| Ok((row.get(0)?, row.get(1)?)))?))
            .await?;
        let raised: HashMap<AnchorKey, i64> = anchors_since(&store, store.clock().now() - REMEMBERED, max_remembered)
            .await?
            .into_iter()
            .map(|anchor| (anchor.key, anchor.occurred_us))
            .collect();
        let prune_at = prune_at(raised.len(), max_remembered);
        Ok(Alerts {
            store,
            counters: Arc::new(Mutex::new(Counters { last_id, last_version, raised, prune_at, max_remembered })),
            changes: broadcast::channel(CHANGES_CAPACITY).0,
        })
    }

    /// Listens for alert changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Announced<Alert>>> {
        self.changes.subscribe()
    }

    /// Stores a new alert; `None` when the rule already alerted on this customer and anchor.
    pub async fn raise(&self, alert: NewAlert) -> Result<Option<Alert>, AlertError> {
        Ok(self.raise_all(vec![alert], &[]).await?.pop())
    }

    /// Stores new alerts in one append and announces them; those the rule already raised
    /// for the same customer and anchor are left out (and out of the answer). An alert met
    /// by an event of a request in `traced` continues that request's trace.
    pub async fn raise_all(&self, alerts: Vec<NewAlert>, traced: &[Traced]) -> Result<Vec<Alert>, AlertError> {
        let mut counters = self.counters.lock().await;
        let now = self.store.clock().now();
        if counters.raised.len() > counters.prune_at {
            let cutoff = (now - REMEMBERED).timestamp_micros();
            counters.raised.retain(|_, occurred| *occurred >= cutoff);
            // Halved at the bound, so that pruning (a pass over the map) stays rare.
            let keep = counters.max_remembered / 2;
            keep_newest(&mut counters.raised, keep);
            counters.prune_at = prune_at(counters.raised.len(), counters.max_remembered);
        }
        let mut stored: Vec<Alert> = Vec::new();
        for alert in alerts {
            let key = anchor_key(&alert.rule_id, &alert.customer_id, alert.anchor_seq);
            if counters.raised.contains_key(&key) {
                continue;
            }
            let (id, version) =
                (counters.last_id + 1 + stored.len() as i64, counters.last_version + 1 + stored.len() as i64);
            counters.raised.insert(key, alert.occurred_at.timestamp_micros());
            stored.push(Alert {
                id,
                rule_id: alert.rule_id,
                rule_name: alert.rule_name,
                customer_id: alert.customer_id,
                anchor_seq: alert.anchor_seq,
                state: AlertState::Open,
                assignee: None,
                note: None,
                message: alert.message,
                triggering: alert.triggering,
                context: alert.context,
                occurred_at: alert.occurred_at,
                created_at: now,
                updated_at: now,
                version,
                holdout: alert.holdout,
            });
        }
        if stored.is_empty() {
            return Ok(stored);
        }
        let rows = stored.clone();
        let appended = self
            .store
            .read(move |conn| {
                // The Appender: single-row INSERTs cost milliseconds each here.
                let mut appender = conn.appender("alerts")?;
                for a in &rows {
                    let values = alert_values(a);
                    appender.append_row(values.iter().map(|v| v.as_ref()).collect::<Vec<_>>().as_slice())?;
                }
                appender.flush()?;
                Ok(())
            })
            .await;
        if appended.is_err() {
            // An anchor the table already has (one the memory no longer held) fails the
            // whole append: insert one by one, leaving out those the table refuses.
            let rows = stored.clone();
            let inserted = self
                .store
                .change(move |conn| {
                    let mut stmt = conn.prepare(sql::ALERTS_INSERT_OR_IGNORE)?;
                    let mut inserted = Vec::new();
                    for a in &rows {
                        let values = alert_values(a);
                        let row: Vec<&dyn duckdb::ToSql> = values.iter().map(|v| v.as_ref()).collect();
                        inserted.push(stmt.execute(row.as_slice())? == 1);
                    }
                    Ok(inserted)
                })
                .await;
            match inserted {
                Ok(inserted) => {
                    let mut kept = inserted.into_iter();
                    stored.retain(|_| kept.next().unwrap_or(false));
                }
                Err(e) => {
                    for a in &stored {
                        counters.raised.remove(&anchor_key(&a.rule_id, &a.customer_id, a.anchor_seq));
                    }
                    return Err(e.into());
                }
            }
        }
        if let Some(last) = stored.last() {
            (counters.last_id, counters.last_version) = (last.id, last.version);
        }
        for alert in &stored {
            let cause = alert_raised(alert, traced);
            // A holdout alert is recorded, not announced: no webhook, no stream, no inbox.
            if !alert.holdout {
                let _ = self.changes.send(Arc::new(Announced::caused_by(alert.clone(), cause)));
            }
        }
        Ok(stored)
    }

    /// Changes an alert's state, assignee or note.
    pub async fn change(&self, id: i64, change: AlertChange) -> Result<Alert, AlertError> {
        Ok(self.change_many(&[id], change).await?.remove(0))
    }

    /// Makes one change to several alerts (the inbox's bulk actions), all or none: an alert
    /// that is missing or may not make the change refuses the whole change.
    pub async fn change_many(&self, ids: &[i64], change: AlertChange) -> Result<Vec<Alert>, AlertError> {
        let mut counters = self.counters.lock().await;
        let mut changed = Vec::with_capacity(ids.len());
        for &id in ids {
            let mut alert = self.get(id).await?;
            let state = change.state.unwrap_or(alert.state);
            if alert.state == AlertState::Resolved && state == AlertState::Acknowledged {
                return Err(AlertError::Transition { id });
            }
            alert.state = state;
            if let Some(assignee) = &change.assignee {
                alert.assignee = Some(assignee.trim().to_string()).filter(|a| !a.is_empty());
            }
            if let Some(note) = &change.note {
                alert.note = Some(note.clone());
            }
            changed.push(alert);
        }
        self.write_changes(&mut counters, changed).await
    }

    /// Puts alerts back as they were before a change (undo), leaving out those changed again
    /// since; answers the alerts put back.
    pub async fn restore(&self, previous: Vec<AlertRestore>) -> Result<Vec<Alert>, AlertError> {
        let mut counters = self.counters.lock().await;
        let mut restored = Vec::with_capacity(previous.len());
        for before in previous {
            // One erased since (with its customer) or changed by someone else stays as it is.
            let mut alert = match self.get(before.id).await {
                Ok(alert) if alert.version == before.version => alert,
                Ok(_) | Err(AlertError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            (alert.state, alert.assignee, alert.note) = (before.state, before.assignee, before.note);
            restored.push(alert);
        }
        self.write_changes(&mut counters, restored).await
    }

    /// Stores changed alerts with new versions in one transaction and announces them.
    async fn write_changes(&self, counters: &mut Counters, mut alerts: Vec<Alert>) -> Result<Vec<Alert>, AlertError> {
        let now = self.store.clock().now();
        for (i, alert) in alerts.iter_mut().enumerate() {
            alert.updated_at = now;
            alert.version = counters.last_version + 1 + i as i64;
        }
        let rows = alerts.clone();
        self.store
            .change(move |conn| {
                let mut stmt = conn.prepare(sql::ALERTS_UPDATE)?;
                for row in &rows {
                    stmt.execute(params![
                        row.state.as_str(),
                        row.assignee,
                        row.note,
                        Micros::of(row.updated_at),
                        row.version,
                        row.id
                    ])?;
                }
                Ok(())
            })
            .await?;
        if let Some(last) = alerts.last() {
            counters.last_version = last.version;
        }
        for alert in &alerts {
            let _ = self.changes.send(Arc::new(Announced::new(alert.clone())));
        }
        Ok(alerts)
    }

    pub async fn get(&self, id: i64) -> Result<Alert, AlertError> {
        let found = self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::ALERTS_SELECT_ONE)?;
                let mut rows = stmt.query_map(params![id], alert_row)?;
                Ok(rows.next().transpose()?)
            })
            .await?;
        found.ok_or(AlertError::NotFound(id))
    }

    /// Alerts, newest first.
    pub async fn list(&self, filter: AlertFilter) -> Result<Vec<Alert>, AlertError> {
        Ok(self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::ALERTS_SELECT)?;
                let [state, rule, assignee, customer] = filter_params(&filter);
                let rows = stmt.query_map(
                    params![
                        state,
                        rule,
                        assignee,
                        customer,
                        filter.limit.unwrap_or(50).clamp(1, 500) as i64,
                        filter.offset.unwrap_or(0) as i64
                    ],
                    alert_row,
                )?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?)
    }

    /// How many alerts the filter matches (its limit and offset aside).
    pub async fn count(&self, filter: AlertFilter) -> Result<u64, AlertError> {
        Ok(self
            .store
            .read(move |conn| {
                let [state, rule, assignee, customer] = filter_params(&filter);
                Ok(conn.query_row(sql::ALERTS_COUNT, params![state, rule, assignee, customer], |r| r.get(0))?)
            })
            .await?)
    }

    /// The filter's alerts by rule, and by customer (at most `most` groups each), most first.
    pub async fn groups(
        &self,
        filter: AlertFilter,
        most: usize,
    ) -> Result<(Vec<AlertGroup>, Vec<AlertGroup>), AlertError> {
        Ok(self
            .store
            .read(move |conn| {
                let [state, rule, assignee, customer] = filter_params(&filter);
                let time = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or_default();
                let mut stmt = conn.prepare(sql::ALERTS_GROUPS_BY_RULE)?;
                let by_rule = stmt
                    .query_map(params![state, rule, assignee, customer, most as i64], |r| {
                        Ok(AlertGroup {
                            key: r.get(0)?,
                            label: r.get(1)?,
                            count: r.get(2)?,
                            newest_at: time(r.get(3)?),
                        })
                    })?
                    .collect::<Result<_, _>>()?;
                let mut stmt = conn.prepare(sql::ALERTS_GROUPS_BY_CUSTOMER)?;
                let by_customer = stmt
                    .query_map(params![state, rule, assignee, customer, most as i64], |r| {
                        let key: String = r.get(0)?;
                        Ok(AlertGroup { label: key.clone(), key, count: r.get(1)?, newest_at: time(r.get(2)?) })
                    })?
                    .collect::<Result<_, _>>()?;
                Ok((by_rule, by_customer))
            })
            .await?)
    }

    /// Alerts changed after `version`, oldest change first (at most 1,000).
    pub async fn changed_since(&self, version: i64) -> Result<Vec<Alert>, AlertError> {
        Ok(self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::ALERTS_SELECT_CHANGED_SINCE)?;
                let rows = stmt.query_map(params![version], alert_row)?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?)
    }

    /// When each rule last alerted on each customer since `since` (µs), for cooldowns.
    pub async fn latest_per_rule_customer(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, String, i64)>, AlertError> {
        Ok(self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::ALERTS_LATEST_PER_RULE_CUSTOMER)?;
                let rows = stmt.query_map(params![Micros::of(since)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?)
    }

    /// The anchors of the alerts that occurred since `since`, the newest `limit` of them.
    pub async fn anchors_since(&self, since: DateTime<Utc>, limit: usize) -> Result<Vec<RaisedAnchor>, AlertError> {
        Ok(anchors_since(&self.store, since, limit).await?)
    }

    /// How many anchors the store remembers in memory, and the bytes they take (estimated
    /// from the map's capacity), for the status endpoint and tests.
    pub async fn remembered_anchors(&self) -> (usize, usize) {
        let counters = self.counters.lock().await;
        let entry = size_of::<AnchorKey>() + size_of::<i64>();
        (counters.raised.len(), crate::memory::hash_table_bytes(counters.raised.capacity(), entry))
    }
}

/// The filter's state, rule, assignee and customer as the alert queries take them (NULL: any).
fn filter_params(filter: &AlertFilter) -> [Option<String>; 4] {
    [
        filter.state.map(|s| s.as_str().to_string()),
        filter.rule.clone(),
        filter.assignee.clone(),
        filter.customer.clone(),
    ]
}

/// An anchor alerted on: its key, its sequence number and when its condition was met (µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaisedAnchor {
    pub key: AnchorKey,
    pub anchor_seq: i64,
    pub occurred_us: i64,
}

/// When the record of `remembered` anchors (at most `max`) is pruned next: once it has doubled,
/// and at the latest when it reaches `max`.
fn prune_at(remembered: usize, max: usize) -> usize {
    FIRST_PRUNE_AT.max(remembered * 2).min(max)
}

/// Anchors alerted on for conditions met since `since`, the newest `limit` of them.
async fn anchors_since(store: &Store, since: DateTime<Utc>, limit: usize) -> Result<Vec<RaisedAnchor>, StoreError> {
    store
        .read(move |conn| {
            let mut stmt = conn.prepare(sql::ALERTS_ANCHORS_SINCE)?;
            let rows = stmt.query_map(params![Micros::of(since), limit as i64], |r| {
                let (rule_id, customer_id, anchor_seq): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                Ok(RaisedAnchor {
                    key: anchor_key(&rule_id, &customer_id, anchor_seq),
                    anchor_seq,
                    occurred_us: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
}

/// A new alert's columns in table order.
fn alert_values(a: &Alert) -> Vec<Box<dyn duckdb::ToSql + '_>> {
    let json = |events: &Vec<AlertEvent>| serde_json::to_string(events).unwrap_or_else(|_| "[]".into());
    vec![
        Box::new(a.id) as Box<dyn duckdb::ToSql>,
        Box::new(&a.rule_id),
        Box::new(&a.rule_name),
        Box::new(&a.customer_id),
        Box::new(a.anchor_seq),
        Box::new(a.state.as_str()),
        Box::new(&a.assignee),
        Box::new(&a.note),
        Box::new(&a.message),
        Box::new(json(&a.triggering)),
        Box::new(json(&a.context)),
        Box::new(Micros::of(a.occurred_at)),
        Box::new(Micros::of(a.created_at)),
        Box::new(Micros::of(a.updated_at)),
        Box::new(a.version),
        Box::new(a.holdout),
    ]
}

fn alert_row(row: &duckdb::Row<'_>) -> duckdb::Result<Alert> {
    let events = |i: usize| -> duckdb::Result<Vec<AlertEvent>> {
        Ok(serde_json::from_str(&row.get::<_, String>(i)?).unwrap_or_default())
    };
    let time = |i: usize| -> duckdb::Result<DateTime<Utc>> {
        Ok(DateTime::from_timestamp_micros(row.get(i)?).unwrap_or_default())
    };
    Ok(Alert {
        id: row.get(0)?,
        rule_id: row.get(1)?,
        rule_name: row.get(2)?,
        customer_id: row.get(3)?,
        anchor_seq: row.get(4)?,
        state: AlertState::parse(&row.get::<_, String>(5)?).unwrap_or(AlertState::Open),
        assignee: row.get(6)?,
        note: row.get(7)?,
        message: row.get(8)?,
        triggering: events(9)?,
        context: events(10)?,
        occurred_at: time(11)?,
        created_at: time(12)?,
        updated_at: time(13)?,
        version: row.get(14)?,
        holdout: row.get::<_, Option<bool>>(15)?.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    fn new_alert(customer: &str, anchor: i64) -> NewAlert {
        NewAlert {
            rule_id: "cart-abandoned".into(),
            rule_name: "Cart abandoned".into(),
            customer_id: customer.into(),
            anchor_seq: anchor,
            message: "added_to_cart, then no purchase_completed within 1 h".into(),
            triggering: vec![AlertEvent { seq: anchor, event: Some("added_to_cart".into()), at: Utc::now() }],
            context: vec![],
            occurred_at: Utc::now(),
            holdout: false,
        }
    }

    #[tokio::test]
    async fn an_old_anchor_the_memory_forgot_is_still_refused_by_the_table() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let alerts = Alerts::load(store.clone()).await.unwrap();
        let old = NewAlert { occurred_at: Utc::now() - chrono::Duration::days(3), ..new_alert("ann", 7) };
        alerts.raise(old.clone()).await.unwrap().unwrap();
        alerts.raise(new_alert("bob", 8)).await.unwrap().unwrap();
        let reloaded = Alerts::load(store).await.unwrap();
        assert_eq!(reloaded.remembered_anchors().await.0, 1, "only bob's recent anchor is kept in memory");
        let raised = reloaded.raise_all(vec![old, new_alert("cat", 9)], &[]).await.unwrap();
        assert_eq!(raised.iter().map(|a| a.customer_id.as_str()).collect::<Vec<_>>(), vec!["cat"]);
        let all = reloaded.list(AlertFilter::default()).await.unwrap();
        assert_eq!(all.iter().filter(|a| a.customer_id == "ann").count(), 1, "ann's anchor stored once");
        assert_eq!(reloaded.raise(new_alert("bob", 8)).await.unwrap(), None);
    }

    #[test]
    fn keeping_the_newest_forgets_the_lowest_values_and_keeps_ties_at_the_threshold() {
        let mut remembered: HashMap<&str, i64> = [("a", 5), ("b", 1), ("c", 9), ("d", 3), ("e", 7)].into();
        keep_newest(&mut remembered, 2);
        let mut kept: Vec<&str> = remembered.keys().copied().collect();
        kept.sort();
        assert_eq!(kept, vec!["c", "e"]);
        let mut tied: HashMap<&str, i64> = [("a", 4), ("b", 4), ("c", 1)].into();
        keep_newest(&mut tied, 1);
        assert_eq!(tied.len(), 2, "both anchors at the threshold stay");
        keep_newest(&mut tied, 5);
        assert_eq!(tied.len(), 2, "fewer than asked: nothing is forgotten");
        keep_newest(&mut tied, 0);
        assert!(tied.is_empty());
    }

    /// Ten alerts, one a minute (anchors 1 to 10), with room for four anchors in memory: the
    /// memory stays bounded, the newest are read back at start, and every anchor is refused
    /// again, whether remembered or only in the table.
    #[tokio::test]
    async fn a_bounded_memory_keeps_the_newest_anchors_and_the_table_refuses_the_rest() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let alerts = Alerts::load_remembering(store.clone(), 4).await.unwrap();
        let start = Utc::now() - chrono::Duration::hours(1);
        let minute = |k: i64| start + chrono::Duration::minutes(k);
        let alert = |k: i64| NewAlert { occurred_at: minute(k), ..new_alert(&format!("customer-{k}"), k) };
        for k in 1..=10 {
            alerts.raise(alert(k)).await.unwrap().expect("a new anchor is raised");
            assert!(alerts.remembered_anchors().await.0 <= 5, "at most the bound and the alert just raised");
        }
        let newest = alerts.anchors_since(minute(0), 3).await.unwrap();
        assert_eq!(newest.iter().map(|a| a.anchor_seq).collect::<Vec<_>>(), vec![10, 9, 8]);
        let since_minute_9 = alerts.anchors_since(minute(9), 5).await.unwrap();
        assert_eq!(since_minute_9.iter().map(|a| a.anchor_seq).collect::<Vec<_>>(), vec![10, 9]);

        let reloaded = Alerts::load_remembering(store, 3).await.unwrap();
        assert_eq!(reloaded.remembered_anchors().await.0, 3);
        let again = reloaded.raise_all((1..=10).map(alert).collect(), &[]).await.unwrap();
        assert!(again.is_empty(), "raised again: {:?}", again.iter().map(|a| a.anchor_seq).collect::<Vec<_>>());
        assert_eq!(reloaded.list(AlertFilter::default()).await.unwrap().len(), 10, "each stored once");
    }

    #[tokio::test]
    async fn an_alert_is_raised_once_and_walks_its_lifecycle() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let alerts = Alerts::load(store.clone()).await.unwrap();
        let mut changes = alerts.subscribe();
        let first = alerts.raise(new_alert("ann", 7)).await.unwrap().unwrap();
        assert_eq!((first.id, first.version, first.state), (1, 1, AlertState::Open));
        assert_eq!(alerts.raise(new_alert("ann", 7)).await.unwrap(), None, "same rule, customer and anchor");
        assert_eq!(changes.recv().await.unwrap().value.id, 1);

        let change = AlertChange { state: Some(AlertState::Acknowledged), assignee: Some("sam".into()), note: None };
        let acked = alerts.change(1, change).await.unwrap();
        assert_eq!((acked.state, acked.assignee.as_deref(), acked.version), (AlertState::Acknowledged, Some("sam"), 2));
        let resolved = alerts
            .change(
                1,
                AlertChange {
                    state: Some(AlertState::Resolved),
                    note: Some("called her".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((resolved.state, resolved.note.as_deref()), (AlertState::Resolved, Some("called her")));
        let back = alerts.change(1, AlertChange { state: Some(AlertState::Acknowledged), ..Default::default() }).await;
        assert!(back.unwrap_err().to_string().contains("reopen"));
        assert!(matches!(alerts.change(99, AlertChange::default()).await, Err(AlertError::NotFound(99))));
        // Undo of a change whose alert has gone since (erased with its customer) skips it.
        let gone = AlertRestore { id: 99, version: 1, state: AlertState::Open, assignee: None, note: None };
        assert!(alerts.restore(vec![gone]).await.unwrap().is_empty());

        alerts.raise(new_alert("bob", 9)).await.unwrap().unwrap();
        let open = alerts.list(AlertFilter { state: Some(AlertState::Open), ..Default::default() }).await.unwrap();
        assert_eq!(open.iter().map(|a| a.customer_id.as_str()).collect::<Vec<_>>(), vec!["bob"]);
        let sams = alerts.list(AlertFilter { assignee: Some("sam".into()), ..Default::default() }).await.unwrap();
        assert_eq!(sams.len(), 1);
        let since: Vec<(i64, i64)> = alerts.changed_since(2).await.unwrap().iter().map(|a| (a.id, a.version)).collect();
        assert_eq!(since, vec![(1, 3), (2, 4)], "the resolution and bob's alert, in the order they changed");
        // Counters continue after a restart.
        let reloaded = Alerts::load(store).await.unwrap();
        assert_eq!(reloaded.raise(new_alert("cat", 11)).await.unwrap().unwrap().id, 3);
    }
}
