use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::clock::Clock;

fn event(message_id: &str, name: &str) -> NewEvent {
    NewEvent {
        message_id: message_id.into(),
        source_id: "test".into(),
        kind: "track".into(),
        name: Some(name.into()),
        anonymous_id: Some("anon-1".into()),
        user_id: None,
        timestamp: at("2026-11-23T10:00:00Z"),
        original_timestamp: None,
        sent_at: None,
        received_at: at("2026-11-23T10:00:01Z"),
        properties: Some(JsonText::from_value(&json!({"sku": "A-1"}))),
        traits: None,
        context: Some(JsonText::from_value(&json!({"ip": "10.0.0.1"}))),
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn letter(reason_code: &str) -> NewDeadLetter {
    NewDeadLetter {
        source_id: Some("test".into()),
        received_at: at("2026-11-23T10:00:02Z"),
        reason_code: reason_code.into(),
        reason: "the message has neither userId nor anonymousId; set at least one of them".into(),
        payload: "{\"event\":\"x\"}".into(),
        call_type: Some("track".into()),
    }
}

fn no_listener() -> CommitListener {
    Box::new(|_| {})
}

#[test]
fn migrations_create_the_schema_once() {
    let mut conn = Connection::open_in_memory().unwrap();
    assert_eq!(migrate(&mut conn).unwrap(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(migrate(&mut conn).unwrap(), Vec::<i32>::new());
    let tables: Vec<String> = conn
        .prepare("SELECT table_name FROM information_schema.tables ORDER BY table_name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        vec![
            "alerts",
            "api_tokens",
            "audit_log",
            "customer_events",
            "dead_letters",
            "event_properties",
            "events",
            "identity_links",
            "journeys",
            "login_sessions",
            "rules",
            "saved_funnels",
            "schema_migrations",
            "sources",
            "users",
            "webhook_deliveries",
            "webhooks"
        ]
    );
}

#[test]
fn a_database_from_a_newer_wayline_is_refused() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    conn.execute(sql::RECORD_VERSION, params![99, "from the future"]).unwrap();
    match migrate(&mut conn) {
        Err(StoreError::NewerSchema { found: 99, known: 10 }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn every_read_query_prepares_against_the_migrated_schema() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate(&mut conn).unwrap();
    for query in sql::READ_QUERIES.iter().chain(sql::WRITE_QUERIES) {
        conn.prepare(query).unwrap_or_else(|e| panic!("{e}\n{query}"));
    }
}

#[tokio::test]
async fn committed_events_are_numbered_in_order_and_read_back() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    let first = store.write(vec![event("m1", "a"), event("m2", "b")], vec![]).await.unwrap();
    let second = store.write(vec![event("m3", "c")], vec![letter("missing_identity")]).await.unwrap();
    assert_eq!(first, WriteReceipt { first_seq: 1, events: 2, duplicates: 0, dead_letters: 0 });
    assert_eq!(second, WriteReceipt { first_seq: 3, events: 1, duplicates: 0, dead_letters: 1 });

    let recent = store.recent_events(2).await.unwrap();
    assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 2]);
    assert_eq!(recent[0].event.name.as_deref(), Some("c"));
    assert_eq!(value_of(&recent[0].event.properties), json!({"sku": "A-1"}));
    assert_eq!(recent[0].event.timestamp, at("2026-11-23T10:00:00Z"));

    let after = store.events_after(1, 10).await.unwrap();
    assert_eq!(after.iter().map(|e| e.event.message_id.as_str()).collect::<Vec<_>>(), vec!["m2", "m3"]);

    let letters = store.recent_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].letter, letter("missing_identity"));
}

