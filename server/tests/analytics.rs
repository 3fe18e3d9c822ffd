//! Analytics through the real store and HTTP, on small fixtures whose answers were computed
//! by hand: funnels (identities stitched, events out of order, window edges), active sessions
//! per stage, a customer's timeline, and journey import/export.

use std::path::Path;

use serde_json::{json, Value};
use server::{leptos_options, sources::DEMO_WRITE_KEY, Database, OpenOptions, Wayline};

mod common;

async fn start() -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wayline =
        Wayline::open(Database::InMemory, leptos_options(Path::new("target/site"), addr), vec![]).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), common::admin_client(&wayline).await)
}

/// GETs `url` and parses the JSON answer.
async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Customers per step of a funnel answer.
fn step_counts(result: &Value) -> Vec<u64> {
    result["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect()
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
    let result: Value = get_json(&client, url).await;
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
    let strict: Value = get_json(&client, format!("{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&mode=strict")).await;
    assert_eq!(step_counts(&strict), vec![4, 3, 2]);

    // Any order within the window: cat has view and buy within the hour → 2.
    let any: Value = get_json(&client, format!("{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&mode=any")).await;
    assert_eq!(step_counts(&any), vec![5, 4, 2], "{any}");
}

fn page(id: &str, user: &str, name: &str, at: &str) -> Value {
    json!({ "type": "page", "messageId": id, "userId": user, "name": name, "timestamp": at })
}

#[tokio::test]
async fn page_views_can_be_left_out_of_strict_funnels_and_paths() {
    let (base, client) = start().await;
    // ann: view 10:00, page Home 10:01, cart 10:02, buy 10:03
    // bob: view 11:00, cart 11:01, page Product 11:02, buy 11:03
    // cat: view 12:00, track search 12:01, cart 12:02
    // Strict view → cart → buy: ann stops at 1 (Home between), bob at 2 (Product between),
    // cat at 1 (search between) → [3, 1, 0]. Page views left out: ann 3, bob 3, cat still 1
    // (search is not a page view) → [3, 2, 2].
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("a1", ("userId", "ann"), "view", "2026-11-01T10:00:00Z"),
            page("a2", "ann", "Home", "2026-11-01T10:01:00Z"),
            track("a3", ("userId", "ann"), "cart", "2026-11-01T10:02:00Z"),
            track("a4", ("userId", "ann"), "buy", "2026-11-01T10:03:00Z"),
            track("b1", ("userId", "bob"), "view", "2026-11-01T11:00:00Z"),
            track("b2", ("userId", "bob"), "cart", "2026-11-01T11:01:00Z"),
            page("b3", "bob", "Product", "2026-11-01T11:02:00Z"),
            track("b4", ("userId", "bob"), "buy", "2026-11-01T11:03:00Z"),
            track("c1", ("userId", "cat"), "view", "2026-11-01T12:00:00Z"),
            track("c2", ("userId", "cat"), "search", "2026-11-01T12:01:00Z"),
            track("c3", ("userId", "cat"), "cart", "2026-11-01T12:02:00Z"),
        ]}),
    )
    .await;
    let range = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z";
    let funnel =
        |extra: &str| format!("{base}/api/v1/funnel?steps=view,cart,buy&window=3600&{range}&mode=strict{extra}");
    assert_eq!(step_counts(&get_json(&client, funnel("")).await), vec![3, 1, 0]);
    assert_eq!(step_counts(&get_json(&client, funnel("&skip_page_views=true")).await), vec![3, 2, 2]);
    // A step that is a page view still counts when page views are left out.
    let home =
        format!("{base}/api/v1/funnel?steps=view,Home,cart&window=3600&{range}&mode=strict&skip_page_views=true");
    assert_eq!(step_counts(&get_json(&client, home).await), vec![3, 1, 1]);

    // Paths after view, 3 levels. With page views: level 1 is Home, cart, search (1 each).
    // Without: ann view → cart → buy, bob view → cart → buy, cat view → search → cart.
    let level = |result: &Value, k: u64| -> Vec<(String, u64)> {
        result["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["level"] == k)
            .map(|n| (n["event"].as_str().unwrap().to_string(), n["customers"].as_u64().unwrap()))
            .collect()
    };
    let named = |pairs: &[(&str, u64)]| pairs.iter().map(|(e, c)| (e.to_string(), *c)).collect::<Vec<_>>();
    let paths = |extra: &str| format!("{base}/api/v1/paths?start=view&depth=3&top=5&{range}{extra}");
    let with_pages = get_json(&client, paths("")).await;
    assert_eq!(level(&with_pages, 1), named(&[("Home", 1), ("cart", 1), ("search", 1)]));
    let without = get_json(&client, paths("&skip_page_views=true")).await;
    assert_eq!(level(&without, 1), named(&[("cart", 2), ("search", 1)]));
    assert_eq!(level(&without, 2), named(&[("buy", 2), ("cart", 1)]));

    // Who is at a node: cart at level 1 is ann and bob.
    let at = |query: &str| {
        format!("{base}/api/v1/paths/customers?start=view&depth=3&top=5&{range}&skip_page_views=true&{query}")
    };
    let page = get_json(&client, at("level=1&node=cart")).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["customers"], json!(["ann", "bob"]));
    let second = get_json(&client, at("level=1&node=cart&limit=1&offset=1")).await;
    assert_eq!((second["total"].as_u64(), second["customers"].clone()), (Some(2), json!(["bob"])));
    let response = client.get(at("level=1")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("level=1&node="));
    let response = client.get(at("level=9&node=cart")).send().await.unwrap();
    assert_eq!(response.status(), 400, "deeper than the paths asked for");
}

