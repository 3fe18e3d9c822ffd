//! The crash loop: the real `wayline` binary on a DuckDB file, killed with SIGKILL at random
//! moments while senders post events and SSE listeners follow both streams, then started
//! again, over and over. Afterwards it checks, with SQL on the file, what the server promises:
//!
//! - every acknowledged event is stored exactly once, and nothing refused is stored (refused
//!   messages are kept as dead letters with their reason);
//! - a message re-sent after the last restart is answered as a duplicate and not stored again;
//! - alerts raised before a kill are not raised again, and waits pending at a kill fire exactly
//!   once (both rules' alerts equal what the stored events call for, customer by customer);
//! - every listener, reconnecting with `Last-Event-ID`, saw every stored event exactly once, in
//!   order, and every alert;
//! - the event index answers as a fresh rebuild does; every restart succeeded.
//!
//! Quick mode (20 kills) runs with the tests. `scripts/crash.sh --long` runs 200:
//!
//!   WAYLINE_CRASH_KILLS=200 cargo test --release -p server --test crash_loop -- --nocapture
//!
//! It prints its figures and writes them as JSON to `WAYLINE_CRASH_OUT` (default
//! `target/bench/crash.json`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

mod common;

use app::types::StreamFrame;
use chrono::Utc;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};

use common::process::{kill, last_line_of, ready, Server};

/// How long the absence rule waits for a purchase after a checkout.
const CHECKOUT_WAIT_SECONDS: i64 = 8;
/// The engine fires a wait this long after its deadline (its watermark).
const ENGINE_LATENESS_SECONDS: i64 = 5;
const SENDERS: usize = 4;
/// The write-ahead log size at which the server checkpoints during the loop.
const CHECKPOINT_KIB: u32 = 64;
const EVENT_LISTENERS: usize = 2;

fn kills_wanted() -> usize {
    std::env::var("WAYLINE_CRASH_KILLS").ok().and_then(|n| n.parse().ok()).unwrap_or(20)
}

fn report_path() -> PathBuf {
    std::env::var_os("WAYLINE_CRASH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/crash.json")))
}

/// One message as sent: which source it went to and its `messageId`.
type MessageKey = (usize, String);

/// What the senders learned from the server's answers.
#[derive(Default)]
struct Ledger {
    acknowledged: HashSet<MessageKey>,
    refused: HashSet<MessageKey>,
    /// Requests sent again after an answer was lost (connection cut by a kill, or 503).
    resent_requests: usize,
    /// Messages a resent request was told were already stored: their first answer was lost.
    duplicates_on_resend: usize,
    rate_limited: usize,
    /// The newest checkout time sent, to know when every wait is due.
    last_checkout: Option<chrono::DateTime<Utc>>,
}

/// A request that has not been answered with a success yet.
struct Pending {
    source: usize,
    /// Single event (`/v1/track`) or batch.
    path: &'static str,
    body: Value,
    /// Every message in it and whether the server is expected to refuse it.
    messages: Vec<(String, bool)>,
    resent: bool,
}

struct Customer {
    id: String,
    carts_left: u32,
    checkout: bool,
    buys: bool,
    viewed: bool,
}

fn track(message_id: &str, user: &str, event: &str, at: chrono::DateTime<Utc>) -> Value {
    json!({
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": event,
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "properties": { "sku": "SKU-1", "price": 19.5 },
    })
}

