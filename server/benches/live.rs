//! Live benchmark: the real `wayline` binary as its own process (so its memory is its own),
//! a DuckDB file, real HTTP and SSE. Prints the figures and writes them as JSON.
//!
//!   cargo bench -p server --bench live                 # 500 clients, 5,000 for memory
//!   cargo bench -p server --bench live -- --quick      # 100 and 1,000
//!   ... -- --out path.json
//!
//! Measures, with 20 rules switched on (every kind: counts, sequences, absences, inactivity,
//! off-path, and two aggregates measured over all customers every 2 s):
//! - event → SSE client: 1,000 events/s sent while the clients listen to the event stream;
//!   latency from each event's timestamp (set by the sender) to its arrival at a client,
//!   measured by 20 of the clients (the others read and discard, as browsers would render);
//! - rule → alert on an SSE client: every 200 ms a customer meets a count rule; latency from
//!   the event that met it to the alert's arrival on the alert stream;
//! - memory per SSE client: the server's resident memory with idle event-stream clients
//!   connected, minus before, divided by the clients;
//! - rule engine throughput: events/s the engine evaluates with 20 rules while events are
//!   sent as fast as the server takes them.
//!
//! The clients share the machine's two cores with the server.

mod common;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{alert_times, connect_many, event_times, percentile, rules, start_server, status};

struct Args {
    quick: bool,
    out: PathBuf,
}

fn args() -> Args {
    let mut quick = false;
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/live.json"));
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => out = iter.next().map(PathBuf::from).unwrap_or(out),
            _ => {}
        }
    }
    Args { quick, out }
}

const NAMES: [&str; 10] = [
    "Home",
    "Category",
    "product_viewed",
    "product_viewed",
    "products_searched",
    "added_to_cart",
    "cart_viewed",
    "checkout_started",
    "purchase_completed",
    "logged_in",
];

