//! The real router on a real socket: ingestion, dead letters, the SSE stream and the Live page.

use std::{io::Write, net::SocketAddr, path::Path, time::Duration};

use serde_json::{json, Value};
use server::{leptos_options, sources::DEMO_WRITE_KEY, store::value_of, Database, Wayline};

mod common;

struct TestServer {
    addr: SocketAddr,
    client: reqwest::Client,
    wayline: Wayline,
}

impl TestServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = leptos_options(Path::new("target/site"), addr);
        let wayline = Wayline::open(Database::InMemory, options, vec!["*".into()]).await.unwrap();
        let router = wayline.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = common::admin_client(&wayline).await;
        TestServer { addr, client, wayline }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let request = self.client.post(self.url(path)).basic_auth(DEMO_WRITE_KEY, Some(""));
        let response = request.json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>, gzip: bool) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url(path))
            .basic_auth(DEMO_WRITE_KEY, Some(""))
            .header("content-type", "application/json")
            .body(body);
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn dead_letters(&self) -> Vec<Value> {
        let response = self.client.get(self.url("/api/v1/dead-letters")).send().await.unwrap();
        response.json().await.unwrap()
    }
}

/// Reads SSE frames (`event:`, `id:`, `data:`) off a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug)]
struct SseFrame {
    event: String,
    id: Option<String>,
    data: Value,
}

impl SseReader {
    async fn open(server: &TestServer, last_event_id: Option<&str>) -> Self {
        let mut request = server.client.get(server.url("/api/v1/stream/events"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseReader { response, buffer: String::new() }
    }

    async fn next(&mut self) -> SseFrame {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut frame = SseFrame { event: "message".into(), id: None, data: Value::Null };
                    let mut is_comment = true;
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            frame.event = v.trim().into();
                            is_comment = false;
                        } else if let Some(v) = line.strip_prefix("id:") {
                            frame.id = Some(v.trim().into());
                        } else if let Some(v) = line.strip_prefix("data:") {
                            frame.data = serde_json::from_str(v.trim()).unwrap();
                            is_comment = false;
                        }
                    }
                    if !is_comment {
                        return frame;
                    }
                    continue;
                }
                let chunk = self.response.chunk().await.unwrap().expect("stream ended");
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("no SSE frame within 5 s")
    }
}

fn track(id: &str, event: &str) -> Value {
    json!({ "messageId": id, "anonymousId": "visitor-1", "event": event, "properties": { "sku": "A-1" } })
}

#[tokio::test]
async fn a_tracked_event_reaches_an_open_stream() {
    let server = TestServer::start().await;
    let mut stream = SseReader::open(&server, None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data, json!({ "kind": "snapshot", "events": [] }));

    let (status, body) = server.post("/v1/track", &track("m-1", "Product Viewed")).await;
    assert_eq!((status, body), (200, json!({ "success": true, "stored": 1, "duplicates": 0 })));

    let frame = stream.next().await;
    assert_eq!(frame.event, "events");
    assert_eq!(frame.id.as_deref(), Some("1"));
    let event = &frame.data["events"][0];
    assert_eq!(event["message_id"], "m-1");
    assert_eq!(event["name"], "Product Viewed");
    assert_eq!(event["anonymous_id"], "visitor-1");
    assert_eq!(event["properties"], json!({ "sku": "A-1" }));
}

#[tokio::test]
async fn a_new_stream_starts_with_the_newest_events_and_a_resumed_one_with_what_it_missed() {
    let server = TestServer::start().await;
    for i in 1..=3 {
        server.post("/v1/track", &track(&format!("m-{i}"), "Product Viewed")).await;
    }
    let mut fresh = SseReader::open(&server, None).await;
    let snapshot = fresh.next().await;
    assert_eq!(snapshot.id.as_deref(), Some("3"));
    let seqs: Vec<i64> =
        snapshot.data["events"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 2, 1]);

    let mut resumed = SseReader::open(&server, Some("1")).await;
    let missed = resumed.next().await;
    assert_eq!(missed.event, "events");
    let ids: Vec<&str> =
        missed.data["events"].as_array().unwrap().iter().map(|e| e["message_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["m-2", "m-3"]);
    assert_eq!(missed.id.as_deref(), Some("3"));

    // Both then follow live commits, without repeating what they already have.
    server.post("/v1/track", &track("m-4", "Product Added")).await;
    assert_eq!(fresh.next().await.data["events"][0]["message_id"], "m-4");
    assert_eq!(resumed.next().await.data["events"][0]["message_id"], "m-4");
}

#[tokio::test]
async fn invalid_json_names_line_and_column_and_is_kept_as_a_dead_letter() {
    let server = TestServer::start().await;
    let (status, body) = server.post_raw("/v1/track", b"{\n  \"event\": \"x\",\n  oops\n}".to_vec(), false).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 3, column 3"), "{message}");

    let letters = server.dead_letters().await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["reason_code"], "invalid_json");
    assert_eq!(letters[0]["payload"], "{\n  \"event\": \"x\",\n  oops\n}");
}

