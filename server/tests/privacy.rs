//! Privacy through the real router on a real socket: personal data masked for viewers in the
//! JSON API, the event stream and the pages (and never run as markup); erasure of a customer
//! with two identities checked with SQL on the file; retention on a manual clock; and what
//! ingestion keeps out of the database (write keys, full addresses) or out of the door
//! (senders over their rate).

use std::{path::Path, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use server::{
    auth::Role,
    clock::Clock,
    ingest::{IngestPolicy, IpPolicy, RateLimits},
    leptos_options,
    sources::DEMO_WRITE_KEY,
    Database, OpenOptions, Wayline,
};

mod common;

async fn start_with(db: Database<'_>, configure: impl FnOnce(&mut OpenOptions)) -> (String, Wayline) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = OpenOptions::new(leptos_options(Path::new("target/site"), addr));
    configure(&mut options);
    let wayline = Wayline::open_with(db, options).await.unwrap();
    let router = wayline.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), wayline)
}

async fn send(base: &str, batch: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/batch"))
        .basic_auth(DEMO_WRITE_KEY, Some(""))
        .json(&batch)
        .send()
        .await
        .unwrap()
}

/// Ada: anonymous first, then identified with her email, then a purchase whose properties
/// carry her email and a comment that looks like markup and a spreadsheet formula.
fn ada(at: &str) -> Value {
    json!({"batch": [
        {"type": "page", "anonymousId": "anon-ada", "name": "Home", "timestamp": at},
        {"type": "identify", "anonymousId": "anon-ada", "userId": "u-ada", "timestamp": at,
         "traits": {"email": "ada@example.com", "plan": "pro"}},
        {"type": "track", "userId": "u-ada", "event": "purchase_completed", "timestamp": at,
         "properties": {"comment": "<script>alert(1)</script> =cmd|' /C calc'!A0", "email": "ada@example.com", "total": 30}},
    ]})
}

