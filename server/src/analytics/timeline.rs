//! A customer's timeline: their events across stitched identities, read back from the store
//! by sequence number, split into sessions and placed in the journey's stages.

use app::types::{Journey, Timeline, TimelineEvent, TimelineSession};
use chrono::{DateTime, Utc};
use duckdb::params;

use super::{Analytics, AnalyticsError};
use crate::store::{sql, JsonText, StoreError};

impl Analytics {
    /// The whole timeline of the customer known by `id` (any of their identities).
    pub async fn customer_timeline(&self, id: &str, journey: Journey) -> Result<Timeline, AnalyticsError> {
        let known = self
            .index
            .answer({
                let id = id.to_string();
                move |data| data.customer(&id).map(|c| (c.id.to_string(), c.events.iter().map(|e| e.seq()).collect()))
            })
            .await?;
        let (customer_id, mut seqs): (String, Vec<i64>) = match known {
            Some(found) => found,
            None => (self.store.resolve_customer(id).await?, Vec::new()),
        };
        seqs.sort_unstable();
        let identities = self.store.customer_ids(&customer_id).await?;
        let mut events = self
            .store
            .read({
                let customer_id = customer_id.clone();
                let identities = serde_json::to_string(&identities).unwrap_or_else(|_| "[]".into());
                move |conn| timeline_events(conn, &customer_id, &identities, &seqs, MAX_TIMELINE_STRETCHES)
            })
            .await?;
        events.sort_by_key(|e| (e.at, e.seq));
        let mut sessions: Vec<TimelineSession> = Vec::new();
        for mut event in events {
            event.stage = event
                .name
                .as_deref()
                .and_then(|n| journey.stage_of_event(n, &event.properties))
                .map(|i| journey.stages[i].name.clone());
            match sessions.last_mut() {
                Some(session) if (event.at - session.ended_at).num_microseconds() <= Some(self.session_gap_us) => {
                    session.ended_at = event.at;
                    session.events.push(event);
                }
                _ => sessions.push(TimelineSession {
                    number: sessions.len() as i64 + 1,
                    started_at: event.at,
                    ended_at: event.at,
                    events: vec![event],
                }),
            }
        }
        Ok(Timeline { customer_id, identities, sessions })
    }
}

/// DuckDB's rows per row group: sequence numbers this close share one or two row groups.
const ROW_GROUP_ROWS: i64 = 122_880;
/// Past this many stretches, one scan of the table beats a lookup per stretch.
const MAX_TIMELINE_STRETCHES: usize = 32;

/// Sorted sequence numbers split into stretches that each span less than a row group.
fn seq_stretches(seqs: &[i64]) -> Vec<&[i64]> {
    let mut stretches = Vec::new();
    let mut start = 0;
    for i in 1..=seqs.len() {
        if i == seqs.len() || seqs[i] - seqs[start] >= ROW_GROUP_ROWS {
            stretches.push(&seqs[start..i]);
            start = i;
        }
    }
    stretches
}

/// A customer's events, in no particular order: by sequence number a stretch at a time, or
/// with one scan of the table when there are more than `max_stretches` stretches.
fn timeline_events(
    conn: &duckdb::Connection,
    customer_id: &str,
    identities_json: &str,
    seqs: &[i64],
    max_stretches: usize,
) -> Result<Vec<TimelineEvent>, StoreError> {
    let stretches = seq_stretches(seqs);
    let mut events = Vec::with_capacity(seqs.len());
    if stretches.len() <= max_stretches {
        let mut stmt = conn.prepare(sql::ANALYTICS_EVENTS_BY_SEQ)?;
        for stretch in stretches {
            let (first, last) = (stretch[0], stretch[stretch.len() - 1]);
            let list = serde_json::to_string(stretch).unwrap_or_else(|_| "[]".into());
            let rows = stmt.query_map(params![first, last, list], timeline_event)?;
            events.extend(rows.collect::<Result<Vec<_>, _>>()?);
        }
    } else {
        let mut stmt = conn.prepare(sql::ANALYTICS_CUSTOMER_TIMELINE)?;
        let rows = stmt.query_map(params![customer_id, identities_json], timeline_event)?;
        events.extend(rows.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(events)
}

/// A row of customer_timeline.sql or events_by_seq.sql.
fn timeline_event(row: &duckdb::Row<'_>) -> duckdb::Result<TimelineEvent> {
    let json = |i: usize| -> duckdb::Result<Option<JsonText>> {
        Ok(row.get::<_, Option<String>>(i)?.and_then(|t| JsonText::parse(t).ok()))
    };
    let kind: String = row.get(1)?;
    let properties = if kind == "identify" || kind == "group" { json(7)? } else { json(6)? };
    Ok(TimelineEvent {
        seq: row.get(0)?,
        name: row.get(2)?,
        anonymous_id: row.get(3)?,
        user_id: row.get(4)?,
        at: time_of(row.get(5)?),
        stage: None,
        properties: crate::store::value_of(&properties),
        kind,
    })
}

fn time_of(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_timeline_by_sequence_number_equals_the_one_from_a_table_scan() {
        use crate::store::{NewEvent, WriterConfig};
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let at = |minute: i64| chrono::DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap();
        let event = |id: &str, anonymous: Option<&str>, user: Option<&str>, minute: i64| NewEvent {
            message_id: id.into(),
            source_id: "s".into(),
            kind: "track".into(),
            name: Some(format!("event {id}")),
            anonymous_id: anonymous.map(str::to_string),
            user_id: user.map(str::to_string),
            timestamp: at(minute),
            original_timestamp: None,
            sent_at: None,
            received_at: at(minute),
            properties: None,
            traits: None,
            context: None,
        };
        store
            .write(
                vec![
                    event("1", Some("anon"), None, 0),
                    event("2", None, Some("zed"), 1),
                    event("3", Some("anon"), Some("ann"), 2),
                    event("4", None, Some("ann"), 3),
                ],
                vec![],
            )
            .await
            .unwrap();
        let (first, last) = store
            .read(|conn| {
                let identities = r#"["ann","anon"]"#;
                // The store numbers events from 1: ann's are 1, 3 and 4.
                let by_seq = timeline_events(conn, "ann", identities, &[1, 3, 4], MAX_TIMELINE_STRETCHES)?;
                let scanned = timeline_events(conn, "ann", identities, &[1, 3, 4], 0)?;
                Ok((by_seq, scanned))
            })
            .await
            .unwrap();
        let seqs = |mut events: Vec<TimelineEvent>| {
            events.sort_by_key(|e| e.seq);
            events.into_iter().map(|e| (e.seq, e.name.unwrap_or_default())).collect::<Vec<_>>()
        };
        let expected = vec![(1, "event 1".to_string()), (3, "event 3".to_string()), (4, "event 4".to_string())];
        assert_eq!(seqs(first), expected);
        assert_eq!(seqs(last), expected);
    }

    #[test]
    fn sequence_numbers_split_into_stretches_shorter_than_a_row_group() {
        let (r, far) = (ROW_GROUP_ROWS, 10 * ROW_GROUP_ROWS);
        // 1 and r are less than a row group apart; r + 1 is a whole one after 1.
        let seqs = [1, 5, r, r + 1, r + 2, far];
        let stretches = seq_stretches(&seqs);
        assert_eq!(stretches, vec![&[1, 5, r][..], &[r + 1, r + 2][..], &[far][..]]);
        assert!(seq_stretches(&[]).is_empty());
    }
}