#[tokio::test]
async fn a_message_without_identity_is_refused_with_the_fix() {
    let server = TestServer::start().await;
    let (status, body) = server.post("/v1/track", &json!({ "event": "x" })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "missing_identity");
    assert!(body["error"]["message"].as_str().unwrap().contains("set at least one"));
    assert_eq!(server.dead_letters().await[0]["reason_code"], "missing_identity");
    assert!(server.wayline.state.store.recent_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_mixed_batch_keeps_the_good_and_names_the_bad() {
    let server = TestServer::start().await;
    let batch = json!({
        "context": { "library": { "name": "analytics-node" } },
        "batch": [
            { "type": "track", "userId": "u1", "event": "Order Completed" },
            { "type": "track", "event": "No Identity" },
            { "type": "identify", "userId": "u1", "traits": { "plan": "pro" } },
            { "type": "bogus", "userId": "u1" }
        ]
    });
    let (status, body) = server.post("/v1/batch", &batch).await;
    assert_eq!(status, 200);
    assert_eq!(body["stored"], 2);
    let refused: Vec<(i64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_i64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, vec![(1, "missing_identity"), (3, "unknown_type")]);

    let stored = server.wayline.state.store.recent_events(10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(value_of(&stored[1].event.context), json!({ "library": { "name": "analytics-node" } }));
    let letters = server.dead_letters().await;
    assert_eq!(letters.len(), 2);
    // A refused batch item is kept as itself, ready to replay.
    assert_eq!(serde_json::from_str::<Value>(letters[1]["payload"].as_str().unwrap()).unwrap()["event"], "No Identity");
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let server = TestServer::start().await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(track("gz-1", "Compressed").to_string().as_bytes()).unwrap();
    let (status, _) = server.post_raw("/v1/track", encoder.finish().unwrap(), true).await;
    assert_eq!(status, 200);
    let stored = server.wayline.state.store.recent_events(1).await.unwrap();
    assert_eq!(stored[0].event.message_id, "gz-1");
}

#[tokio::test]
async fn an_oversized_event_gets_413_and_a_dead_letter() {
    let server = TestServer::start().await;
    let big = json!({ "userId": "u", "event": "x", "properties": { "blob": "a".repeat(40 * 1024) } });
    let (status, body) = server.post("/v1/track", &big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "too_large");
    let letters = server.dead_letters().await;
    assert_eq!(letters[0]["reason_code"], "too_large");
    assert_eq!(letters[0]["payload"].as_str().unwrap().len(), 32 * 1024);
}

#[tokio::test]
async fn an_unknown_call_type_is_a_404_that_lists_the_endpoints() {
    let server = TestServer::start().await;
    let (status, body) = server.post("/v1/purchase", &track("m", "x")).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("/v1/track"));
}

#[tokio::test]
async fn the_live_page_is_rendered_on_the_server_with_the_newest_events() {
    let server = TestServer::start().await;
    server.post("/v1/track", &track("m-1", "Checkout Started")).await;
    let response = server.client.get(server.url("/live")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Live events</h1>"), "{html}");
    assert!(html.contains("Checkout Started"));
    assert!(html.contains("/pkg/app.js") || html.contains("/pkg/app"));

    let missing = server.client.get(server.url("/no-such-page")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn requests_without_a_valid_write_key_get_401_and_store_nothing() {
    let server = TestServer::start().await;
    let anonymous = server.client.post(server.url("/v1/track")).json(&track("m-1", "x")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("HTTP Basic"), "{body}");

    let wrong = server.client.post(server.url("/v1/track")).basic_auth("wl_nope", Some("")).json(&track("m-2", "x"));
    let wrong = wrong.send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("wayline source add"));

    // Garbage without a key is answered but not kept: anyone could otherwise fill the disk.
    let garbage = server.client.post(server.url("/v1/track")).body("{oops").send().await.unwrap();
    assert_eq!(garbage.status(), 400);
    assert!(server.dead_letters().await.is_empty());
    assert!(server.wayline.state.store.recent_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_write_key_may_come_in_the_body_as_analytics_next_sends_it() {
    let server = TestServer::start().await;
    // analytics-next posts text/plain to the one-letter paths with writeKey in the body.
    let message = json!({ "writeKey": DEMO_WRITE_KEY, "anonymousId": "a", "event": "Signed Up" });
    let response = server
        .client
        .post(server.url("/v1/t"))
        .header("content-type", "text/plain")
        .body(message.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let batch =
        json!({ "writeKey": DEMO_WRITE_KEY, "batch": [{ "type": "page", "anonymousId": "a", "name": "Home" }] });
    let response = server.client.post(server.url("/v1/b")).body(batch.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let stored = server.wayline.state.store.recent_events(10).await.unwrap();
    let kinds: Vec<&str> = stored.iter().map(|e| e.event.kind.as_str()).collect();
    assert_eq!(kinds, vec!["page", "track"]);
    assert!(stored.iter().all(|e| e.event.source_id == "demo"));
}

#[tokio::test]
async fn a_created_source_key_is_accepted() {
    let server = TestServer::start().await;
    let (record, key) = server.wayline.state.sources.create("Web shop").await.unwrap();
    let response = server
        .client
        .post(server.url("/v1/track"))
        .basic_auth(&key, Some(""))
        .json(&track("m", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.wayline.state.store.recent_events(1).await.unwrap()[0].event.source_id, record.id);
}

#[tokio::test]
async fn a_duplicate_message_id_is_a_success_that_is_not_stored_twice() {
    let server = TestServer::start().await;
    let first = server.post("/v1/track", &track("dup-1", "Order Completed")).await;
    let again = server.post("/v1/track", &track("dup-1", "Order Completed")).await;
    assert_eq!(first, (200, json!({ "success": true, "stored": 1, "duplicates": 0 })));
    assert_eq!(again, (200, json!({ "success": true, "stored": 0, "duplicates": 1 })));
    assert_eq!(server.wayline.state.store.recent_events(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_letter_can_be_replayed_once_after_a_fix() {
    let server = TestServer::start().await;
    let (status, _) = server.post("/v1/track", &json!({ "messageId": "r-1", "event": "Order Completed" })).await;
    assert_eq!(status, 400);
    let id = server.dead_letters().await[0]["id"].as_i64().unwrap();
    let replay = |body: Option<Value>| {
        let mut request = server.client.post(server.url(&format!("/api/v1/dead-letters/{id}/replay")));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    // As stored it is still invalid: the answer says why and what to send.
    let still_bad = replay(None).await.unwrap();
    assert_eq!(still_bad.status(), 422);
    assert!(still_bad.text().await.unwrap().contains("corrected message"));

    let fixed = replay(Some(json!({ "messageId": "r-1", "userId": "u-9", "event": "Order Completed" }))).await.unwrap();
    assert_eq!(fixed.status(), 200);
    let stored = server.wayline.state.store.recent_events(1).await.unwrap();
    assert_eq!((stored[0].event.kind.as_str(), stored[0].event.user_id.as_deref()), ("track", Some("u-9")));
    assert!(server.dead_letters().await[0]["replayed_at"].is_string());

    assert_eq!(replay(None).await.unwrap().status(), 409);
    let missing = server.client.post(server.url("/api/v1/dead-letters/999/replay")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn browsers_may_send_after_a_cors_preflight() {
    let server = TestServer::start().await;
    let preflight = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/track"))
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type,authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let methods = preflight.headers()["access-control-allow-methods"].to_str().unwrap().to_string();
    assert!(methods.contains("POST"), "{methods}");
}

#[tokio::test]
async fn analytics_next_gets_settings_that_point_it_here() {
    let server = TestServer::start().await;
    let url = server.url(&format!("/v1/projects/{DEMO_WRITE_KEY}/settings"));
    let settings: Value = server.client.get(url).send().await.unwrap().json().await.unwrap();
    let segment = &settings["integrations"]["Segment.io"];
    assert_eq!(segment["apiKey"], DEMO_WRITE_KEY);
    assert_eq!(segment["apiHost"], format!("{}/v1", server.addr));
    assert_eq!(segment["protocol"], "http");
    let unknown = server.client.get(server.url("/v1/projects/wl_nope/settings")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn late_and_out_of_order_events_are_kept_with_their_own_time() {
    let server = TestServer::start().await;
    let late = json!({ "messageId": "late", "userId": "u", "event": "a", "timestamp": "2026-01-02T10:00:00Z" });
    let earlier = json!({ "messageId": "earlier", "userId": "u", "event": "b", "timestamp": "2026-01-01T10:00:00Z" });
    assert_eq!(server.post("/v1/track", &late).await.0, 200);
    assert_eq!(server.post("/v1/track", &earlier).await.0, 200);
    let stored = server.wayline.state.store.recent_events(2).await.unwrap();
    assert_eq!(stored[0].event.timestamp.to_rfc3339(), "2026-01-01T10:00:00+00:00");
    assert_eq!(stored[1].event.timestamp.to_rfc3339(), "2026-01-02T10:00:00+00:00");
}
