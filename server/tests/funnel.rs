//! Funnels through the real store and HTTP, on a small fixture whose answer was computed by
//! hand: identities stitched, events arriving out of order, a conversion window edge.

use std::path::Path;

use serde_json::{json, Value};
use server::{leptos_options, sources::DEMO_WRITE_KEY, Database, Wayline};

async fn start() -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wayline =
        Wayline::open(Database::InMemory, leptos_options(Path::new("target/site"), addr), vec![]).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), reqwest::Client::new())
}

fn track(id: &str, who: (&str, &str), event: &str, at: &str) -> Value {
    let mut m = json!({ "type": "track", "messageId": id, "event": event, "timestamp": at });
    let (key, value) = who;
    m[key] = json!(value);
    m
}

#[tokio::test]
async fn funnel_counts_match_the_hand_computed_fixture() {
    let (base, client) = start().await;
    // Window 1 h, range 2026-11-01 00:00 – 2026-11-02 00:00, steps view → cart → buy.
    // ann  (anonymous, later identified as u-ann): view 10:00 (anon), cart 10:20 (anon),
    //      buy 10:50 (as u-ann) → 3, cart after 20 min, buy after 50 min.
    // bob: cart 09:00 sent first, view 08:55 sent later (out of order) → 2, cart after 5 min.
    // cat: view 12:00, buy 12:30, cart 13:30 (after the window) → 1.
    // dan: view 23:50 on the last day, cart 00:10 and buy 00:40 the next day → 3 (his window
    //      runs past the range's end), buy after 50 min.
    // eve: view 2026-10-31 23:59 (before the range), cart 00:05 → not in the funnel.
    let batch = json!({ "batch": [
        track("a1", ("anonymousId", "anon-ann"), "view", "2026-11-01T10:00:00Z"),
        track("a2", ("anonymousId", "anon-ann"), "cart", "2026-11-01T10:20:00Z"),
        { "type": "identify", "messageId": "a3", "anonymousId": "anon-ann", "userId": "u-ann", "timestamp": "2026-11-01T10:30:00Z" },
        track("a4", ("userId", "u-ann"), "buy", "2026-11-01T10:50:00Z"),
        track("b1", ("userId", "bob"), "cart", "2026-11-01T09:00:00Z"),
        track("b2", ("userId", "bob"), "view", "2026-11-01T08:55:00Z"),
        track("c1", ("userId", "cat"), "view", "2026-11-01T12:00:00Z"),
        track("c2", ("userId", "cat"), "buy", "2026-11-01T12:30:00Z"),
        track("c3", ("userId", "cat"), "cart", "2026-11-01T13:30:00Z"),
        track("d1", ("userId", "dan"), "view", "2026-11-01T23:50:00Z"),
        track("d2", ("userId", "dan"), "cart", "2026-11-02T00:10:00Z"),
        track("d3", ("userId", "dan"), "buy", "2026-11-02T00:40:00Z"),
        track("e1", ("userId", "eve"), "view", "2026-10-31T23:59:00Z"),
        track("e2", ("userId", "eve"), "cart", "2026-11-01T00:05:00Z"),
    ]});
    let response =
        client.post(format!("{base}/v1/batch")).basic_auth(DEMO_WRITE_KEY, Some("")).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let url = format!(
        "{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
    );
    let result: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    let steps = result["steps"].as_array().unwrap();
    let counts: Vec<u64> = steps.iter().map(|s| s["customers"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![4, 3, 2], "{result}");
    assert_eq!(steps[0]["event"], "view");
    assert_eq!(steps[1]["conversion_from_first"], 0.75);
    assert_eq!(steps[2]["conversion_from_previous"], 2.0 / 3.0);
    // cart times: ann 20 min, bob 5 min, dan 20 min → median 20 min, mean 15 min.
    assert_eq!(steps[1]["median_seconds"], 1200.0);
    assert_eq!(steps[1]["average_seconds"], 900.0);
    // buy times: ann 50 min, dan 50 min.
    assert_eq!(steps[2]["median_seconds"], 3000.0);
    let buckets: Vec<(&str, u64)> = result["time_to_convert"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["customers"].as_u64().unwrap() > 0)
        .map(|b| (b["label"].as_str().unwrap(), b["customers"].as_u64().unwrap()))
        .collect();
    assert_eq!(buckets, vec![("15–60 min", 2)]);

    // Strict order: cat's buy between view and cart does not matter (she stops at 1 either
    // way); bob's view → cart has nothing between; ann's identify between cart and buy is
    // not a named event, so ann still converts.
    let strict: Value = client
        .get(format!("{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&mode=strict"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counts: Vec<u64> =
        strict["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![4, 3, 2]);

    // Any order within the window: cat has view and buy within the hour → 2.
    let any: Value = client
        .get(format!("{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&mode=any"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counts: Vec<u64> = any["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![5, 4, 2], "{any}");
}

#[tokio::test]
async fn a_wrong_funnel_question_names_the_fix() {
    let (base, client) = start().await;
    for (query, needle) in [
        ("steps=view", "2 to 20 steps"),
        ("steps=a,b&window=0", "window=0"),
        ("steps=a,b&from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "must be before"),
        ("steps=a,b&mode=sideways", "mode"),
    ] {
        let response = client.get(format!("{base}/api/v1/funnel?{query}")).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{query}: {text}");
    }
}