/// Every `(seq, key, value)` property row, in order.
async fn property_rows(store: &Store) -> Vec<(i64, String, String)> {
    let query = "SELECT seq, key, value FROM event_properties ORDER BY seq, key";
    store
        .read(move |conn| {
            let mut stmt = conn.prepare(query)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn property_rows_written_live_equal_what_migration_10_derives_from_the_json() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    let with_properties = |id: &str, properties: &str| NewEvent {
        properties: Some(JsonText::parse(properties.into()).unwrap()),
        ..event(id, "viewed")
    };
    let events = vec![
        with_properties("m1", r#"{"plan":"pro","qty":2.50,"vip":true,"gone":null,"tags":[ "a", 1 ],"n":{"x": 1}}"#),
        with_properties("m2", r#"{"plan":"e\"scaped \u00e9","big":12345678901,"neg":-3,"zero":0.0}"#),
        with_properties("m3", r#"["not", "an", "object"]"#),
        NewEvent { properties: None, ..event("m4", "viewed") },
    ];
    store.write(events, vec![]).await.unwrap();
    let live = property_rows(&store).await;
    let row = |seq: i64, key: &str, value: &str| (seq, key.to_string(), value.to_string());
    assert_eq!(
        live,
        vec![
            row(1, "n", r#"{"x":1}"#),
            row(1, "plan", "pro"),
            row(1, "qty", "2.5"),
            row(1, "tags", r#"["a",1]"#),
            row(1, "vip", "true"),
            row(2, "big", "12345678901"),
            row(2, "neg", "-3"),
            row(2, "plan", "e\"scaped é"),
            row(2, "zero", "0.0"),
        ]
    );
    // A database from before migration 10 gets its rows from the events' JSON: the same rows.
    store
        .change(|conn| {
            conn.execute_batch(&format!("DELETE FROM event_properties; {}", sql::MIGRATION_10))?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(property_rows(&store).await, live);
}

#[tokio::test]
async fn listeners_hear_each_commit_in_order() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listener: CommitListener = {
        let heard = heard.clone();
        Box::new(move |batch| heard.lock().unwrap().extend(batch.events.iter().map(|e| e.seq)))
    };
    let store = Store::open_in_memory(WriterConfig::default(), listener).unwrap();
    store.write(vec![event("m1", "a")], vec![]).await.unwrap();
    store.write(vec![], vec![letter("x")]).await.unwrap();
    store.write(vec![event("m2", "b"), event("m3", "c")], vec![]).await.unwrap();
    assert_eq!(*heard.lock().unwrap(), vec![1, 2, 3]);
}

#[tokio::test]
async fn acknowledged_events_survive_a_restart_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/wayline.duckdb");
    let store = Store::open(&path, WriterConfig::default(), no_listener()).unwrap();
    store.write(vec![event("m1", "a"), event("m2", "b")], vec![letter("x")]).await.unwrap();
    store.close().await;
    drop(store);

    let reopened = Store::open(&path, WriterConfig::default(), no_listener()).unwrap();
    let receipt = reopened.write(vec![event("m3", "c")], vec![letter("y")]).await.unwrap();
    assert_eq!(receipt.first_seq, 3);
    assert_eq!(reopened.recent_events(10).await.unwrap().len(), 3);
    let letters = reopened.recent_dead_letters(10).await.unwrap();
    assert_eq!(letters.iter().map(|d| d.id).collect::<Vec<_>>(), vec![2, 1]);
}

#[tokio::test]
async fn a_full_queue_is_reported_not_dropped() {
    // A listener that blocks holds the writer, so the one-slot queue fills up.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let listener: CommitListener = Box::new(move |_| {
        let _ = gate.lock().unwrap().recv();
    });
    let config = WriterConfig { queue_capacity: 1, max_group_events: 1, ..WriterConfig::default() };
    let store = Store::open_in_memory(config, listener).unwrap();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(vec![event("m1", "a")], vec![]).await }
    });
    // Wait until the writer has taken the first request and is blocked in the listener.
    let mut queued = None;
    for attempt in 0..200 {
        let sender = store.clone();
        let second = tokio::spawn(async move { sender.write(vec![event(&format!("q{attempt}"), "b")], vec![]).await });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        if second.is_finished() {
            match second.await.unwrap() {
                Err(StoreError::QueueFull) => {
                    queued = Some(attempt);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(queued.is_some(), "the queue never reported full");
    for _ in 0..300 {
        let _ = release.send(());
    }
    assert!(first.await.unwrap().is_ok());
}

#[tokio::test]
async fn the_queue_depth_counts_the_writes_waiting_for_the_writer() {
    // A listener that blocks holds the writer on the first commit; the next three wait.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let listener: CommitListener = Box::new(move |_| {
        let _ = gate.lock().unwrap().recv();
    });
    let config = WriterConfig { queue_capacity: 8, max_group_events: 1, ..WriterConfig::default() };
    let store = Store::open_in_memory(config, listener).unwrap();
    assert_eq!(store.queued_writes(), 0);
    let writes: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.write(vec![event(&format!("w{n}"), "a")], vec![]).await })
        })
        .collect();
    let mut depth = 0;
    for _ in 0..500 {
        depth = store.queued_writes();
        if depth == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(depth, 3, "one write is being committed, three wait");
    for _ in 0..4 {
        let _ = release.send(());
    }
    for write in writes {
        assert!(write.await.unwrap().is_ok());
    }
    assert_eq!(store.queued_writes(), 0);
}

#[test]
fn the_writer_checkpoints_at_the_configured_log_size_and_limits_duckdbs_memory() {
    let config = WriterConfig { checkpoint_kib: 512, duckdb_memory_mib: 300, ..WriterConfig::default() };
    let store = Store::open_in_memory(config, no_listener()).unwrap();
    let setting = |name: &str| -> String {
        let reader = store.inner.reader.lock().unwrap();
        reader.query_row(&format!("SELECT current_setting('{name}')"), [], |r| r.get(0)).unwrap()
    };
    let threshold = setting("checkpoint_threshold");
    assert!(threshold.starts_with("512") && threshold.contains("KiB"), "{threshold}");
    // DuckDB shows its limit rounded in its own units (300 MiB = 314.5 MB).
    let limit = setting("memory_limit");
    assert!(limit.starts_with("300.0 MiB") || limit.starts_with("314"), "{limit}");
    assert_eq!(store.queued_writes(), 0);
}

fn with_ids(message_id: &str, anonymous: Option<&str>, user: Option<&str>, kind: &str) -> NewEvent {
    NewEvent {
        kind: kind.into(),
        anonymous_id: anonymous.map(Into::into),
        user_id: user.map(Into::into),
        ..event(message_id, "x")
    }
}

#[tokio::test]
async fn a_repeated_message_id_is_acknowledged_but_stored_once_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wayline.duckdb");
    // The events arrive on 2026-11-23; the restart comes six days later, inside the window.
    let clock = Clock::manual(at("2026-11-23T10:00:01Z"));
    let config = WriterConfig { clock: clock.clone(), ..WriterConfig::default() };
    let store = Store::open(&path, config.clone(), no_listener()).unwrap();
    let receipt = store.write(vec![event("m1", "a"), event("m1", "a"), event("m2", "b")], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (2, 1));
    // The same id from another source is a different message.
    let other = NewEvent { source_id: "other".into(), ..event("m1", "a") };
    assert_eq!(store.write(vec![other], vec![]).await.unwrap().events, 1);
    store.close().await;
    drop(store);

    clock.advance(chrono::Duration::days(6));
    let reopened = Store::open(&path, config.clone(), no_listener()).unwrap();
    // Read back on their own thread, the three ids count as remembered before any write.
    for _ in 0..200 {
        if reopened.remembered_message_ids().0 == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(reopened.remembered_message_ids().0, 3);
    let receipt = reopened.write(vec![event("m2", "b"), event("m3", "c")], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (1, 1));
    assert_eq!(reopened.recent_events(10).await.unwrap().len(), 4);
    reopened.close().await;
    drop(reopened);

    // Past the seven days the id is forgotten at the next start, as the product promises.
    clock.advance(chrono::Duration::days(3));
    let later = Store::open(&path, config, no_listener()).unwrap();
    let receipt = later.write(vec![event("m2", "b")], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (1, 0));
}

#[tokio::test]
async fn before_its_message_ids_are_read_back_the_writer_asks_the_store_and_then_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wayline.duckdb");
    let clock = Clock::manual(at("2026-11-23T10:00:01Z"));
    let config = WriterConfig { clock: clock.clone(), ..WriterConfig::default() };
    let store = Store::open(&path, config.clone(), no_listener()).unwrap();
    store.write(vec![event("m1", "a"), event("m2", "b")], vec![]).await.unwrap();
    store.close().await;
    drop(store);

    clock.advance(chrono::Duration::days(1));
    // What the start reads back (m1, m2), held until the test hands it over.
    let keep_reading = std::sync::atomic::AtomicBool::new(false);
    let read_back = writer::load_recent_message_ids(&Connection::open(&path).unwrap(), &clock, &keep_reading).unwrap();
    assert_eq!(read_back.len(), 2);
    let (hand_over, arrives) = std::sync::mpsc::sync_channel(1);
    let reopened = Store::open_reading_back_from(&path, config, arrives).unwrap();
    let other_source = NewEvent { source_id: "other".into(), ..event("m1", "a") };
    let receipt =
        reopened.write(vec![event("m1", "a"), event("m3", "c"), event("m3", "c"), other_source], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (2, 2), "m1 is found in the store, m3 repeats");
    let receipt = reopened.write(vec![event("m3", "c")], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (0, 1));

    hand_over.send(Ok(read_back)).unwrap();
    // m2 is known from what was read back, m3 from what the writer remembered meanwhile.
    let receipt = reopened.write(vec![event("m2", "b"), event("m3", "c"), event("m4", "d")], vec![]).await.unwrap();
    assert_eq!((receipt.events, receipt.duplicates), (1, 2));
    assert_eq!(reopened.remembered_message_ids().0, 5);
    let stored: Vec<String> =
        reopened.recent_events(10).await.unwrap().into_iter().map(|e| e.event.message_id).rev().collect();
    assert_eq!(stored, ["m1", "m2", "m3", "m1", "m4"], "the other source's m1 is its own message");
}

