//! Data health: is the data coming in, and is it what the journeys expect? Event volume by
//! source per hour, how late events arrive, how far senders' clocks are off, the duplicate
//! rate since start, event names no journey stage knows, and property keys that appeared or
//! disappeared (drift). Read from the store; the dead letters have their own module.

use app::types::{Drift, DriftChange, HealthReport, NameCount, SourceHour};
use chrono::{DateTime, Duration, Utc};
use duckdb::params;

use crate::{
    journeys::Journey,
    metrics::IngestMetrics,
    store::{sql, Micros, Store, StoreError},
};

/// Event names no stage of `journeys` claims (by bare name; a `name[key=value]` entry
/// claims its name too).
pub fn unknown_names(names: Vec<NameCount>, journeys: &[Journey]) -> Vec<NameCount> {
    let known = |name: &str| {
        journeys.iter().flat_map(|j| &j.stages).flat_map(|s| &s.events).any(|e| e.split('[').next() == Some(name))
    };
    names.into_iter().filter(|n| !known(&n.event)).collect()
}

/// Reads the report at `now`.
pub async fn report(
    store: &Store,
    journeys: Vec<Journey>,
    counters: &IngestMetrics,
    now: DateTime<Utc>,
) -> Result<HealthReport, StoreError> {
    let (day_ago, hour_ago, week_ago) = (now - Duration::days(1), now - Duration::hours(1), now - Duration::days(7));
    let (volume, lag, names, keys) = store
        .read(move |conn| {
            let mut stmt = conn.prepare(sql::HEALTH_VOLUME_BY_SOURCE)?;
            let volume: Vec<SourceHour> = stmt
                .query_map(params![Micros::of(day_ago)], |r| {
                    Ok(SourceHour {
                        source_id: r.get(0)?,
                        hour: DateTime::from_timestamp_micros(r.get(1)?).unwrap_or_default(),
                        events: r.get::<_, i64>(2)? as u64,
                    })
                })?
                .collect::<Result<_, _>>()?;
            let lag: (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
                conn.query_row(sql::HEALTH_LAG_AND_SKEW, params![Micros::of(hour_ago)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
            let mut stmt = conn.prepare(sql::HEALTH_EVENT_NAMES)?;
            let names: Vec<NameCount> = stmt
                .query_map(params![Micros::of(week_ago)], |r| {
                    Ok(NameCount { event: r.get(0)?, events: r.get::<_, i64>(1)? as u64 })
                })?
                .collect::<Result<_, _>>()?;
            let mut stmt = conn.prepare(sql::HEALTH_PROPERTY_KEYS)?;
            let keys: Vec<(String, String, bool, bool)> = stmt
                .query_map(params![Micros::of(week_ago), Micros::of(day_ago), Micros::of(day_ago)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok((volume, lag, names, keys))
        })
        .await?;
    // A key is new only for an event that was seen with properties before the last day;
    // otherwise every key of a new event (or a new install) would be "new".
    let known_before: std::collections::HashSet<String> = keys.iter().filter(|k| k.3).map(|k| k.0.clone()).collect();
    let drift = keys
        .into_iter()
        .filter_map(|(event, key, recently, before)| match (recently, before) {
            (true, false) if known_before.contains(&event) => Some(Drift { event, key, change: DriftChange::New }),
            (false, true) => Some(Drift { event, key, change: DriftChange::Gone }),
            _ => None,
        })
        .collect();
    Ok(HealthReport {
        volume,
        events_last_hour: lag.0 as u64,
        lag_p50_ms: lag.1,
        lag_p95_ms: lag.2,
        skew_p50_ms: lag.3,
        skew_p95_abs_ms: lag.4,
        stored_since_start: counters.stored.get(),
        duplicates_since_start: counters.duplicates.get(),
        unknown_names: unknown_names(names, &journeys),
        drift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{JsonText, NewEvent, WriterConfig};
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// An event received at `received`, `late_s` seconds after it happened, sent by a clock
    /// `skew_s` seconds behind.
    fn event(
        id: &str,
        source: &str,
        name: &str,
        received: &str,
        late_s: i64,
        skew_s: i64,
        props: serde_json::Value,
    ) -> NewEvent {
        let received_at = at(received);
        NewEvent {
            message_id: id.into(),
            source_id: source.into(),
            kind: "track".into(),
            name: Some(name.into()),
            anonymous_id: Some("a".into()),
            user_id: None,
            timestamp: received_at - Duration::seconds(late_s),
            original_timestamp: None,
            sent_at: Some(received_at - Duration::seconds(skew_s)),
            received_at,
            properties: Some(JsonText::from_value(&props)),
            traits: None,
            context: None,
        }
    }

    #[tokio::test]
    async fn the_report_matches_a_hand_computed_fixture() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let now = at("2026-11-23T12:30:00Z");
        store
            .write(
                vec![
                    // Three days ago: `Home` had a `section` key that has not been seen since.
                    event("e1", "web", "Home", "2026-11-20T12:00:00Z", 1, 0, json!({"section": "top"})),
                    // The last hour: lags 2, 4, 10 s (median 4, p95 9.4); skews 0, 0, 60 s.
                    event("e2", "web", "Home", "2026-11-23T12:00:00Z", 2, 0, json!({"path": "/"})),
                    event("e3", "web", "mystery_event", "2026-11-23T12:10:00Z", 4, 0, json!({})),
                    event("e4", "ios", "Home", "2026-11-23T12:20:00Z", 10, 60, json!({"path": "/"})),
                    // Earlier today, 11:xx: a second hour for the web source.
                    event("e5", "web", "product_viewed", "2026-11-23T11:15:00Z", 1, 0, json!({"sku": "A"})),
                ],
                vec![],
            )
            .await
            .unwrap();
        let counters = IngestMetrics::default();
        counters.stored.inc_by(5);
        counters.duplicates.inc_by(2);
        let report = report(&store, vec![crate::journeys::default_journey()], &counters, now).await.unwrap();
        let volume: Vec<(&str, String, u64)> =
            report.volume.iter().map(|v| (v.source_id.as_str(), v.hour.format("%H").to_string(), v.events)).collect();
        assert_eq!(volume, vec![("web", "11".into(), 1), ("ios", "12".into(), 1), ("web", "12".into(), 2)]);
        assert_eq!(report.events_last_hour, 3);
        assert_eq!(report.lag_p50_ms, Some(4_000.0));
        assert!((report.lag_p95_ms.unwrap() - 9_400.0).abs() < 1e-6, "{:?}", report.lag_p95_ms);
        assert_eq!(report.skew_p50_ms, Some(0.0));
        assert_eq!((report.stored_since_start, report.duplicates_since_start), (5, 2));
        let unknown: Vec<&str> = report.unknown_names.iter().map(|n| n.event.as_str()).collect();
        assert_eq!(unknown, vec!["mystery_event"], "Home and product_viewed are journey stages");
        let drift: Vec<(&str, &str, &str)> =
            report.drift.iter().map(|d| (d.event.as_str(), d.key.as_str(), d.change.as_str())).collect();
        // `path` is new today and `section` has not been seen since; `sku` is not "new":
        // product_viewed had no properties before today to drift from.
        assert_eq!(drift, vec![("Home", "path", "new"), ("Home", "section", "gone")]);
    }
}