#[tokio::test]
async fn those_still_inside_their_window_are_told_apart_from_those_who_dropped() {
    let (base, client) = start().await;
    // Window 1 h. old: view 3 h ago (window over). new: view 10 min ago (window open).
    // both stopped at step 1; the one whose window is over comes first.
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("o1", ("userId", "old"), "view", &ago(180)),
            track("n1", ("userId", "new"), "view", &ago(10)),
        ]}),
    )
    .await;
    let url = format!("{base}/api/v1/funnel/dropped?steps=view,cart&step=1&window=3600");
    let dropped = get_json(&client, url).await;
    assert_eq!((dropped["total"].as_u64(), dropped["still_in_window"].as_u64()), (Some(2), Some(1)), "{dropped}");
    let listed: Vec<(&str, bool)> = dropped["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["customer_id"].as_str().unwrap(), c["still_in_window"].as_bool().unwrap()))
        .collect();
    assert_eq!(listed, vec![("old", false), ("new", true)]);
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

async fn post_batch(base: &str, client: &reqwest::Client, batch: Value) {
    let response =
        client.post(format!("{base}/v1/batch")).basic_auth(DEMO_WRITE_KEY, Some("")).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339()
}

#[tokio::test]
async fn active_sessions_are_counted_by_their_current_stage() {
    let (base, client) = start().await;
    // ann: product_viewed 12 min ago, added_to_cart 10 min ago  → Conversion for 10 min
    // bob: checkout_started 4 min ago                           → Conversion for 4 min
    // cat: added_to_cart 3 h ago, product_viewed 1 min ago      → Engagement for 1 min (new session)
    // dan: Home 45 min ago                                      → not active in the last 30 min
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("a1", ("userId", "ann"), "product_viewed", &ago(12)),
            track("a2", ("userId", "ann"), "added_to_cart", &ago(10)),
            track("b1", ("userId", "bob"), "checkout_started", &ago(4)),
            track("c1", ("userId", "cat"), "added_to_cart", &ago(180)),
            track("c2", ("userId", "cat"), "product_viewed", &ago(1)),
            track("d1", ("userId", "dan"), "Home", &ago(45)),
        ]}),
    )
    .await;
    let stages: Value = get_json(&client, format!("{base}/api/v1/stages/active")).await;
    let counts: Vec<(&str, u64)> = stages
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["active_sessions"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        vec![("Discovery", 0), ("Engagement", 1), ("Conversion", 2), ("Post-purchase", 0), ("Retention", 0)]
    );
    // Median of 10 and 4 minutes is 7 minutes (give or take the seconds the test takes).
    let median = stages[2]["median_seconds_in_stage"].as_f64().unwrap();
    assert!((420.0..430.0).contains(&median), "{median}");

    let wider: Value = get_json(&client, format!("{base}/api/v1/stages/active?minutes=60")).await;
    assert_eq!(wider[0]["active_sessions"], 1, "dan counts within the hour");
}

/// A track call with a Segment `context`.
fn track_from(id: &str, user: &str, event: &str, at: &str, context: Value) -> Value {
    let mut m = track(id, ("userId", user), event, at);
    m["context"] = context;
    m
}