#[tokio::test]
async fn viewers_read_personal_data_masked_everywhere_and_analysts_in_full() {
    let (base, wayline) = start_with(Database::InMemory, |_| {}).await;
    let now = Utc::now().to_rfc3339();
    assert_eq!(send(&base, ada(&now)).await.status(), StatusCode::OK);
    let viewer = common::client_with_role(&wayline, Role::Viewer).await;
    let analyst = common::client_with_role(&wayline, Role::Analyst).await;

    // The timeline over the JSON API.
    let timeline = |client: &reqwest::Client| client.get(format!("{base}/api/v1/customers/u-ada/timeline")).send();
    let masked = timeline(&viewer).await.unwrap().text().await.unwrap();
    assert!(!masked.contains("ada@example.com"), "{masked}");
    assert!(masked.contains("a•••@example.com"), "{masked}");
    assert!(
        masked.contains("purchase_completed") && masked.contains("\"total\":30"),
        "only personal fields go: {masked}"
    );
    let full = timeline(&analyst).await.unwrap().text().await.unwrap();
    assert!(full.contains("ada@example.com"), "{full}");

    // A funnel broken down by a personal property of its first step.
    let review = json!({"batch": [{"type": "track", "userId": "u-ada", "event": "review_written", "timestamp": now,
        "properties": {"stars": 5}}]});
    assert_eq!(send(&base, review).await.status(), StatusCode::OK);
    let funnel = |client: &reqwest::Client| {
        client
            .get(format!("{base}/api/v1/funnel?steps=purchase_completed,review_written&breakdown=email&window=86400"))
            .send()
    };
    let masked = funnel(&viewer).await.unwrap().text().await.unwrap();
    assert!(!masked.contains("ada@example.com") && masked.contains("a•••@example.com"), "{masked}");
    let full = funnel(&analyst).await.unwrap().text().await.unwrap();
    assert!(full.contains("\"value\":\"ada@example.com\""), "{full}");

    // A viewer cannot find out whose email is whose by filtering on it.
    let probe =
        format!("{base}/api/v1/funnel/dropped?steps=purchase_completed%5Bemail%3Dada%40example.com%5D,review_written");
    let refused = viewer.get(&probe).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "personal_data", "{body}");
    assert_eq!(analyst.get(&probe).send().await.unwrap().status(), StatusCode::OK, "an analyst may");
    // The page's server function refuses it alike: 403, not a 400 the viewer could fix.
    let path = <app::server_fns::LoadFunnel as leptos::server_fn::ServerFn>::PATH;
    let through_page = viewer
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &base)
        .body("params[steps]=purchase_completed%5Bemail%3Dada%40example.com%5D%2Creview_written")
        .send()
        .await
        .unwrap();
    assert_eq!(through_page.status(), StatusCode::FORBIDDEN);
    assert!(through_page.text().await.unwrap().contains("Forbidden"), "the error says which kind");

    // The live event stream: its first frame holds the newest events.
    let stream_url = format!("{base}/api/v1/stream/events");
    let first_frame = |client: reqwest::Client| {
        let url = stream_url.clone();
        async move {
            let mut response = client.get(url).send().await.unwrap();
            let mut text = String::new();
            while !text.contains("purchase_completed") {
                let chunk =
                    tokio::time::timeout(Duration::from_secs(5), response.chunk()).await.unwrap().unwrap().unwrap();
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
            text
        }
    };
    let masked = first_frame(viewer.clone()).await;
    assert!(!masked.contains("ada@example.com") && masked.contains("a•••@example.com"), "{masked}");
    assert!(first_frame(analyst.clone()).await.contains("ada@example.com"));

    // The customer page, rendered on the server: the comment is text, never markup.
    let page = analyst.get(format!("{base}/customers/u-ada")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the comment is shown, escaped");
    assert!(!page.contains("<script>alert(1)"), "and never as a script");
    let page = viewer.get(format!("{base}/customers/u-ada")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("ada@example.com"), "the viewer's page is masked too");
}

/// Every row of the file naming `id`, table by table (SQL on the file itself).
fn rows_naming(file: &Path, id: &str) -> Vec<(String, i64)> {
    let conn = duckdb::Connection::open(file).unwrap();
    let checks = [
        ("events", "SELECT count(*) FROM events WHERE user_id = $1 OR anonymous_id = $1 OR contains(CAST(traits AS VARCHAR), $1) OR contains(CAST(properties AS VARCHAR), $1)"),
        ("event_properties", "SELECT count(*) FROM event_properties WHERE contains(value, $1)"),
        ("identity_links", "SELECT count(*) FROM identity_links WHERE user_id = $1 OR anonymous_id = $1"),
        ("dead_letters", "SELECT count(*) FROM dead_letters WHERE contains(payload, $1)"),
        ("alerts", "SELECT count(*) FROM alerts WHERE customer_id = $1 OR contains(CAST(triggering AS VARCHAR), $1)"),
        ("audit_log", "SELECT count(*) FROM audit_log WHERE contains(action, $1)"),
    ];
    checks
        .iter()
        .map(|(table, sql)| (table.to_string(), conn.query_row(sql, [id], |row| row.get(0)).unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn erasing_a_customer_with_two_identities_leaves_no_row_naming_them_and_figures_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wayline.duckdb");
    let (base, wayline) = start_with(Database::File(&file), |_| {}).await;
    let now = Utc::now().to_rfc3339();
    send(&base, ada(&now)).await;
    // Bob walks the same way and stays.
    let bob = ada(&now).to_string().replace("anon-ada", "anon-bob").replace("u-ada", "u-bob").replace("ada@", "bob@");
    send(&base, serde_json::from_str(&bob).unwrap()).await;
    // Zed signs in later on Ada's laptop: his event carries her anonymous id but is his.
    let zed = json!({"batch": [{"type": "track", "anonymousId": "anon-ada", "userId": "u-zed", "event": "Home", "timestamp": now}]});
    send(&base, zed).await;
    // A refused message that names Ada (no event name) is kept as a dead letter until erased.
    let refused = send(&base, json!({"batch": [{"type": "track", "userId": "u-ada"}]})).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let admin = common::admin_client(&wayline).await;
    let analyst = common::client_with_role(&wayline, Role::Analyst).await;
    let funnel = || async {
        let answer: Value = admin
            .get(format!("{base}/api/v1/funnel?steps=Home,purchase_completed&window=86400"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["steps"].as_array().unwrap().iter().map(|s| s["customers"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(funnel().await, vec![3, 2], "Ada, Bob and Zed came home; Ada and Bob bought");

    let erase = |client: &reqwest::Client, id: &str| client.delete(format!("{base}/api/v1/customers/{id}")).send();
    assert_eq!(erase(&analyst, "u-ada").await.unwrap().status(), StatusCode::FORBIDDEN, "erasure is for admins");
    // Asked for by her anonymous id: both of her identities go.
    let answer = erase(&admin, "anon-ada").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["erased"], json!(["anon-ada", "u-ada"]));
    assert_eq!(answer["rows"]["dead_letters"], 1);

    assert_eq!(funnel().await, vec![2, 1], "every figure is as if she never came");
    let zed: Value =
        admin.get(format!("{base}/api/v1/customers/u-zed/timeline")).send().await.unwrap().json().await.unwrap();
    assert!(zed.to_string().contains("Home"), "Zed's own event on the shared laptop stays: {zed}");
    let timeline: Value =
        admin.get(format!("{base}/api/v1/customers/u-ada/timeline")).send().await.unwrap().json().await.unwrap();
    assert!(!timeline.to_string().contains("purchase_completed"), "{timeline}");
    assert_eq!(erase(&admin, "u-ada").await.unwrap().status(), StatusCode::NOT_FOUND, "nothing is left to erase");
    let audit: Value = admin.get(format!("{base}/api/v1/audit")).send().await.unwrap().json().await.unwrap();
    assert!(audit.to_string().contains("DELETE /api/v1/customers/(a customer)"), "{audit}");

    // Let the audit writes land, then read the file itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wayline.close().await;
    drop(wayline);
    for id in ["u-ada", "anon-ada", "ada@example.com"] {
        assert_eq!(rows_naming(&file, id), vec![], "rows still naming {id}");
    }
    assert!(!rows_naming(&file, "u-bob").is_empty(), "Bob is still there");
}

#[tokio::test]
async fn retention_deletes_what_is_older_and_the_index_forgets_it() {
    let start: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
    let clock = Clock::manual(start);
    let (base, wayline) = start_with(Database::InMemory, |o| o.clock = clock.clone()).await;
    let old = (start - chrono::Duration::days(40)).to_rfc3339();
    let recent = (start - chrono::Duration::days(2)).to_rfc3339();
    send(&base, ada(&old)).await;
    let bob = ada(&recent).to_string().replace("anon-ada", "anon-bob").replace("u-ada", "u-bob");
    send(&base, serde_json::from_str(&bob).unwrap()).await;
    let state = &wayline.state;
    let swept = server::retention::sweep(&state.store, &state.index, &clock, 30).await.unwrap();
    assert_eq!(swept.cutoff, start - chrono::Duration::days(30));
    assert_eq!(swept.rows.iter().find(|(t, _)| *t == "events").unwrap().1, 3, "Ada's three events were older");
    let property_rows = swept.rows.iter().find(|(t, _)| *t == "event_properties").unwrap().1;
    assert_eq!(property_rows, 3, "her purchase's comment, email and total");
    let events = state.index.read(|data| data.events_len()).await.unwrap();
    assert_eq!(events, 3, "the index kept only Bob's");
    let admin = common::admin_client(&wayline).await;
    let answer: Value = admin
        .get(format!(
            "{base}/api/v1/funnel?steps=Home,purchase_completed&window=86400&from={}",
            (start - chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["steps"][0]["customers"], 1, "{answer}");
}

#[tokio::test]
async fn ingestion_keeps_no_write_key_and_no_full_address_and_slows_down_a_flood() {
    let (base, wayline) = start_with(Database::InMemory, |o| {
        o.ingest = IngestPolicy {
            rates: RateLimits { per_source: 1_000, per_address: 2 },
            ip: IpPolicy::Truncated,
            ..IngestPolicy::default()
        };
    })
    .await;
    let client = reqwest::Client::new();
    // The key in the body of a refused message is not kept with its dead letter.
    let refused = client
        .post(format!("{base}/v1/track"))
        .json(&json!({"writeKey": DEMO_WRITE_KEY, "userId": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let letters = wayline.state.store.recent_dead_letters(5).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(!letters[0].letter.payload.contains(DEMO_WRITE_KEY), "{}", letters[0].letter.payload);
    assert!(letters[0].letter.payload.contains("\"writeKey\":\"[removed]\""), "{}", letters[0].letter.payload);

    // The sender's address is kept to its /24.
    let stored = client
        .post(format!("{base}/v1/track"))
        .basic_auth(DEMO_WRITE_KEY, Some(""))
        .json(&json!({"userId": "u1", "event": "opened", "context": {"ip": "203.0.113.77"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let newest = wayline.state.store.recent_events(1).await.unwrap();
    assert_eq!(newest[0].event.context.as_ref().unwrap().to_value()["ip"], "203.0.113.0");

    // The third request within a second from one address is told to wait.
    let flooded = client
        .post(format!("{base}/v1/track"))
        .basic_auth(DEMO_WRITE_KEY, Some(""))
        .json(&json!({"userId": "u1", "event": "opened"}))
        .send()
        .await
        .unwrap();
    assert_eq!(flooded.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(flooded.headers()[header::RETRY_AFTER].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body: Value = flooded.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn a_dead_letter_of_a_revoked_source_cannot_be_replayed() {
    let (base, wayline) = start_with(Database::InMemory, |_| {}).await;
    let (source, key) = wayline.state.sources.create("Web shop").await.unwrap();
    let refused = reqwest::Client::new()
        .post(format!("{base}/v1/track"))
        .basic_auth(&key, Some(""))
        .json(&json!({"userId": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let id = wayline.state.store.recent_dead_letters(1).await.unwrap()[0].id;
    assert!(wayline.state.sources.revoke(&source.id).await.unwrap());
    let admin = common::admin_client(&wayline).await;
    let replay = admin
        .post(format!("{base}/api/v1/dead-letters/{id}/replay"))
        .json(&json!({"userId": "u1", "event": "opened"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let body: Value = replay.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("no longer accepted"), "{body}");
}