/// Builds the next request of a sender: a few steps of its customers' journeys, sometimes a
/// message the server must refuse, sometimes a message sent to both sources with one id.
fn next_request(rng: &mut StdRng, sender: usize, counter: &mut usize, customers: &mut Vec<Customer>) -> Vec<Pending> {
    let mut next_id = |prefix: &str| {
        *counter += 1;
        format!("{prefix}-{sender}-{counter}")
    };
    while customers.len() < 6 {
        let id = next_id("u");
        customers.push(Customer {
            id,
            carts_left: rng.gen_range(0..=4),
            checkout: rng.gen_bool(0.6),
            buys: rng.gen_bool(0.5),
            viewed: false,
        });
    }
    let now = Utc::now();
    let source = rng.gen_range(0..2);
    let mut messages: Vec<(Value, bool)> = Vec::new();
    let mut twin = None;
    for _ in 0..rng.gen_range(1..=6) {
        let pick = rng.gen_range(0..customers.len());
        let customer = &mut customers[pick];
        if !customer.viewed {
            customer.viewed = true;
            let message = track(&next_id("m"), &customer.id, "product_viewed", now);
            if rng.gen_bool(0.1) {
                twin = Some(message.clone());
            }
            messages.push((message, false));
        } else if customer.carts_left > 0 {
            customer.carts_left -= 1;
            messages.push((track(&next_id("m"), &customer.id, "added_to_cart", now), false));
        } else {
            // The checkout and its purchase travel together, so whether the wait is met
            // depends only on what is stored.
            if customer.checkout {
                messages.push((track(&next_id("m"), &customer.id, "checkout_started", now), false));
                if customer.buys {
                    let paid = now + chrono::Duration::seconds(1);
                    messages.push((track(&next_id("m"), &customer.id, "purchase_completed", paid), false));
                }
            }
            customers.swap_remove(pick);
        }
    }
    if !messages.is_empty() && rng.gen_bool(0.05) {
        // No userId nor anonymousId: refused, and kept as a dead letter.
        let id = next_id("bad");
        messages.push((json!({"type": "track", "messageId": id, "event": "orphan"}), true));
    }
    let mut requests = Vec::new();
    if messages.len() == 1 && !messages[0].1 && rng.gen_bool(0.4) {
        let (message, _) = messages.pop().unwrap();
        let id = message["messageId"].as_str().unwrap().to_string();
        requests.push(Pending { source, path: "/v1/track", body: message, messages: vec![(id, false)], resent: false });
    } else if !messages.is_empty() {
        let ids = messages.iter().map(|(m, bad)| (m["messageId"].as_str().unwrap().to_string(), *bad)).collect();
        let batch: Vec<Value> = messages.into_iter().map(|(m, _)| m).collect();
        requests.push(Pending {
            source,
            path: "/v1/batch",
            body: json!({ "batch": batch }),
            messages: ids,
            resent: false,
        });
    }
    if let Some(message) = twin {
        let id = message["messageId"].as_str().unwrap().to_string();
        requests.push(Pending {
            source: 1 - source,
            path: "/v1/track",
            body: message,
            messages: vec![(id, false)],
            resent: false,
        });
    }
    requests
}

/// Sends one request; `Ok` once the server answered it for good (stored or refused).
async fn send(
    client: &reqwest::Client,
    server: &Server,
    keys: &[String; 2],
    request: &Pending,
    ledger: &Mutex<Ledger>,
) -> Result<(), Option<Duration>> {
    let response = client
        .post(server.url(request.path))
        .basic_auth(&keys[request.source], Some(""))
        .json(&request.body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|_| None)?;
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).map(Duration::from_secs);
    let body: Value = response.json().await.map_err(|_| None)?;
    let mut ledger = ledger.lock().unwrap();
    match status {
        200 => {
            let rejected: HashSet<usize> = body["rejected"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["index"].as_u64())
                .map(|i| i as usize)
                .collect();
            for (index, (id, bad)) in request.messages.iter().enumerate() {
                let key = (request.source, id.clone());
                assert_eq!(rejected.contains(&index), *bad, "message {id} refused or stored unexpectedly: {body}");
                if *bad {
                    ledger.refused.insert(key);
                } else {
                    ledger.acknowledged.insert(key);
                }
            }
            if request.resent {
                ledger.resent_requests += 1;
                ledger.duplicates_on_resend += body["duplicates"].as_u64().unwrap_or(0) as usize;
            }
            Ok(())
        }
        429 => {
            ledger.rate_limited += 1;
            Err(retry_after.or(Some(Duration::from_millis(200))))
        }
        // Starting, shutting down or overloaded: send it again, as an SDK would.
        503 => Err(retry_after.map(|d| d.min(Duration::from_millis(200)))),
        other => panic!("{} answered {other}: {body}", request.path),
    }
}