#[tokio::test]
async fn identify_and_alias_stitch_identities_into_one_customer() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    // Browsing anonymously on a laptop, then signing in; later a phone, then an alias
    // from an old user id.
    let mut alias = with_ids("m5", None, Some("user-1"), "alias");
    alias.properties = Some(JsonText::from_value(&json!({"previousId": "legacy-7"})));
    store
        .write(
            vec![
                with_ids("m1", Some("laptop"), None, "track"),
                with_ids("m2", Some("laptop"), Some("user-1"), "identify"),
                with_ids("m3", Some("phone"), None, "track"),
                with_ids("m4", Some("phone"), Some("user-1"), "identify"),
                alias,
                // A later sign-in of the laptop as someone else does not move its history.
                with_ids("m6", Some("laptop"), Some("user-2"), "identify"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(store.customer_ids("laptop").await.unwrap(), vec!["laptop", "legacy-7", "phone", "user-1"]);
    assert_eq!(store.customer_ids("user-1").await.unwrap(), vec!["laptop", "legacy-7", "phone", "user-1"]);
    assert_eq!(store.customer_ids("stranger").await.unwrap(), vec!["stranger"]);
    let customers: Vec<(String, String)> = store
        .read(|conn| {
            let mut stmt = conn.prepare("SELECT message_id, customer_id FROM customer_events ORDER BY message_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    let expected =
        [("m1", "user-1"), ("m2", "user-1"), ("m3", "user-1"), ("m4", "user-1"), ("m5", "user-1"), ("m6", "user-2")];
    assert_eq!(customers, expected.map(|(a, b)| (a.to_string(), b.to_string())));
}

/// The table's identity links, as (anonymous id, user id, seq), by anonymous id.
async fn identity_links(store: &Store) -> Vec<(String, String, i64)> {
    store
        .read(|conn| {
            let mut stmt =
                conn.prepare("SELECT anonymous_id, user_id, seq FROM identity_links ORDER BY anonymous_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn an_anonymous_id_linked_before_a_restart_stays_linked_to_its_first_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("links.duckdb");
    let store = Store::open(&path, WriterConfig::default(), no_listener()).unwrap();
    store.write(vec![with_ids("m1", Some("laptop"), Some("user-1"), "identify")], vec![]).await.unwrap();
    store.close().await;
    // The writer's memory of links is read back from the file: a second sign-in of the laptop,
    // in a batch with a first one of the phone, is stored without a second link for it.
    let reopened = Store::open(&path, WriterConfig::default(), no_listener()).unwrap();
    let receipt = reopened
        .write(
            vec![
                with_ids("m2", Some("laptop"), Some("user-2"), "identify"),
                with_ids("m3", Some("phone"), Some("user-2"), "identify"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(receipt.events, 2);
    assert_eq!(
        identity_links(&reopened).await,
        vec![("laptop".into(), "user-1".into(), 1), ("phone".into(), "user-2".into(), 3)]
    );
    reopened.close().await;
}

#[tokio::test]
async fn a_link_the_writer_did_not_know_of_fails_one_commit_and_no_more() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    // What an erasure racing a first sign-in can leave: a link in the table that the writer's
    // memory of links has forgotten.
    store
        .change(|conn| {
            conn.execute_batch("INSERT INTO identity_links VALUES ('tablet', 'user-9', TIMESTAMP '2026-01-01', 0)")?;
            Ok(())
        })
        .await
        .unwrap();
    let sign_in = |id: &str| vec![with_ids(id, Some("tablet"), Some("user-3"), "identify")];
    let first = store.write(sign_in("m1"), vec![]).await;
    let second = store.write(sign_in("m2"), vec![]).await.expect("the writer has read the links again");
    assert_eq!(second.events, 1);
    // The first attempt failed, or it was stored without a second link: never both lost.
    let stored = store.recent_events(10).await.unwrap().len();
    assert_eq!(stored, if first.is_ok() { 2 } else { 1 });
    assert_eq!(identity_links(&store).await, vec![("tablet".into(), "user-9".into(), 0)]);
}

#[tokio::test]
async fn a_replay_marks_its_dead_letter_in_the_same_commit() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    store.write(vec![], vec![letter("missing_identity")]).await.unwrap();
    assert_eq!(store.dead_letter(1).await.unwrap().unwrap().replayed_at, None);
    store.write_replay(vec![event("fixed", "x")], 1).await.unwrap();
    assert!(store.dead_letter(1).await.unwrap().unwrap().replayed_at.is_some());
    assert_eq!(store.dead_letter(2).await.unwrap(), None);
}

#[tokio::test]
async fn customers_are_found_by_id_or_by_identify_traits() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    let identify = |id: &str, user: &str, email: &str| NewEvent {
        kind: "identify".into(),
        name: None,
        user_id: Some(user.into()),
        anonymous_id: None,
        traits: Some(JsonText::from_value(&json!({ "email": email, "plan": "pro" }))),
        properties: None,
        ..event(id, "")
    };
    store
        .write(
            vec![
                identify("i1", "ada", "ada@example.com"),
                identify("i2", "bob", "bob@shop.example"),
                // anon-1 has only track events: found by id, never by traits.
                event("t1", "Home"),
            ],
            vec![],
        )
        .await
        .unwrap();
    let ids = |found: Vec<(String, Option<String>)>| found.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(ids(store.search_customers("EXAMPLE.COM").await.unwrap()), vec!["ada"], "trait text, any case");
    let mut both = ids(store.search_customers("example").await.unwrap());
    both.sort();
    assert_eq!(both, vec!["ada", "bob"]);
    assert_eq!(ids(store.search_customers("anon").await.unwrap()), vec!["anon-1"], "by id");
    let (_, traits) = store.search_customers("bob").await.unwrap().remove(0);
    assert!(traits.unwrap().contains("bob@shop.example"), "the matching customer's traits come along");
    assert!(store.search_customers("nobody-here").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_erased_customer_who_comes_back_is_linked_afresh() {
    let store = Store::open_in_memory(WriterConfig::default(), no_listener()).unwrap();
    store.write(vec![with_ids("m1", Some("laptop"), Some("user-1"), "identify")], vec![]).await.unwrap();
    let erased = store.erase_identities(store.customer_ids("user-1").await.unwrap()).await.unwrap();
    assert_eq!(erased.iter().find(|(table, _)| *table == "identity_links").unwrap().1, 1);
    assert_eq!(erased.iter().find(|(table, _)| *table == "event_properties").unwrap().1, 1, "its sku row");
    assert_eq!(store.rows_naming("laptop").await.unwrap(), 0);
    assert!(property_rows(&store).await.is_empty());

    // The same laptop signs in again: the writer has forgotten the link, so it is stored again.
    store.write(vec![with_ids("m2", Some("laptop"), Some("user-1"), "identify")], vec![]).await.unwrap();
    assert_eq!(store.customer_ids("laptop").await.unwrap(), vec!["laptop", "user-1"]);
}