fn event(id: u64, customer: u64, name: &str) -> Value {
    json!({ "type": "track", "messageId": format!("m-{id}"), "userId": format!("c{customer}"), "event": name,
            "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true) })
}

async fn post(client: &reqwest::Client, addr: &str, write_key: &str, batch: Vec<Value>) {
    let response = client
        .post(format!("http://{addr}/v1/batch"))
        .basic_auth(write_key, Some(""))
        .json(&json!({ "batch": batch }))
        .send()
        .await
        .expect("the server answers");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::main]
async fn main() {
    let args = args();
    let (clients, memory_clients, seconds) = if args.quick { (100, 1_000, 5) } else { (500, 5_000, 10) };
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), clients + memory_clients + 1).await;
    let addr = server.addr.clone();
    let (write_key, token) = (server.write_key.clone(), server.token.clone());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
    for rule in rules() {
        let id = rule["id"].as_str().unwrap().to_string();
        let response = http.put(format!("http://{addr}/api/v1/rules/{id}")).json(&rule).send().await.unwrap();
        assert!(response.status().is_success(), "rule {id}: {}", response.text().await.unwrap());
    }
    let active_rules = rules().len();

    // Event and alert latency under 1,000 events/s.
    let (event_tx, mut event_rx) = mpsc::unbounded_channel::<f64>();
    let (alert_tx, mut alert_rx) = mpsc::unbounded_channel::<f64>();
    let listeners = connect_many(
        &addr,
        &server.stream_tokens,
        "/api/v1/stream/events",
        clients,
        20.min(clients),
        &event_tx,
        event_times,
    )
    .await;
    let alert_listener =
        connect_many(&addr, &server.stream_tokens, "/api/v1/stream/alerts", 1, 1, &alert_tx, alert_times).await;
    let rss_with_clients = server.rss_kib();
    println!("connected     {clients} event-stream clients (server RSS {:.0} MiB)", rss_with_clients / 1024.0);

    let sending = Instant::now();
    let mut next_id = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut probes = 0u64;
    let mut sends = Vec::new();
    for step in 0..(seconds * 100) {
        tick.tick().await;
        let mut batch: Vec<Value> = (0..10)
            .map(|k| {
                next_id += 1;
                event(next_id, (next_id * 7919 + k) % 10_000, NAMES[(next_id % NAMES.len() as u64) as usize])
            })
            .collect();
        if step % 20 == 0 {
            probes += 1;
            for _ in 0..2 {
                next_id += 1;
                batch.push(event(next_id, 1_000_000 + probes, "alert_probe"));
            }
        }
        let (http, addr, write_key) = (http.clone(), addr.clone(), write_key.clone());
        sends.push(tokio::spawn(async move { post(&http, &addr, &write_key, batch).await }));
    }
    for send in sends {
        send.await.unwrap();
    }
    let sent_seconds = sending.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for task in listeners.into_iter().chain(alert_listener) {
        task.abort();
    }
    drop((event_tx, alert_tx));
    let mut event_ms = Vec::new();
    while let Ok(ms) = event_rx.try_recv() {
        event_ms.push(ms);
    }
    let mut alert_ms = Vec::new();
    while let Ok(ms) = alert_rx.try_recv() {
        alert_ms.push(ms);
    }
    event_ms.sort_by(f64::total_cmp);
    alert_ms.sort_by(f64::total_cmp);
    let rate = next_id as f64 / sent_seconds;
    println!(
        "event → SSE   p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} samples, {rate:.0} events/s, {clients} clients, {active_rules} rules)",
        percentile(&event_ms, 0.5),
        percentile(&event_ms, 0.99),
        percentile(&event_ms, 1.0),
        event_ms.len()
    );
    println!(
        "rule → alert  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} of {probes} alerts)",
        percentile(&alert_ms, 0.5),
        percentile(&alert_ms, 0.99),
        percentile(&alert_ms, 1.0),
        alert_ms.len()
    );

    // Rule engine throughput: events sent as fast as the server takes them.
    let before = status(&http, &addr).await;
    let start_seq = before["committed_seq"].as_i64().unwrap_or(0);
    // Eight senders, batches of 500.
    let burst_events = if args.quick { 48_000 } else { 200_000 };
    let started = Instant::now();
    let senders: Vec<_> = (0..8)
        .map(|sender| {
            let (http, addr, write_key) = (http.clone(), addr.clone(), write_key.clone());
            tokio::spawn(async move {
                for chunk in 0..(burst_events / 8 / 500) {
                    let batch = (0..500)
                        .map(|k| {
                            let id = 10_000_000 + sender * 1_000_000 + chunk * 500 + k;
                            event(id as u64, (id % 50_000) as u64, NAMES[id % NAMES.len()])
                        })
                        .collect();
                    post(&http, &addr, &write_key, batch).await;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let committed_after = started.elapsed().as_secs_f64();
    let target = start_seq + burst_events as i64;
    let give_up = Instant::now() + Duration::from_secs(300);
    loop {
        let now = status(&http, &addr).await;
        if now["evaluated_seq"].as_i64().unwrap_or(0) >= target {
            break;
        }
        assert!(Instant::now() < give_up, "the engine did not catch up in 5 minutes: {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let evaluated_after = started.elapsed().as_secs_f64();
    let throughput = burst_events as f64 / evaluated_after;
    println!(
        "rule engine   {throughput:.0} events/s evaluated with {active_rules} rules ({burst_events} events: committed in {committed_after:.1} s, evaluated in {evaluated_after:.1} s)"
    );

    // Memory per idle SSE client.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = server.rss_kib();
    let (idle_tx, _idle_rx) = mpsc::unbounded_channel();
    let idle =
        connect_many(&addr, &server.stream_tokens, "/api/v1/stream/events", memory_clients, 0, &idle_tx, event_times)
            .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss_kib();
    let per_client_kib = (rss_after - rss_before) / memory_clients as f64;
    println!(
        "memory        {:.2} KiB per idle SSE client ({memory_clients} clients: server RSS {:.0} → {:.0} MiB)",
        per_client_kib,
        rss_before / 1024.0,
        rss_after / 1024.0
    );
    for task in idle {
        task.abort();
    }
    let alerts_raised = status(&http, &addr).await["alerts_raised"].as_u64().unwrap_or(0);

    let report = json!({
        "benchmark": "live",
        "quick": args.quick,
        "rules": active_rules,
        "event_to_sse": { "clients": clients, "events_per_second": rate, "samples": event_ms.len(),
            "p50_ms": percentile(&event_ms, 0.5), "p99_ms": percentile(&event_ms, 0.99), "max_ms": percentile(&event_ms, 1.0) },
        "rule_to_alert": { "alerts": alert_ms.len(), "expected": probes,
            "p50_ms": percentile(&alert_ms, 0.5), "p99_ms": percentile(&alert_ms, 0.99), "max_ms": percentile(&alert_ms, 1.0) },
        "rule_engine": { "events": burst_events, "events_per_second": throughput,
            "committed_seconds": committed_after, "evaluated_seconds": evaluated_after, "alerts_raised": alerts_raised },
        "memory_per_sse_client_kib": per_client_kib,
        "memory_clients": memory_clients,
        "server_rss_mib_with_clients": rss_with_clients / 1024.0,
    });
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", args.out.display());
}
