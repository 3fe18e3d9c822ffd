//! `--otlp-endpoint`: an event's path exported as one trace over real OTLP/HTTP, decoded as a
//! collector decodes it. Its own test binary: the trace exporter is installed process-wide.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value::Value as Attribute, trace::v1::Span,
};
use prost::Message;
use serde_json::json;
use server::{leptos_options, telemetry, Database, OpenOptions, Wayline};

mod common;

/// What the stand-in collector and webhook receiver were sent.
#[derive(Default)]
struct Received {
    spans: Vec<Span>,
    traceparents: Vec<String>,
}

/// A collector's `/v1/traces` (protobuf, as the exporter sends by default) and a webhook
/// receiver, on one address.
async fn collector(received: Arc<Mutex<Received>>) -> String {
    let spans = received.clone();
    let router = Router::new()
        .route(
            "/v1/traces",
            post(move |body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                let mut received = spans.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        received.spans.extend(scope.spans);
                    }
                }
            }),
        )
        .route(
            "/hook",
            post(move |headers: HeaderMap| async move {
                let traceparent = headers.get("traceparent").map(|v| v.to_str().unwrap().to_string());
                received.lock().unwrap().traceparents.push(traceparent.unwrap_or_default());
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn attribute(span: &Span, key: &str) -> Option<Attribute> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone()?.value)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_raises_an_alert_leaves_one_trace_from_the_request_to_the_webhook() {
    let received = Arc::new(Mutex::new(Received::default()));
    let base = collector(received.clone()).await;
    let telemetry = telemetry::init(Some(&base)).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = OpenOptions {
        rule_lateness: Duration::ZERO,
        allow_private_webhooks: true,
        ..OpenOptions::new(leptos_options(Path::new("target/site"), addr))
    };
    let wayline = Wayline::open_with(Database::InMemory, options).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (client, wayline_base) = (common::admin_client(&wayline).await, format!("http://{addr}"));
    let hook = json!({ "url": format!("{base}/hook") });
    let put = client.put(format!("{wayline_base}/api/v1/webhooks/ops")).json(&hook).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let rule = json!({ "name": "Payment failed", "condition": { "type": "count", "event": "payment_failed", "count": 2, "within_seconds": 60 } });
    let put = client.put(format!("{wayline_base}/api/v1/rules/pay")).json(&rule).send().await.unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());

    let now = chrono::Utc::now().to_rfc3339();
    let failed = |id: &str| json!({ "type": "track", "messageId": id, "userId": "ann", "event": "payment_failed", "timestamp": now });
    let sent = common::post_demo_batch(&client, &wayline_base, vec![failed("m1"), failed("m2")]).await;
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().traceparents.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the webhook was not sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A span is exported once it has ended (the webhook's attempt only when its answer is
    // logged): flush until all six have arrived. The exporter batches on its own thread and
    // sends through this runtime, so the flush runs beside it.
    let telemetry = Arc::new(telemetry);
    const STAGES: [&str; 6] =
        ["ingest", "store.commit", "index.apply", "engine.evaluate", "alert.raised", "webhook.attempt"];
    loop {
        let flushing = telemetry.clone();
        tokio::task::spawn_blocking(move || flushing.flush()).await.unwrap();
        let arrived = |name: &str| received.lock().unwrap().spans.iter().any(|s| s.name == name);
        if STAGES.iter().all(|name| arrived(name)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not every stage's span arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let received = received.lock().unwrap();
    let named = |name: &str| -> &Span {
        let found: Vec<&Span> = received.spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(
            found.len(),
            1,
            "one {name} span in {:?}",
            received.spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        found[0]
    };
    let ingest = named("ingest");
    assert!(ingest.parent_span_id.is_empty(), "the request starts the trace");
    assert_eq!(attribute(ingest, "stored"), Some(Attribute::IntValue(2)));
    for stage in ["store.commit", "index.apply", "engine.evaluate", "alert.raised"] {
        let span = named(stage);
        assert_eq!(span.trace_id, ingest.trace_id, "{stage} is in the request's trace");
        assert_eq!(span.parent_span_id, ingest.span_id, "{stage} is a step of the request");
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    // The index and the engine are both told of the commit once it is done (each in its
    // own time); the alert comes from the engine.
    let start = |name: &str| named(name).start_time_unix_nano;
    let end = |name: &str| named(name).end_time_unix_nano;
    assert!(end("store.commit") <= start("index.apply") && end("store.commit") <= start("engine.evaluate"));
    assert!(start("engine.evaluate") <= start("alert.raised"));
    let alert = named("alert.raised");
    assert_eq!(attribute(alert, "rule"), Some(Attribute::StringValue("pay".into())));
    let attempt = named("webhook.attempt");
    assert_eq!(attempt.trace_id, ingest.trace_id);
    assert_eq!(attempt.parent_span_id, alert.span_id, "the webhook is sent for the alert");
    assert_eq!(attribute(attempt, "outcome"), Some(Attribute::StringValue("delivered".into())));
    assert_eq!(attribute(attempt, "http.response.status_code"), Some(Attribute::IntValue(200)));
    // The receiver is told the trace it continues (W3C trace context).
    let traceparent = &received.traceparents[0];
    assert_eq!(traceparent, &format!("00-{}-{}-01", hex(&attempt.trace_id), hex(&attempt.span_id)));
}
