//! What the benchmark programs that run the `wayline` binary share: the server process, the
//! twenty rules they switch on, SSE clients that measure latency, percentiles.
#![allow(dead_code)] // Not every benchmark uses all of it.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};

/// The server process; killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub addr: String,
    pub write_key: String,
    pub token: String,
    /// Viewer tokens for SSE clients: the server lets one person or token hold at most 64
    /// streams, so many clients are spread over many tokens, as they would be over many users.
    pub stream_tokens: Vec<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    pub fn rss_kib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Runs a `wayline` command on the bench's database and returns the last line it printed
/// (where commands print a new secret).
pub fn last_line_of(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_wayline"))
        .args(args)
        .arg("--db")
        .arg(dir.join("live.duckdb"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("the wayline binary runs");
    assert!(output.status.success(), "wayline {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().trim().to_string()
}

/// Starts `wayline serve` on a new database in `dir`, with a write key, an admin token and
/// enough viewer tokens for `streams` SSE clients.
pub async fn start_server(dir: &Path, streams: usize) -> ServerProcess {
    start_server_with(dir, &[], None, streams).await
}

/// As [`start_server`], with more `serve` arguments (`--demo`) and the server's log kept in
/// `log` (else dropped).
pub async fn start_server_with(dir: &Path, extra: &[&str], log: Option<&Path>, streams: usize) -> ServerProcess {
    // A write key to send with and an admin token to read and configure with, as an
    // installation would have them (the public demo key works only with --demo).
    let write_key = last_line_of(dir, &["source", "add", "bench"]);
    let token = last_line_of(dir, &["token", "add", "bench", "--role", "admin"]);
    let stream_tokens = (0..streams.div_ceil(STREAMS_PER_TOKEN).max(1))
        .map(|n| last_line_of(dir, &["token", "add", &format!("bench-viewer-{n}"), "--role", "viewer"]))
        .collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_wayline"))
        .args(["serve", "--db"])
        .arg(dir.join("live.duckdb"))
        .args(["--addr", &addr, "--site-root"])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the log file can be created")),
            None => Stdio::null(),
        })
        .spawn()
        .expect("the wayline binary runs");
    let server = ServerProcess { child, addr, write_key, token, stream_tokens };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("http://{}/healthz", server.addr)).send().await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

/// Streams given to one viewer token (the server allows 64 per person or token).
const STREAMS_PER_TOKEN: usize = 60;

/// Twenty rules of every kind, the last one the probe for alert latency.
pub fn rules() -> Vec<Value> {
    let mut rules = Vec::new();
    for (i, event) in ["product_viewed", "Home", "Category", "added_to_cart", "products_searched", "checkout_started"]
        .iter()
        .enumerate()
    {
        rules.push(json!({ "id": format!("count-{i}"), "name": format!("{event} burst"),
            "condition": { "type": "count", "event": event, "count": 5, "within_seconds": 60 } }));
    }
    for (i, (a, b)) in [
        ("product_viewed", "added_to_cart"),
        ("added_to_cart", "checkout_started"),
        ("checkout_started", "payment_failed"),
        ("Home", "products_searched"),
    ]
    .iter()
    .enumerate()
    {
        rules.push(json!({ "id": format!("sequence-{i}"), "name": format!("{a} then {b}"),
            "condition": { "type": "sequence", "steps": [a, b], "within_seconds": 600 } }));
    }
    // Five-minute absences: their waits (one per anchor, each of which may fire) reach their
    // steady number within a soak's warm-up, so what grows after it is not waits by design.
    for (i, (a, b)) in [
        ("added_to_cart", "purchase_completed"),
        ("checkout_started", "purchase_completed"),
        ("payment_failed", "purchase_completed"),
        ("products_searched", "product_viewed"),
    ]
    .iter()
    .enumerate()
    {
        rules.push(json!({ "id": format!("absence-{i}"), "name": format!("{a} without {b}"),
            "condition": { "type": "absence", "after": a, "missing": [b], "within_seconds": 300 } }));
    }
    // Aggregates, measured over all customers every 2 s.
    rules.push(json!({ "id": "checkout-conversion", "name": "Checkout conversion low",
        "condition": { "type": "conversion", "from": "checkout_started", "to": "purchase_completed",
            "within_seconds": 600, "window_seconds": 3600, "below_percent": 30 } }));
    rules.push(json!({ "id": "views-dip", "name": "Views dipped",
        "condition": { "type": "volume_dip", "event": "product_viewed", "window_seconds": 300, "drop_percent": 50 } }));
    rules.push(json!({ "id": "quiet", "name": "Quiet for a day", "condition": { "type": "inactivity", "for_seconds": 86400 } }));
    rules.push(json!({ "id": "high-intent", "name": "High intent",
        "condition": { "type": "count", "event": "product_viewed", "count": 3, "within_seconds": 300 } }));
    rules.push(
        json!({ "id": "off-path", "name": "Off path", "condition": { "type": "off_path", "journey": "default" } }),
    );
    rules.push(json!({ "id": "probe", "name": "Probe", "cooldown_seconds": 0,
        "condition": { "type": "count", "event": "alert_probe", "count": 2, "within_seconds": 60 } }));
    rules
}

/// One SSE client on a raw connection. With `measure`, every `data:` line is parsed and the
/// latency of each timestamp found at `field` is sent on `latencies`; otherwise bytes are
/// read and dropped. Reports when its first frame arrived.
pub async fn sse_client(
    addr: String,
    token: String,
    path: &'static str,
    measure: Option<(Extract, mpsc::UnboundedSender<f64>)>,
    connected: mpsc::UnboundedSender<Result<(), String>>,
) {
    let Ok(mut stream) = TcpStream::connect(&addr).await else { return };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let mut pending = String::new();
    let mut told = false;
    loop {
        let n = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !told {
            told = true;
            // A refusal (429: too many streams for this token) is not a connected client.
            let head = String::from_utf8_lossy(&buffer[..n]);
            if !head.starts_with("HTTP/1.1 200") {
                let _ = connected.send(Err(head.lines().next().unwrap_or_default().to_string()));
                return;
            }
            let _ = connected.send(Ok(()));
        }
        let Some((extract, latencies)) = &measure else { continue };
        pending.push_str(&String::from_utf8_lossy(&buffer[..n]));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Some(data) = line.strip_prefix("data: ") {
                if let Ok(value) = serde_json::from_str::<Value>(data.trim_end()) {
                    let now = Utc::now();
                    for at in extract(&value) {
                        let _ = latencies.send((now - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
                    }
                }
            }
        }
    }
}

/// Finds the timestamps to measure in one `data:` payload.
pub type Extract = fn(&Value) -> Vec<DateTime<Utc>>;

pub fn event_times(frame: &Value) -> Vec<DateTime<Utc>> {
    if frame["kind"] != "events" {
        return Vec::new();
    }
    frame["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["timestamp"].as_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

pub fn alert_times(alert: &Value) -> Vec<DateTime<Utc>> {
    alert["occurred_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .filter(|_| alert["rule_id"] == "probe")
        .into_iter()
        .collect()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Connects `count` clients to `path`, spread over `tokens`; the first `probes` measure.
/// Panics unless every one is answered `200` and gets its first bytes.
pub async fn connect_many(
    addr: &str,
    tokens: &[String],
    path: &'static str,
    count: usize,
    probes: usize,
    latencies: &mpsc::UnboundedSender<f64>,
    extract: Extract,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (connected_tx, mut connected) = mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let measure = (i < probes).then(|| (extract, latencies.clone()));
        let token = tokens[i % tokens.len()].clone();
        tasks.push(tokio::spawn(sse_client(addr.to_string(), token, path, measure, connected_tx.clone())));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut ready = 0;
    while ready < count && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), connected.recv()).await.ok().flatten() {
            Some(Ok(())) => ready += 1,
            Some(Err(refused)) => panic!("an SSE client of {path} was refused: {refused}"),
            None => {}
        }
    }
    assert_eq!(ready, count, "every client got its first frame");
    tasks
}

pub async fn status(client: &reqwest::Client, addr: &str) -> Value {
    client.get(format!("http://{addr}/api/v1/live/status")).send().await.unwrap().json().await.unwrap()
}