#[tokio::test]
async fn the_channel_filter_counts_customers_by_their_first_touch() {
    let (base, client) = start().await;
    let shop = |path: &str| format!("https://shop.example.com{path}");
    // ann: Home from the newsletter (utm email) 20 min ago, viewed 15, carted 10 → email, Conversion
    // bob: Home from a Google result 25 min ago, viewed 5                    → organic search, Engagement
    // cat: Home with nothing 9 min ago, viewed from a cpc ad 7 min ago        → paid search (first
    //      event that names a source), Engagement
    // dan: viewed 6, carted 2, no context                                      → direct, Conversion
    // eve: Home "referred" by the shop's own cart page 4 min ago, viewed 1    → direct, Engagement
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track_from("a1", "ann", "Home", &ago(20), json!({ "campaign": { "source": "newsletter", "medium": "email" } })),
            track("a2", ("userId", "ann"), "product_viewed", &ago(15)),
            track("a3", ("userId", "ann"), "added_to_cart", &ago(10)),
            track_from("b1", "bob", "Home", &ago(25), json!({ "page": { "referrer": "https://www.google.com/", "url": shop("/") } })),
            track("b2", ("userId", "bob"), "product_viewed", &ago(5)),
            track("c1", ("userId", "cat"), "Home", &ago(9)),
            track_from("c2", "cat", "product_viewed", &ago(7), json!({ "campaign": { "source": "google", "medium": "cpc" } })),
            track("d1", ("userId", "dan"), "product_viewed", &ago(6)),
            track("d2", ("userId", "dan"), "added_to_cart", &ago(2)),
            track_from("e1", "eve", "Home", &ago(4), json!({ "page": { "referrer": shop("/cart"), "url": shop("/") } })),
            track("e2", ("userId", "eve"), "product_viewed", &ago(1)),
        ]}),
    )
    .await;
    let active = |channel: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let stages = get_json(&client, format!("{base}/api/v1/stages/active?channel={channel}")).await;
            stages.as_array().unwrap().iter().map(|s| s["active_sessions"].as_u64().unwrap()).collect::<Vec<u64>>()
        }
    };
    // Discovery, Engagement, Conversion, Post-purchase, Retention.
    assert_eq!(active("").await, vec![0, 3, 2, 0, 0], "every channel");
    assert_eq!(active("email").await, vec![0, 0, 1, 0, 0]);
    assert_eq!(active("direct").await, vec![0, 1, 1, 0, 0]);
    assert_eq!(active("paid%20search").await, vec![0, 1, 0, 0, 0]);
    assert_eq!(active("organic%20search").await, vec![0, 1, 0, 0, 0]);
    assert_eq!(active("display").await, vec![0, 0, 0, 0, 0], "nobody came through display");

    let from = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339().replace('+', "%2B");
    let funnel = |channel: &'static str| {
        let (client, base, from) = (client.clone(), base.clone(), from.clone());
        async move {
            let url = format!(
                "{base}/api/v1/funnel?steps=product_viewed,added_to_cart&window=3600&from={from}&channel={channel}"
            );
            step_counts(&get_json(&client, url).await)
        }
    };
    assert_eq!(funnel("").await, vec![5, 2]);
    assert_eq!(funnel("direct").await, vec![2, 1], "dan and eve; dan carted");
    assert_eq!(funnel("email").await, vec![1, 1]);
    assert_eq!(funnel("paid%20search").await, vec![1, 0]);

    // Split by channel (`$channel`): each customer in the group of their first touch.
    let url =
        format!("{base}/api/v1/funnel?steps=product_viewed,added_to_cart&window=3600&from={from}&breakdown=%24channel");
    let split = get_json(&client, url).await;
    let mut groups: Vec<(String, Vec<u64>)> = split["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["value"].as_str().unwrap().to_string(), step_counts(g)))
        .collect();
    groups.sort();
    let expected: Vec<(String, Vec<u64>)> = vec![
        ("direct".into(), vec![2, 1]),
        ("email".into(), vec![1, 1]),
        ("organic search".into(), vec![1, 0]),
        ("paid search".into(), vec![1, 0]),
    ];
    assert_eq!(groups, expected, "{split}");
}

#[tokio::test]
async fn a_customer_timeline_spans_identities_and_sessions() {
    let (base, client) = start().await;
    post_batch(&base, &client, json!({ "batch": [
        track("t1", ("anonymousId", "phone-1"), "Home", "2026-11-01T09:00:00Z"),
        track("t2", ("anonymousId", "phone-1"), "product_viewed", "2026-11-01T09:05:00Z"),
        { "type": "identify", "messageId": "t3", "anonymousId": "phone-1", "userId": "u-7", "traits": { "plan": "pro" }, "timestamp": "2026-11-01T09:06:00Z" },
        track("t4", ("userId", "u-7"), "purchase_completed", "2026-11-01T11:00:00Z"),
    ]}))
    .await;
    for id in ["phone-1", "u-7"] {
        let timeline: Value = get_json(&client, format!("{base}/api/v1/customers/{id}/timeline")).await;
        assert_eq!(timeline["customer_id"], "u-7");
        assert_eq!(timeline["identities"], json!(["phone-1", "u-7"]));
        let sessions = timeline["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 2, "two hours apart: two sessions");
        let first: Vec<(&str, Value)> = sessions[0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["stage"].clone()))
            .collect();
        assert_eq!(
            first,
            vec![("track", json!("Discovery")), ("track", json!("Engagement")), ("identify", Value::Null)]
        );
        assert_eq!(sessions[0]["events"][2]["properties"], json!({ "plan": "pro" }));
        assert_eq!(sessions[1]["events"][0]["stage"], "Conversion");
    }
    let nobody: Value = get_json(&client, format!("{base}/api/v1/customers/nobody/timeline")).await;
    assert_eq!(nobody["sessions"], json!([]));
}

