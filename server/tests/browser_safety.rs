//! What protects a browser and the network around Wayline, through the real router on a real
//! socket: the security headers and the page's script nonce, refusal of foreign host names
//! (DNS rebinding), and webhooks that may not point inside the network.

use std::path::Path;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use server::{auth::Role, leptos_options, Database, OpenOptions, Wayline};

mod common;

async fn start() -> (String, Wayline) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let wayline =
        Wayline::open_with(Database::InMemory, OpenOptions::new(leptos_options(Path::new("target/site"), addr)))
            .await
            .unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), wayline)
}

#[tokio::test]
async fn pages_carry_a_nonce_policy_that_their_own_scripts_match_and_every_answer_the_safety_headers() {
    let (base, wayline) = start().await;
    let client = common::admin_client(&wayline).await;
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert_eq!(page.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(page.headers()[header::REFERRER_POLICY], "strict-origin-when-cross-origin");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).unwrap().to_string();
    assert!(nonce.len() >= 16, "{policy}");
    let html = page.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "the page hydrates with scripts");
    assert_eq!(
        html.split("<script")
            .skip(1)
            .filter(|tag| tag.split('>').next().unwrap().contains(&format!("nonce=\"{nonce}\"")))
            .count(),
        scripts,
        "every inline script carries this request's nonce"
    );
    // A second request gets another nonce.
    let again = client.get(format!("{base}/")).send().await.unwrap();
    let second = again.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert!(!second.contains(&nonce));

    let json = client.get(format!("{base}/api/v1/rules")).send().await.unwrap();
    assert_eq!(json.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let policy = json.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
}

#[tokio::test]
async fn a_request_for_a_foreign_host_name_is_refused_but_ingestion_and_health_answer() {
    let (base, wayline) = start().await;
    let client = common::admin_client(&wayline).await;
    // What a DNS-rebinding page sends: our address, its own name.
    let rebound =
        client.get(format!("{base}/api/v1/rules")).header(header::HOST, "attacker.example").send().await.unwrap();
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: Value = rebound.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_host");
    assert!(body["error"]["message"].as_str().unwrap().contains("--public-host"), "{body}");
    let page = client.get(format!("{base}/")).header(header::HOST, "attacker.example").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::MISDIRECTED_REQUEST);

    let local = client.get(format!("{base}/api/v1/rules")).header(header::HOST, "localhost").send().await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    let health = client.get(format!("{base}/healthz")).header(header::HOST, "10.0.0.7").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn webhooks_may_not_point_inside_the_network() {
    let (base, wayline) = start().await;
    let client = common::client_with_role(&wayline, Role::Analyst).await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://[::1]/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9000/hook",
    ] {
        let put =
            client.put(format!("{base}/api/v1/webhooks/inside")).json(&json!({ "url": url })).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body: Value = put.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("--allow-private-webhooks"), "{url}: {message}");
    }
    let listed: Vec<Value> = client.get(format!("{base}/api/v1/webhooks")).send().await.unwrap().json().await.unwrap();
    assert!(listed.is_empty(), "nothing refused was kept: {listed:?}");
}