/// A sender: journeys of its own customers, each request retried until it is answered.
async fn sender(
    index: usize,
    server: Arc<Server>,
    keys: Arc<[String; 2]>,
    ledger: Arc<Mutex<Ledger>>,
    generating: Arc<AtomicBool>,
) {
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(0xC0FFEE + index as u64);
    let (mut counter, mut customers) = (0, Vec::new());
    let mut queue: std::collections::VecDeque<Pending> = Default::default();
    loop {
        if queue.is_empty() {
            if !generating.load(Ordering::SeqCst) {
                return;
            }
            queue.extend(next_request(&mut rng, index, &mut counter, &mut customers));
            if let Some(checkout) = queue.iter().any(|r| r.body.to_string().contains("checkout_started")).then(Utc::now)
            {
                let mut ledger = ledger.lock().unwrap();
                ledger.last_checkout = ledger.last_checkout.max(Some(checkout));
            }
        }
        // A turn may only have closed journeys without a checkout: nothing to send yet.
        let Some(request) = queue.front_mut() else { continue };
        match send(&client, &server, &keys, request, &ledger).await {
            Ok(()) => {
                queue.pop_front();
                tokio::time::sleep(Duration::from_millis(rng.gen_range(2..15))).await;
            }
            Err(wait) => {
                request.resent = true;
                tokio::time::sleep(wait.unwrap_or(Duration::from_millis(50))).await;
            }
        }
    }
}

/// What an SSE listener saw across all its connections.
#[derive(Default)]
struct Heard {
    seqs: Vec<i64>,
    alert_ids: BTreeSet<i64>,
    connections: usize,
    /// A fresh snapshot where a resume was asked for: events may have been skipped.
    gaps: usize,
    out_of_order: usize,
}