#[tokio::test]
async fn a_stage_with_property_conditions_claims_matching_events_everywhere() {
    let (base, client) = start().await;
    // The default journey, with pricing-page views of "Home" counted as Conversion.
    let mut journey: Value = get_json(&client, format!("{base}/api/v1/journeys/default")).await;
    journey["stages"][2]["events"].as_array_mut().unwrap().push(json!("Home[section=pricing]"));
    let saved = client.put(format!("{base}/api/v1/journeys/pricing")).json(&journey).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    // eve: Home on the pricing section 2 min ago → Conversion; fay: plain Home → Discovery.
    let page = |id: &str, user: &str, section: Option<&str>| {
        json!({ "type": "page", "messageId": id, "userId": user, "name": "Home",
                "properties": section.map(|s| json!({ "section": s })).unwrap_or(json!({})), "timestamp": ago(2) })
    };
    post_batch(&base, &client, json!({ "batch": [page("e1", "eve", Some("pricing")), page("f1", "fay", None)] })).await;
    let active = |journey: &'static str| {
        let (base, client) = (base.clone(), client.clone());
        async move {
            let stages: Value = get_json(&client, format!("{base}/api/v1/stages/active?journey={journey}")).await;
            stages.as_array().unwrap().iter().map(|s| s["active_sessions"].as_u64().unwrap()).collect::<Vec<u64>>()
        }
    };
    assert_eq!(active("pricing").await, vec![1, 0, 1, 0, 0]);
    assert_eq!(active("default").await, vec![2, 0, 0, 0, 0], "the default journey has no condition");
    let timeline: Value = get_json(&client, format!("{base}/api/v1/customers/eve/timeline?journey=pricing")).await;
    assert_eq!(timeline["sessions"][0]["events"][0]["stage"], "Conversion");
    // A condition that does not parse is refused with the fix.
    journey["stages"][2]["events"].as_array_mut().unwrap().push(json!("Home[section"));
    let refused = client.put(format!("{base}/api/v1/journeys/broken")).json(&journey).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("without closing"));
}

#[tokio::test]
async fn a_configured_session_gap_decides_where_sessions_and_paths_end() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = OpenOptions {
        session_gap: chrono::Duration::minutes(60),
        ..OpenOptions::new(leptos_options(Path::new("target/site"), addr))
    };
    let wayline = Wayline::open_with(Database::InMemory, options).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (base, client) = (format!("http://{addr}"), common::admin_client(&wayline).await);
    // 45 minutes between the view and the cart: one session with a 60-minute gap (two with
    // the default 30).
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("h1", ("userId", "hal"), "product_viewed", "2026-11-01T10:00:00Z"),
            track("h2", ("userId", "hal"), "added_to_cart", "2026-11-01T10:45:00Z"),
        ]}),
    )
    .await;
    let timeline: Value = get_json(&client, format!("{base}/api/v1/customers/hal/timeline")).await;
    assert_eq!(timeline["sessions"].as_array().unwrap().len(), 1);
    let paths: Value = get_json(
        &client,
        format!("{base}/api/v1/paths?start=product_viewed&depth=2&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"),
    )
    .await;
    assert_eq!(paths["links"][0]["to"], "added_to_cart", "{paths}");
}

