//! A restart under load: the event index loads in the background, so ingestion answers `200`
//! from the first moment; questions answer `503` with `Retry-After` and how far the load has
//! got, and the pages show a warming-up banner, until it is ready; then the answers are those
//! from before the restart, and the rule engine has raised what the events sent meanwhile call
//! for, without raising an earlier alert again. The load is held until the test lets it go
//! ([`IndexLoad::BackgroundWhen`]), so nothing here depends on how fast it is.

use std::{path::Path, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use server::{clock::Clock, leptos_options, Database, IndexLoad, OpenOptions, Wayline};

mod common;

struct Server {
    base: String,
    client: reqwest::Client,
    wayline: Wayline,
    task: tokio::task::JoinHandle<()>,
}

async fn start(db: &Path, clock: Clock, index_load: IndexLoad) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = OpenOptions {
        rule_lateness: Duration::ZERO,
        clock,
        index_load,
        ..OpenOptions::new(leptos_options(Path::new("target/site"), addr))
    };
    let wayline = Wayline::open_with(Database::File(db), options).await.unwrap();
    let router = wayline.router();
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = common::admin_client(&wayline).await;
    Server { base: format!("http://{addr}"), client, wayline, task }
}

impl Server {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    async fn post(&self, batch: Vec<Value>) -> reqwest::StatusCode {
        common::post_demo_batch(&self.client, &self.base, batch).await.status()
    }

    /// The alerts of the `burst` rule, by customer, once there are `count` (or after 10 s).
    async fn alerted(&self, count: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let alerts: Vec<Value> = self.get("/api/v1/alerts?rule=burst").await.json().await.unwrap();
            if alerts.len() >= count || tokio::time::Instant::now() > deadline {
                let mut customers: Vec<String> =
                    alerts.iter().map(|a| a["customer_id"].as_str().unwrap().to_string()).collect();
                customers.sort();
                return customers;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the rule engine has evaluated every committed event and turned twice more.
    async fn settled(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let state = &self.wayline.state;
        let turns = state.live_status.turns.load(SeqCst);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while state.live_status.evaluated_seq.load(SeqCst) < state.index.progress().0
            || state.live_status.turns.load(SeqCst) < turns + 2
        {
            assert!(tokio::time::Instant::now() < deadline, "the rule engine did not catch up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.task.abort();
        self.wayline.close().await;
    }
}

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn track(id: &str, user: &str, event: &str, minute: i64) -> Value {
    json!({ "type": "track", "messageId": id, "userId": user, "event": event, "timestamp": at(minute).to_rfc3339() })
}

const FUNNEL: &str = "/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_stores_events_at_once_and_answers_questions_once_the_index_has_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("warm-up.duckdb");
    let clock = Clock::manual(at(30));

    // Before the restart: a funnel, and one alert (ann failed to pay twice).
    let before = start(&db, clock.clone(), IndexLoad::Before).await;
    let rule = json!({ "id": "burst", "name": "Two failed payments", "cooldown_seconds": 0,
        "condition": { "type": "count", "event": "payment_failed", "count": 2, "within_seconds": 600 } });
    let put = before.client.put(format!("{}/api/v1/rules/burst", before.base)).json(&rule).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let history = vec![
        track("a1", "ann", "view", 1),
        track("a2", "ann", "cart", 2),
        track("a3", "ann", "buy", 3),
        track("b1", "bob", "view", 4),
        track("b2", "bob", "cart", 5),
        track("a4", "ann", "payment_failed", 10),
        track("a5", "ann", "payment_failed", 11),
    ];
    assert_eq!(before.post(history).await, 200);
    assert_eq!(before.alerted(1).await, vec!["ann"]);
    let funnel_before: Value = before.get(FUNNEL).await.json().await.unwrap();
    assert_eq!(funnel_before["steps"].as_array().unwrap().len(), 3, "{funnel_before}");
    before.stop().await;

    // The restart, with the index's load held back.
    let (go, when) = tokio::sync::oneshot::channel();
    let after = start(&db, clock, IndexLoad::BackgroundWhen(when)).await;
    assert!(after.wayline.state.index.warming_up().is_some());
    // Ingestion answers at once: cat fails to pay twice, dan looks around.
    let meanwhile = vec![
        track("c1", "cat", "payment_failed", 20),
        track("c2", "cat", "payment_failed", 21),
        track("d1", "dan", "home", 22),
    ];
    assert_eq!(after.post(meanwhile).await, 200);
    // A resent event is still known as a duplicate: the writer does not wait for the index.
    assert_eq!(after.post(vec![track("a5", "ann", "payment_failed", 11)]).await, 200);

    // Questions wait for the index: 503, when to retry, and how far it has got.
    let refused = after.get(FUNNEL).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "2");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "warming_up", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("% loaded"), "{body}");
    let ready = after.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let status: Value = after.get("/api/v1/live/status").await.json().await.unwrap();
    assert_eq!(status["index_ready"], false, "{status}");
    // A page shows the banner (and its panels say why they are empty).
    let page = after.get("/funnels").await.text().await.unwrap();
    assert!(page.contains("data-testid=\"warming-up\""), "no warming-up banner");

    // Once the index has loaded, the answers are those from before.
    go.send(()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while after.get("/readyz").await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the index did not load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let funnel_after: Value = after.get(FUNNEL).await.json().await.unwrap();
    assert_eq!(funnel_after["steps"], funnel_before["steps"]);
    let page = after.get("/funnels").await.text().await.unwrap();
    assert!(!page.contains("data-testid=\"warming-up\""), "the banner stays after the load");
    // The engine caught up: cat's alert raised, ann's not raised again.
    after.settled().await;
    assert_eq!(after.alerted(2).await, vec!["ann", "cat"]);
    let status: Value = after.get("/api/v1/live/status").await.json().await.unwrap();
    assert_eq!(status["index_ready"], true);
    assert_eq!(status["indexed_events"], 10, "seven before, three during the warm-up: {status}");
    after.stop().await;
}
