//! Ingestion benchmark: a real server on a real DuckDB file over real HTTP, with every
//! answer sent only after its commit. Prints the figures and writes them as JSON.
//!
//!   cargo bench -p server --bench ingest                 # full run
//!   cargo bench -p server --bench ingest -- --quick      # a smaller, faster run
//!   ... -- --out path.json                               # where the JSON goes
//!   ... -- --clients 8,32                                # concurrent batch senders to try
//!
//! Measures: batch ingest (100 events per request, concurrent clients) in events/s with
//! p50/p99 time to acknowledge; single-event requests/s with p50/p99; `wayline import`
//! events/s. The client runs on the same two cores as the server, so the figures are a
//! lower bound for a server with its own machine.

use std::{
    io::Write,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use server::{import, leptos_options, sources::DEMO_WRITE_KEY, Database, Wayline};

struct Args {
    quick: bool,
    clients: Vec<usize>,
    out: PathBuf,
}

fn args() -> Args {
    let mut quick = false;
    let mut clients = vec![8, 32];
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench/ingest.json"));
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" => out = iter.next().map(PathBuf::from).unwrap_or(out),
            "--clients" => {
                if let Some(list) = iter.next() {
                    clients = list.split(',').filter_map(|n| n.parse().ok()).collect();
                }
            }
            _ => {} // cargo bench passes --bench
        }
    }
    Args { quick, clients, out }
}

const EVENTS: [&str; 4] = ["product_viewed", "added_to_cart", "checkout_started", "purchase_completed"];

fn message(run: &str, n: usize) -> Value {
    let event = EVENTS[n % EVENTS.len()];
    json!({
        "type": "track",
        "messageId": format!("{run}-{n}"),
        "anonymousId": format!("anon-{}", n % 50_000),
        "event": event,
        "properties": { "sku": format!("SKU-{}", n % 997), "price": 19.99, "currency": "USD", "category": "shoes" },
        "context": {
            "ip": "10.1.2.3",
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0",
            "page": { "path": "/products/detail", "referrer": "https://www.google.com/" },
            "library": { "name": "bench", "version": "1" }
        },
        "timestamp": "2026-11-23T10:00:00.000Z"
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Sends every body with `clients` concurrent senders; returns wall time and per-request latencies.
async fn blast(client: &reqwest::Client, url: &str, bodies: Vec<String>, clients: usize) -> (Duration, Vec<Duration>) {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let queue = queue.clone();
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(body) = queue.lock().unwrap().pop() else { break };
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .basic_auth(DEMO_WRITE_KEY, Some(""))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("request failed");
                assert!(response.status().is_success(), "status {}", response.status());
                let _ = response.bytes().await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    (started.elapsed(), latencies)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args = args();
    let (batch_events, single_requests, import_events) =
        if args.quick { (100_000, 5_000, 50_000) } else { (1_000_000, 20_000, 200_000) };
    let clients = args.clients;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.duckdb");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wayline = Wayline::open(Database::File(&db), leptos_options(dir.path(), addr), vec![]).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();

    // 1. Batches of 100, at several levels of concurrency: group commit shares each commit
    //    among whatever requests are waiting, so more concurrent senders mean fewer commits.
    let mut batch_runs = Vec::new();
    for (round, clients) in clients.iter().copied().enumerate() {
        let run = format!("batch{round}");
        let bodies: Vec<String> = (0..batch_events / 100)
            .map(|b| {
                let batch: Vec<Value> = (0..100).map(|i| message(&run, b * 100 + i)).collect();
                json!({ "batch": batch }).to_string()
            })
            .collect();
        let batch_bytes: usize = bodies.iter().map(String::len).sum();
        let (wall, latencies) = blast(&client, &format!("{base}/v1/batch"), bodies, clients).await;
        let figures = json!({
            "events": batch_events,
            "events_per_request": 100,
            "clients": clients,
            "seconds": wall.as_secs_f64(),
            "events_per_second": batch_events as f64 / wall.as_secs_f64(),
            "megabytes_per_second": batch_bytes as f64 / wall.as_secs_f64() / 1e6,
            "ack_ms_p50": percentile(&latencies, 0.50),
            "ack_ms_p99": percentile(&latencies, 0.99),
        });
        println!(
            "batch ingest  {:>10.0} events/s  (100/request, {clients:>2} clients)  ack p50 {:.1} ms  p99 {:.1} ms",
            figures["events_per_second"].as_f64().unwrap_or(0.0),
            figures["ack_ms_p50"].as_f64().unwrap_or(0.0),
            figures["ack_ms_p99"].as_f64().unwrap_or(0.0)
        );
        batch_runs.push(figures);
    }

    // 2. One event per request.
    let bodies: Vec<String> = (0..single_requests).map(|n| message("single", n).to_string()).collect();
    let (wall, latencies) = blast(&client, &format!("{base}/v1/track"), bodies, 32).await;
    let single = json!({
        "requests": single_requests,
        "clients": 32,
        "seconds": wall.as_secs_f64(),
        "requests_per_second": single_requests as f64 / wall.as_secs_f64(),
        "ack_ms_p50": percentile(&latencies, 0.50),
        "ack_ms_p99": percentile(&latencies, 0.99),
    });

    // 3. `wayline import` of an NDJSON file.
    let file = dir.path().join("import.ndjson");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for n in 0..import_events {
            writeln!(out, "{}", message("import", n)).unwrap();
        }
    }
    let summary = import::run(import::ImportConfig {
        file,
        target: base.clone(),
        write_key: DEMO_WRITE_KEY.into(),
        progress: false,
    })
    .await
    .unwrap();
    assert_eq!(summary.stored as usize, import_events);
    let import = json!({ "events": import_events, "seconds": summary.seconds, "events_per_second": summary.rate() });

    wayline.close().await;
    let db_bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let stored = batch_events * clients.len() + single_requests + import_events;
    let report = json!({
        "benchmark": "ingest",
        "quick": args.quick,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "batch_ingest": batch_runs,
        "single_event": single,
        "import": import,
        "database_bytes_per_event": db_bytes as f64 / stored as f64,
        "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
    });
    println!(
        "single event  {:>10.0} requests/s (32 clients)  ack p50 {:.1} ms  p99 {:.1} ms",
        report["single_event"]["requests_per_second"].as_f64().unwrap_or(0.0),
        report["single_event"]["ack_ms_p50"].as_f64().unwrap_or(0.0),
        report["single_event"]["ack_ms_p99"].as_f64().unwrap_or(0.0)
    );
    println!("import        {:>10.0} events/s", summary.rate());
    println!(
        "disk          {:>10.1} bytes/event   peak RSS {:.0} MiB (server and client)",
        report["database_bytes_per_event"].as_f64().unwrap_or(0.0),
        report["peak_rss_mib"].as_f64().unwrap_or(0.0)
    );
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", args.out.display());
}