#[tokio::test]
async fn journeys_can_be_exported_changed_and_imported() {
    let (base, client) = start().await;
    let mut journey: Value = get_json(&client, format!("{base}/api/v1/journeys/default")).await;
    assert_eq!(journey["stages"].as_array().unwrap().len(), 5);
    journey["stages"][0]["events"].as_array_mut().unwrap().push(json!("webinar_attended"));
    let saved = client.put(format!("{base}/api/v1/journeys/webinars")).json(&journey).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    let list: Value = get_json(&client, format!("{base}/api/v1/journeys")).await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["default", "webinars"]);

    journey["expected_path"].as_array_mut().unwrap().push(json!(["Discovery", "Nowhere"]));
    let refused = client.put(format!("{base}/api/v1/journeys/broken")).json(&journey).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("Nowhere"));
    assert_eq!(client.get(format!("{base}/api/v1/journeys/none")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn dropped_customers_paths_and_journey_dropoffs_match_the_fixture() {
    let (base, client) = start().await;
    // ann: view → cart → search → (leaves)          dropped after cart, next: search
    // bob: view → cart → buy                         converted
    // cat: view → help                               dropped after view, next: help
    // dan: view → cart                               dropped after cart, next: nothing
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("a1", ("userId", "ann"), "product_viewed", "2026-11-01T10:00:00Z"),
            track("a2", ("userId", "ann"), "added_to_cart", "2026-11-01T10:01:00Z"),
            track("a3", ("userId", "ann"), "products_searched", "2026-11-01T10:03:00Z"),
            track("b1", ("userId", "bob"), "product_viewed", "2026-11-01T11:00:00Z"),
            track("b2", ("userId", "bob"), "added_to_cart", "2026-11-01T11:02:00Z"),
            track("b3", ("userId", "bob"), "purchase_completed", "2026-11-01T11:05:00Z"),
            track("c1", ("userId", "cat"), "product_viewed", "2026-11-01T12:00:00Z"),
            track("c2", ("userId", "cat"), "support_ticket_created", "2026-11-01T12:10:00Z"),
            track("d1", ("userId", "dan"), "product_viewed", "2026-11-01T13:00:00Z"),
            track("d2", ("userId", "dan"), "added_to_cart", "2026-11-01T13:04:00Z"),
        ]}),
    )
    .await;
    let range = "window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z";
    let dropped: Value = get_json(
        &client,
        format!("{base}/api/v1/funnel/dropped?steps=product_viewed,added_to_cart,purchase_completed&step=2&{range}"),
    )
    .await;
    assert_eq!(dropped["total"], 2, "{dropped}");
    let ids: Vec<&str> =
        dropped["customers"].as_array().unwrap().iter().map(|c| c["customer_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["ann", "dan"]);
    assert_eq!(dropped["still_in_window"], 0, "November's windows are long over");
    assert_eq!(
        dropped["next_events"],
        json!([{ "event": "(nothing)", "customers": 1 }, { "event": "products_searched", "customers": 1 }])
    );

    // Paths after product_viewed, depth 3: level 1 = added_to_cart 3, support_ticket_created 1;
    // level 2 = ended 2 (cat after the ticket, dan after the cart), products_searched 1, purchase_completed 1.
    let paths: Value = get_json(
        &client,
        format!("{base}/api/v1/paths?start=product_viewed&depth=3&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"),
    )
    .await;
    assert_eq!(paths["customers"], 4);
    let level = |k: u64| -> Vec<(String, u64)> {
        paths["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["level"] == k)
            .map(|n| (n["event"].as_str().unwrap().to_string(), n["customers"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(level(1), vec![("added_to_cart".to_string(), 3), ("support_ticket_created".to_string(), 1)]);
    assert_eq!(
        level(2),
        vec![
            ("(path ended)".to_string(), 2),
            ("products_searched".to_string(), 1),
            ("purchase_completed".to_string(), 1)
        ]
    );

    // The default journey, one transition at a time (window 1 h):
    //   Discovery → Engagement: ann searched at 10:03 and viewed nothing after → 1 reached, 1 left.
    //   Engagement → Conversion: all four viewed; ann, bob, dan carted after → 4 reached, cat left
    //     (last seen 10 min after her view).
    //   Conversion → Post-purchase: ann, bob, dan; none reached Post-purchase after → 3 left,
    //     staying 2 min (ann), 3 min (bob), 0 (dan): median 120 s, mean 100 s.
    //   Post-purchase → Retention: cat's ticket → 1 reached, 1 left.
    let dropoffs: Value = get_json(&client, format!("{base}/api/v1/dropoffs?{range}")).await;
    let rows: Vec<(&str, u64, u64)> = dropoffs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["from_stage"].as_str().unwrap(), d["reached"].as_u64().unwrap(), d["left"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, vec![("Discovery", 1, 1), ("Engagement", 4, 1), ("Conversion", 3, 3), ("Post-purchase", 1, 1)]);
    assert_eq!(dropoffs[1]["median_seconds_before_leaving"], 600.0);
    assert_eq!(dropoffs[2]["median_seconds_before_leaving"], 120.0);
    assert_eq!(dropoffs[2]["average_seconds_before_leaving"], 100.0);
    assert_eq!(dropoffs[2]["left_share"], 1.0);
}

fn track_with(id: &str, user: &str, event: &str, at: &str, properties: Value) -> Value {
    json!({ "type": "track", "messageId": id, "userId": user, "event": event, "timestamp": at, "properties": properties })
}

#[tokio::test]
async fn breakdown_exclusions_hold_constant_and_trend_match_the_fixture() {
    let (base, client) = start().await;
    // ann (email):  view A 1 Nov 10:00 → cart A 10:05                  → converts
    // bob (email):  view A 1 Nov 11:00 → cart B 11:05                  → converts; not with hold=sku
    // cat (cpc):    view B 2 Nov 09:00 → support 09:01 → cart B 09:02  → converts; not with exclude=support
    // dan (none):   view C 2 Nov 12:00                                 → enters only
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track_with("a1", "ann", "view", "2026-11-01T10:00:00Z", json!({ "channel": "email", "sku": "A" })),
            track_with("a2", "ann", "cart", "2026-11-01T10:05:00Z", json!({ "sku": "A" })),
            track_with("b1", "bob", "view", "2026-11-01T11:00:00Z", json!({ "channel": "email", "sku": "A" })),
            track_with("b2", "bob", "cart", "2026-11-01T11:05:00Z", json!({ "sku": "B" })),
            track_with("c1", "cat", "view", "2026-11-02T09:00:00Z", json!({ "channel": "cpc", "sku": "B" })),
            track_with("c2", "cat", "support", "2026-11-02T09:01:00Z", json!({})),
            track_with("c3", "cat", "cart", "2026-11-02T09:02:00Z", json!({ "sku": "B" })),
            track_with("d1", "dan", "view", "2026-11-02T12:00:00Z", json!({ "sku": "C" })),
        ]}),
    )
    .await;
    let get = |query: &str| {
        let url = format!("{base}/api/v1/funnel?steps=view,cart&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z&{query}");
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let counts = |result: &Value| -> Vec<u64> {
        result["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect()
    };

    let plain = get("breakdown=channel&top=1").await;
    assert_eq!(counts(&plain), vec![4, 3]);
    let groups: Vec<(&str, u64, u64)> = plain["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap(),
                g["steps"][0]["customers"].as_u64().unwrap(),
                g["steps"][1]["customers"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups, vec![("email", 2, 2), ("(other)", 1, 1), ("(none)", 1, 0)]);
    let trend: Vec<(u64, u64)> = plain["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["entered"].as_u64().unwrap(), p["converted"].as_u64().unwrap()))
        .collect();
    assert_eq!(trend, vec![(2, 2), (2, 1)], "1 Nov: ann, bob; 2 Nov: cat converts, dan not");
    assert_eq!(plain["trend"][1]["period_start"], "2026-11-02T00:00:00Z");
    let weekly = get("trend=week").await;
    // 1 and 2 Nov 2026 are a Sunday and a Monday: two weeks, starting on Mondays.
    assert_eq!(weekly["trend"][0]["period_start"], "2026-10-26T00:00:00Z");
    assert_eq!(weekly["trend"][1]["period_start"], "2026-11-02T00:00:00Z");
    assert_eq!((weekly["trend"][0]["entered"].as_u64(), weekly["trend"][1]["entered"].as_u64()), (Some(2), Some(2)));

    assert_eq!(counts(&get("exclude=support").await), vec![3, 2], "cat is excluded");
    assert_eq!(counts(&get("hold=sku").await), vec![4, 2], "bob changed product");
    let bad = client.get(format!("{base}/api/v1/funnel?steps=a,b&breakdown=a.b'c")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    // Step filters: only carts of product A count (ann's; bob and cat carted B).
    let url = format!(
        "{base}/api/v1/funnel?steps=view,cart%5Bsku%3DA%5D&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z"
    );
    let filtered: Value = get_json(&client, url).await;
    assert_eq!(counts(&filtered), vec![4, 1], "{filtered}");
    assert_eq!(filtered["steps"][1]["event"], "cart[sku=A]");
    let unclosed = client.get(format!("{base}/api/v1/funnel?steps=view,cart%5Bsku%3DA")).send().await.unwrap();
    assert_eq!(unclosed.status(), 400);
    assert!(unclosed.text().await.unwrap().contains("without closing"));

    // Events after the properties were first read count with their values too.
    // eve (cpc): view 2 Nov 13:00 → cart A 13:05. email and cpc now tie at 2 entrants; ties
    // go by name, so cpc is the top value.
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track_with("e1", "eve", "view", "2026-11-02T13:00:00Z", json!({ "channel": "cpc", "sku": "A" })),
            track_with("e2", "eve", "cart", "2026-11-02T13:05:00Z", json!({ "sku": "A" })),
        ]}),
    )
    .await;
    let live = get("breakdown=channel&top=1").await;
    let groups: Vec<(&str, u64, u64)> = live["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap(),
                g["steps"][0]["customers"].as_u64().unwrap(),
                g["steps"][1]["customers"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(groups, vec![("cpc", 2, 2), ("(other)", 2, 2), ("(none)", 1, 0)]);
    let url = format!(
        "{base}/api/v1/funnel?steps=view,cart%5Bsku%3DA%5D&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z"
    );
    assert_eq!(counts(&get_json(&client, url).await), vec![5, 2], "ann's and eve's carts of A");
}

/// A server on a database file, with the handle that stops it.
async fn start_on(db: &Path) -> (String, reqwest::Client, Wayline, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wayline =
        Wayline::open(Database::File(db), leptos_options(Path::new("target/site"), addr), vec![]).await.unwrap();
    let router = wayline.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), common::admin_client(&wayline).await, wayline, server)
}

#[tokio::test]
async fn after_a_restart_the_rebuilt_index_gives_the_same_answers_and_keeps_stitching() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wayline.duckdb");
    // fay browses anonymously, then identifies; before the restart she viewed and carted.
    let (base, client, wayline, server) = start_on(&db).await;
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            track("f1", ("anonymousId", "anon-fay"), "view", "2026-11-01T10:00:00Z"),
            { "type": "identify", "messageId": "f2", "anonymousId": "anon-fay", "userId": "fay", "timestamp": "2026-11-01T10:01:00Z" },
            track("f3", ("userId", "fay"), "cart", "2026-11-01T10:02:00Z"),
            track("g1", ("anonymousId", "anon-gus"), "view", "2026-11-01T11:00:00Z"),
        ]}),
    )
    .await;
    let funnel = |base: String, client: reqwest::Client| async move {
        let url = format!(
            "{base}/api/v1/funnel?steps=view,cart,buy&window=3600&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
        );
        step_counts(&get_json(&client, url).await)
    };
    assert_eq!(funnel(base.clone(), client.clone()).await, vec![2, 1, 0]);
    server.abort();
    wayline.close().await;
    drop(wayline);

    let (base, client, wayline, server) = start_on(&db).await;
    assert_eq!(funnel(base.clone(), client.clone()).await, vec![2, 1, 0], "the same after the restart");
    // An anonymous event of fay's after the restart still counts as hers: she buys.
    post_batch(
        &base,
        &client,
        json!({ "batch": [track("f4", ("anonymousId", "anon-fay"), "buy", "2026-11-01T10:03:00Z")] }),
    )
    .await;
    assert_eq!(funnel(base.clone(), client.clone()).await, vec![2, 1, 1]);
    server.abort();
    wayline.close().await;
}