/// Follows one stream, reconnecting with the last id it saw until `listening` ends.
async fn listener(
    server: Arc<Server>,
    token: String,
    path: &'static str,
    heard: Arc<Mutex<Heard>>,
    listening: Arc<AtomicBool>,
) {
    let client = reqwest::Client::new();
    // The events stream starts from the very first event; the alert stream from its snapshot.
    let mut last_id: Option<i64> = (path == "/api/v1/stream/events").then_some(0);
    while listening.load(Ordering::SeqCst) {
        let mut request = client.get(server.url(path)).bearer_auth(&token);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let Ok(mut response) = request.send().await else {
            tokio::time::sleep(Duration::from_millis(30)).await;
            continue;
        };
        if !response.status().is_success() {
            tokio::time::sleep(Duration::from_millis(30)).await;
            continue;
        }
        heard.lock().unwrap().connections += 1;
        let mut buffer = String::new();
        loop {
            let chunk = tokio::select! {
                chunk = response.chunk() => chunk,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if listening.load(Ordering::SeqCst) { continue } else { break }
                }
            };
            let Ok(Some(chunk)) = chunk else { break };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        id = value.trim().parse::<i64>().ok();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let mut heard = heard.lock().unwrap();
                if path == "/api/v1/stream/events" {
                    match serde_json::from_str::<StreamFrame>(&data) {
                        Ok(StreamFrame::Events { events }) => {
                            for event in events {
                                if heard.seqs.last().is_some_and(|&last| event.seq <= last) {
                                    heard.out_of_order += 1;
                                }
                                heard.seqs.push(event.seq);
                            }
                        }
                        Ok(StreamFrame::Snapshot { .. }) => heard.gaps += 1,
                        Ok(StreamFrame::Resync { .. }) | Err(_) => {}
                    }
                } else {
                    let alerts: Vec<Value> = match serde_json::from_str::<Value>(&data) {
                        Ok(Value::Array(list)) => list,
                        Ok(one) => vec![one],
                        Err(_) => Vec::new(),
                    };
                    for alert in alerts {
                        if let Some(alert_id) = alert["id"].as_i64() {
                            heard.alert_ids.insert(alert_id);
                        }
                    }
                }
                if id.is_some() {
                    last_id = id;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Where two per-customer counts differ, briefly: empty when they are equal.
fn difference(expected: &BTreeMap<String, i64>, found: &BTreeMap<String, i64>) -> String {
    let customers: BTreeSet<&String> = expected.keys().chain(found.keys()).collect();
    let differing: Vec<String> = customers
        .into_iter()
        .filter(|c| expected.get(*c) != found.get(*c))
        .map(|c| format!("{c}: expected {}, found {}", expected.get(c).unwrap_or(&0), found.get(c).unwrap_or(&0)))
        .collect();
    if differing.is_empty() {
        return String::new();
    }
    format!("{} customers differ, e.g. {}", differing.len(), differing[..differing.len().min(5)].join("; "))
}

/// What the event index answers: a funnel over every stored customer and its own counts.
async fn index_answers(client: &reqwest::Client, server: &Server, token: &str) -> (Value, Value) {
    // A restart loads the index in the background: questions wait until `/readyz` says so.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(server.url("/readyz")).send().await.unwrap().status().is_success() {
        assert!(Instant::now() < deadline, "the event index did not load within a minute");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let funnel: Value = client
        .get(server.url("/api/v1/funnel?steps=product_viewed,added_to_cart,checkout_started,purchase_completed&days=7"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status: Value =
        client.get(server.url("/api/v1/live/status")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let counts =
        json!({ "tracked_customers": status["tracked_customers"], "indexed_events": status["indexed_events"] });
    (funnel["steps"].clone(), counts)
}

async fn wait_for_engine(client: &reqwest::Client, server: &Server, token: &str, due: chrono::DateTime<Utc>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: Value = client
            .get(server.url("/api/v1/live/status"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let caught_up = status["engine_lag_events"] == 0 && status["pending_timers"] == 0;
        if Utc::now() > due && caught_up {
            return;
        }
        assert!(Instant::now() < deadline, "the rule engine did not settle: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_loses_and_repeats_nothing_when_killed_again_and_again() {
    let kills = kills_wanted();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.duckdb");
    let keys =
        Arc::new([last_line_of(&db, &["source", "add", "crash-a"]), last_line_of(&db, &["source", "add", "crash-b"])]);
    let token = last_line_of(&db, &["token", "add", "crash", "--role", "admin"]);
    // A small write-ahead log: DuckDB checkpoints every few hundred events, so kills also
    // land while it folds the log into the file.
    let server = Arc::new(Server {
        extra_args: vec!["--checkpoint-kib".into(), CHECKPOINT_KIB.to_string()],
        ..Server::new(dir.path(), &db)
    });
    let client = reqwest::Client::new();

    // The rules: one that counts (alerted once per customer: cooldown of a day) and one that
    // waits (a checkout without a purchase within the wait).
    let mut child = server.spawn();
    assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());
    for rule in [
        json!({"id": "crash-carts", "name": "Three carts", "enabled": true, "cooldown_seconds": 86_400,
               "condition": {"type": "count", "event": "added_to_cart", "count": 3, "within_seconds": 3600}}),
        json!({"id": "crash-checkout", "name": "Checkout not finished", "enabled": true, "cooldown_seconds": 86_400,
               "condition": {"type": "absence", "after": "checkout_started", "missing": ["purchase_completed"],
                             "within_seconds": CHECKOUT_WAIT_SECONDS}}),
    ] {
        let response = client
            .put(server.url(&format!("/api/v1/rules/{}", rule["id"].as_str().unwrap())))
            .bearer_auth(&token)
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let generating = Arc::new(AtomicBool::new(true));
    let listening = Arc::new(AtomicBool::new(true));
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| tokio::spawn(sender(i, server.clone(), keys.clone(), ledger.clone(), generating.clone())))
        .collect();
    let mut heard = Vec::new();
    let mut listeners = Vec::new();
    for path in std::iter::repeat_n("/api/v1/stream/events", EVENT_LISTENERS).chain(["/api/v1/stream/alerts"]) {
        let record = Arc::new(Mutex::new(Heard::default()));
        heard.push((path, record.clone()));
        listeners.push(tokio::spawn(listener(server.clone(), token.clone(), path, record, listening.clone())));
    }

    // The loop: a quarter of the kills land in the first 120 ms, often while the
    // server is still starting (replaying the log, checkpointing, loading the index, rebuilding
    // the waits); the others once it answers, after up to 2.5 s of traffic. SIGKILL, start again.
    let mut rng = StdRng::seed_from_u64(17);
    let (mut during_start, mut while_serving) = (0usize, 0usize);
    let mut start_times = Vec::new();
    for _ in 0..kills {
        let spawned = Instant::now();
        if rng.gen_bool(0.25) {
            // Within its first 120 ms, whatever the server is doing by then.
            let run_for = Duration::from_millis(rng.gen_range(0..120));
            if ready(&client, &server, &mut child, run_for).await {
                start_times.push(spawned.elapsed().as_secs_f64());
                tokio::time::sleep(run_for.saturating_sub(spawned.elapsed())).await;
                while_serving += 1;
            } else {
                during_start += 1;
            }
        } else {
            // Every other start must come up; then it serves for up to a few seconds.
            assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());
            start_times.push(spawned.elapsed().as_secs_f64());
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..2_500))).await;
            while_serving += 1;
        }
        kill(&mut child, &server);
        child = server.spawn();
    }

    // The last start: it must come up, take the senders' retries and keep serving.
    let spawned = Instant::now();
    assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());
    start_times.push(spawned.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(2)).await;
    generating.store(false, Ordering::SeqCst);
    for sender in senders {
        tokio::time::timeout(Duration::from_secs(60), sender).await.expect("every request answered").unwrap();
    }

    // Re-sent after the restart, an acknowledged message is a duplicate, not a second event.
    let resend: Vec<MessageKey> = {
        let ledger = ledger.lock().unwrap();
        let mut all: Vec<_> = ledger.acknowledged.iter().filter(|(source, _)| *source == 0).cloned().collect();
        all.sort();
        all.into_iter().step_by(7).take(100).collect()
    };
    let batch: Vec<Value> = resend.iter().map(|(_, id)| track(id, "u-resend", "product_viewed", Utc::now())).collect();
    let answer: Value = client
        .post(server.url("/v1/batch"))
        .basic_auth(&keys[0], Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stored"], 0, "{answer}");
    assert_eq!(answer["duplicates"], resend.len(), "{answer}");

    // Every wait that was pending is due; the engine has fired them.
    let last_checkout = ledger.lock().unwrap().last_checkout.unwrap_or_else(Utc::now);
    let due = last_checkout + chrono::Duration::seconds(CHECKOUT_WAIT_SECONDS + ENGINE_LATENESS_SECONDS + 2);
    wait_for_engine(&client, &server, &token, due).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The index built live since the last start answers as one rebuilt from the file does.
    let live_answers = index_answers(&client, &server, &token).await;
    listening.store(false, Ordering::SeqCst);
    for listener in listeners {
        listener.await.unwrap();
    }
    kill(&mut child, &server);
    let mut child = server.spawn();
    assert!(ready(&client, &server, &mut child, Duration::from_secs(60)).await, "{}", server.log_tail());
    let rebuilt_answers = index_answers(&client, &server, &token).await;
    assert_eq!(live_answers, rebuilt_answers, "the live index differs from a rebuild");
    kill(&mut child, &server);

    // Now the file itself.
    let conn = duckdb::Connection::open(&db).unwrap();
    let source_ids: Vec<String> = ["crash-a", "crash-b"]
        .iter()
        .map(|name| conn.query_row("SELECT id FROM sources WHERE name = ?", [name], |r| r.get(0)).unwrap())
        .collect();
    let mut stored: HashMap<MessageKey, i64> = HashMap::new();
    {
        let mut statement = conn.prepare("SELECT source_id, message_id, count(*) FROM events GROUP BY ALL").unwrap();
        let rows = statement
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
            .unwrap();
        for row in rows {
            let (source, message, copies) = row.unwrap();
            let source = source_ids.iter().position(|s| *s == source).expect("only the two sources sent");
            stored.insert((source, message), copies);
        }
    }
    let ledger = ledger.lock().unwrap();
    let missing: Vec<_> = ledger.acknowledged.iter().filter(|key| !stored.contains_key(*key)).take(5).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    let twice: Vec<_> = stored.iter().filter(|(_, &n)| n != 1).take(5).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let unexpected: Vec<_> = stored.keys().filter(|key| !ledger.acknowledged.contains(*key)).take(5).collect();
    assert!(
        unexpected.is_empty(),
        "stored but never acknowledged (every request was retried until answered): {unexpected:?}"
    );
    let refused_stored: Vec<_> = ledger.refused.iter().filter(|key| stored.contains_key(*key)).collect();
    assert!(refused_stored.is_empty(), "refused but stored: {refused_stored:?}");
    let letters: Vec<String> = conn
        .prepare("SELECT payload FROM dead_letters WHERE reason_code = 'missing_identity'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let kept = ledger.refused.iter().filter(|(_, id)| letters.iter().any(|p| p.contains(id.as_str()))).count();
    assert_eq!(kept, ledger.refused.len(), "every refused message is kept with its reason");

    // Alerts, customer by customer, against what the stored events call for.
    let per_customer = |sql: &str| -> BTreeMap<String, i64> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let alerts = |rule: &str| {
        per_customer(&format!("SELECT customer_id, count(*) FROM alerts WHERE rule_id = '{rule}' GROUP BY ALL"))
    };
    let three_carts = per_customer(
        "SELECT user_id, 1 FROM events WHERE event = 'added_to_cart' GROUP BY user_id HAVING count(*) >= 3",
    );
    let unfinished = per_customer(
        "SELECT user_id, 1 FROM events WHERE event = 'checkout_started' AND user_id NOT IN \
         (SELECT user_id FROM events WHERE event = 'purchase_completed') GROUP BY user_id",
    );
    let (cart_alerts, checkout_alerts) = (alerts("crash-carts"), alerts("crash-checkout"));
    assert_eq!(difference(&three_carts, &cart_alerts), "", "one cart alert per customer with three carts");
    assert_eq!(difference(&unfinished, &checkout_alerts), "", "one alert per checkout left unfinished past its wait");

    // What the listeners heard.
    let all_seqs: Vec<i64> = conn
        .prepare("SELECT seq FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let all_alerts: BTreeSet<i64> = conn
        .prepare("SELECT id FROM alerts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut reconnections = 0;
    for (path, record) in &heard {
        let record = record.lock().unwrap();
        reconnections += record.connections;
        if *path == "/api/v1/stream/events" {
            assert_eq!(record.gaps, 0, "a listener was sent a snapshot instead of what it missed");
            assert_eq!(record.out_of_order, 0, "a listener saw an event twice or out of order");
            // Those re-sent as duplicates after the last checks are not events.
            let heard: BTreeSet<i64> = record.seqs.iter().copied().collect();
            let missed: Vec<&i64> = all_seqs.iter().filter(|seq| !heard.contains(seq)).take(5).collect();
            assert!(missed.is_empty(), "a listener missed stored events, e.g. seq {missed:?}");
            assert_eq!(record.seqs.len(), all_seqs.len(), "a listener heard events that are not stored");
        } else {
            let missed: Vec<&i64> = all_alerts.difference(&record.alert_ids).take(5).collect();
            assert!(missed.is_empty(), "the alert listener missed alerts, e.g. {missed:?}");
        }
    }

    let acknowledged = ledger.acknowledged.len();
    let report = json!({
        "kills": kills,
        "kills_during_start": during_start,
        "kills_while_serving": while_serving,
        "starts": kills + 2,
        "starts_that_answered": start_times.len() + 2,
        "start_to_healthy_seconds_max": start_times.iter().copied().fold(0.0, f64::max),
        "events_acknowledged": acknowledged,
        "events_stored": all_seqs.len(),
        "messages_refused_and_kept": ledger.refused.len(),
        "requests_resent_after_a_lost_answer": ledger.resent_requests,
        "resent_messages_already_stored": ledger.duplicates_on_resend,
        "rate_limited_answers": ledger.rate_limited,
        "duplicates_refused_after_restart": resend.len(),
        "alerts_three_carts": cart_alerts.len(),
        "alerts_checkout_unfinished": checkout_alerts.len(),
        "sse_connections": reconnections,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("crash loop: {}", serde_json::to_string_pretty(&report).unwrap());
    let out = report_path();
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
}
