//! The real router on a real socket: ingestion, dead letters, the SSE stream and the Live page.

use std::{io::Write, net::SocketAddr, path::Path, time::Duration};

use serde_json::{json, Value};
use server::{leptos_options, Database, Wayline};

struct TestServer {
    addr: SocketAddr,
    client: reqwest::Client,
    wayline: Wayline,
}

impl TestServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let wayline = Wayline::open(
            Database::InMemory,
            leptos_options(Path::new("target/site"), addr),
        )
        .unwrap();
        let router = wayline.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        TestServer {
            addr,
            client: reqwest::Client::new(),
            wayline,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post_raw(&self, path: &str, body: Vec<u8>, gzip: bool) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url(path))
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
        let response = self
            .client
            .get(self.url("/api/v1/dead-letters"))
            .send()
            .await
            .unwrap();
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
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> SseFrame {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut frame = SseFrame {
                        event: "message".into(),
                        id: None,
                        data: Value::Null,
                    };
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

    let (status, body) = server
        .post("/v1/track", &track("m-1", "Product Viewed"))
        .await;
    assert_eq!((status, body), (200, json!({ "success": true })));

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
        server
            .post("/v1/track", &track(&format!("m-{i}"), "Product Viewed"))
            .await;
    }
    let mut fresh = SseReader::open(&server, None).await;
    let snapshot = fresh.next().await;
    assert_eq!(snapshot.id.as_deref(), Some("3"));
    let seqs: Vec<i64> = snapshot.data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 2, 1]);

    let mut resumed = SseReader::open(&server, Some("1")).await;
    let missed = resumed.next().await;
    assert_eq!(missed.event, "events");
    let ids: Vec<&str> = missed.data["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["m-2", "m-3"]);
    assert_eq!(missed.id.as_deref(), Some("3"));

    // Both then follow live commits, without repeating what they already have.
    server
        .post("/v1/track", &track("m-4", "Product Added"))
        .await;
    assert_eq!(fresh.next().await.data["events"][0]["message_id"], "m-4");
    assert_eq!(resumed.next().await.data["events"][0]["message_id"], "m-4");
}

#[tokio::test]
async fn invalid_json_names_line_and_column_and_is_kept_as_a_dead_letter() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post_raw(
            "/v1/track",
            b"{\n  \"event\": \"x\",\n  oops\n}".to_vec(),
            false,
        )
        .await;
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
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("set at least one"));
    assert_eq!(
        server.dead_letters().await[0]["reason_code"],
        "missing_identity"
    );
    assert!(server
        .wayline
        .state
        .store
        .recent_events(10)
        .await
        .unwrap()
        .is_empty());
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
    assert_eq!(body["accepted"], 2);
    let refused: Vec<(i64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_i64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, vec![(1, "missing_identity"), (3, "unknown_type")]);

    let stored = server.wayline.state.store.recent_events(10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[1].event.context,
        json!({ "library": { "name": "analytics-node" } })
    );
    let letters = server.dead_letters().await;
    assert_eq!(letters.len(), 2);
    // A refused batch item is kept as itself, ready to replay.
    assert_eq!(
        serde_json::from_str::<Value>(letters[1]["payload"].as_str().unwrap()).unwrap()["event"],
        "No Identity"
    );
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let server = TestServer::start().await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(track("gz-1", "Compressed").to_string().as_bytes())
        .unwrap();
    let (status, _) = server
        .post_raw("/v1/track", encoder.finish().unwrap(), true)
        .await;
    assert_eq!(status, 200);
    let stored = server.wayline.state.store.recent_events(1).await.unwrap();
    assert_eq!(stored[0].event.message_id, "gz-1");
}

#[tokio::test]
async fn an_oversized_event_gets_413_and_a_dead_letter() {
    let server = TestServer::start().await;
    let big =
        json!({ "userId": "u", "event": "x", "properties": { "blob": "a".repeat(40 * 1024) } });
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
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/track"));
}

#[tokio::test]
async fn the_live_page_is_rendered_on_the_server_with_the_newest_events() {
    let server = TestServer::start().await;
    server
        .post("/v1/track", &track("m-1", "Checkout Started"))
        .await;
    let response = server.client.get(server.url("/live")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Live events</h1>"), "{html}");
    assert!(html.contains("Checkout Started"));
    assert!(html.contains("/pkg/app.js") || html.contains("/pkg/app"));

    let missing = server
        .client
        .get(server.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