/// A server whose clock stands still at `now`.
async fn start_at(now: &str) -> (String, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clock = server::clock::Clock::manual(now.parse().unwrap());
    let options = OpenOptions { clock, ..OpenOptions::new(leptos_options(Path::new("target/site"), addr)) };
    let wayline = Wayline::open_with(Database::InMemory, options).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), common::admin_client(&wayline).await)
}

#[tokio::test]
async fn the_retention_grid_matches_the_hand_computed_fixture() {
    // Asked on Thursday 2026-11-19 at noon, weekly cohorts from Monday 2026-11-02 (weeks start
    // on Monday, UTC), two weeks followed.
    // ann (email): signs up Tue 11-03, buys in week +1 (11-10) → cohort 11-02, back in week 1.
    // bob (direct): signs up Sun 11-08 23:00, buys Mon 11-09 01:00 (week +1, two hours later)
    //      and again in week +2 (11-18, still running) → cohort 11-02, back in weeks 1 and 2.
    // cat (direct): signs up 11-04, views on 11-12 but buys nothing → cohort 11-02, never back.
    // dan (email): signs up 11-11, buys 11-17 (week +1, still running) → cohort 11-09.
    // eve: buys on 11-05 without signing up → no cohort when the start is sign-up.
    // Plans on the sign-up: ann and dan pro, bob free, cat none. Only the starting event's
    // plan counts: cat viewed a trial page before signing up (same week), bob's first
    // purchase was on the pro plan.
    let email = json!({ "campaign": { "source": "newsletter", "medium": "email" } });
    let on_plan = |mut event: Value, plan: &str| {
        event["properties"]["plan"] = json!(plan);
        event
    };
    let (base, client) = start_at("2026-11-19T12:00:00Z").await;
    post_batch(
        &base,
        &client,
        json!({ "batch": [
            on_plan(track_from("a1", "ann", "signed_up", "2026-11-03T10:00:00Z", email.clone()), "pro"),
            track("a2", ("userId", "ann"), "purchase", "2026-11-10T10:00:00Z"),
            on_plan(track("b1", ("userId", "bob"), "signed_up", "2026-11-08T23:00:00Z"), "free"),
            on_plan(track("b2", ("userId", "bob"), "purchase", "2026-11-09T01:00:00Z"), "pro"),
            track("b3", ("userId", "bob"), "purchase", "2026-11-18T01:00:00Z"),
            on_plan(track("c0", ("userId", "cat"), "product_viewed", "2026-11-03T09:00:00Z"), "trial"),
            track("c1", ("userId", "cat"), "signed_up", "2026-11-04T10:00:00Z"),
            track("c2", ("userId", "cat"), "product_viewed", "2026-11-12T10:00:00Z"),
            on_plan(track_from("d1", "dan", "signed_up", "2026-11-11T10:00:00Z", email), "pro"),
            track("d2", ("userId", "dan"), "purchase", "2026-11-17T10:00:00Z"),
            track("e1", ("userId", "eve"), "purchase", "2026-11-05T10:00:00Z"),
        ]}),
    )
    .await;
    let url = format!(
        "{base}/api/v1/retention?start=signed_up&return=purchase&period=week&periods=2\
         &from=2026-11-02T00:00:00Z&to=2026-11-16T00:00:00Z&breakdown=$channel"
    );
    let result = get_json(&client, url.clone()).await;
    let cohorts = result["cohorts"].as_array().unwrap_or_else(|| panic!("{result}"));
    // Per cohort: its start, its customers, and per period (returned, over).
    type Row = (String, u64, Vec<(u64, bool)>);
    let rows: Vec<Row> = cohorts
        .iter()
        .map(|c| {
            let cells = c["periods"].as_array().unwrap();
            let cells = cells.iter().map(|p| (p["returned"].as_u64().unwrap(), p["complete"].as_bool().unwrap()));
            (c["start"].as_str().unwrap().to_string(), c["customers"].as_u64().unwrap(), cells.collect())
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-11-02T00:00:00Z".to_string(), 3, vec![(2, true), (1, false)]),
            ("2026-11-09T00:00:00Z".to_string(), 1, vec![(1, false), (0, false)]),
        ],
        "{result}"
    );
    // Week 1 is over only for the first cohort: 2 of its 3; week 2 is over for none.
    assert_eq!(result["average"]["shares"], json!([2.0 / 3.0, null]));
    assert_eq!(result["average"]["customers"], 4);
    let curves = |result: &Value| -> Vec<(String, u64, Value)> {
        let curves = result["breakdown"].as_array().unwrap_or_else(|| panic!("{result}"));
        curves
            .iter()
            .map(|c| (c["group"].as_str().unwrap().to_string(), c["customers"].as_u64().unwrap(), c["shares"].clone()))
            .collect()
    };
    assert_eq!(result["breakdown_by"], "$channel");
    assert_eq!(
        curves(&result),
        vec![("direct".to_string(), 2, json!([0.5, null])), ("email".to_string(), 2, json!([1.0, null]))],
        "direct: bob back in week 1, cat not; email: ann back (dan's week 1 still running)"
    );
    // By a property of the starting event: the most customers first, no value last.
    let by_plan = get_json(&client, url.replace("breakdown=$channel", "breakdown=plan")).await;
    assert_eq!(by_plan["breakdown_by"], "plan");
    assert_eq!(
        curves(&by_plan),
        vec![
            ("pro".to_string(), 2, json!([1.0, null])),
            ("free".to_string(), 1, json!([1.0, null])),
            ("(none)".to_string(), 1, json!([0.0, null])),
        ],
        "{by_plan}"
    );
    assert_eq!(by_plan["cohorts"], result["cohorts"], "a breakdown leaves the grid as it was");
    // Any event after the first event of any kind: cat's view counts, eve forms a cohort.
    let any = get_json(
        &client,
        format!("{base}/api/v1/retention?period=week&periods=1&from=2026-11-02T00:00:00Z&to=2026-11-09T00:00:00Z"),
    )
    .await;
    assert_eq!(any["cohorts"][0]["customers"], 4, "{any}");
    assert_eq!(any["cohorts"][0]["periods"][0]["returned"], 3, "ann, bob and cat came back in week 1; eve did not");

    let refused = client.get(format!("{base}/api/v1/retention?periods=0")).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("use 1 to 60"));
}
