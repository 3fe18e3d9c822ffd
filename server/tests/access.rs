//! Who may reach what, through the real router on a real socket: every route refuses an
//! anonymous caller and every role below its level; signing in and out, the one-time setup,
//! cross-site writes, throttled guessing and the demo key without `--demo`.

use std::path::Path;

use reqwest::{header, redirect::Policy, Method, StatusCode};
use serde_json::{json, Value};
use server::{
    auth::Role,
    http::guard::{Access, RouteAccess},
    leptos_options,
    sources::DEMO_WRITE_KEY,
    Database, OpenOptions, Wayline,
};

struct Server {
    base: String,
    wayline: Wayline,
    /// Follows no redirects and keeps no cookies: each test sees exactly what was answered.
    plain: reqwest::Client,
}

async fn start(demo_key: bool) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = OpenOptions { demo_key, ..OpenOptions::new(leptos_options(Path::new("target/site"), addr)) };
    let wayline = Wayline::open_with(Database::InMemory, options).await.unwrap();
    let router = wayline.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let plain = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    Server { base: format!("http://{addr}"), wayline, plain }
}

/// A route's path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| if part.starts_with('{') || part.starts_with(':') { "1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(client: &reqwest::Client, base: &str, route: &RouteAccess) -> reqwest::Response {
    let url = format!("{base}{}", concrete(&route.path));
    let request = client.request(route.method.clone(), url);
    let request = if route.method == Method::GET {
        request
    } else if route.path.starts_with("/api/v1/") {
        request.json(&json!({}))
    } else {
        request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body("")
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_route_refuses_anonymous_callers_and_the_roles_below_its_own() {
    let server = start(false).await;
    // Someone exists, so pages send strangers to sign in rather than to setup.
    server.wayline.state.accounts.add_user("ada@example.com", Role::Admin).await.unwrap();
    let no_redirects = |client: reqwest::ClientBuilder| client.redirect(Policy::none());
    let mut clients = Vec::new();
    for role in Role::ALL {
        let (_, secret) = server.wayline.state.accounts.add_token(&format!("{role} tests"), role).await.unwrap();
        let mut headers = header::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Bearer {secret}").parse().unwrap());
        clients.push((role, no_redirects(reqwest::Client::builder()).default_headers(headers).build().unwrap()));
    }
    let table = server::http::route_table(&server.wayline.state);
    assert!(table.len() > 50, "the table lists the API, the server functions and the pages: {}", table.len());
    let mut checked = 0;
    for route in &table {
        let Access::AtLeast(needed) = route.access else { continue };
        let anonymous = call(&server.plain, &server.base, route).await;
        // The JSON API and the scrape answer 401; pages send the browser to sign in.
        if route.path.starts_with("/api/") || route.path == "/metrics" {
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{} {} anonymous", route.method, route.path);
            let body: Value = anonymous.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated", "{} {}", route.method, route.path);
        } else {
            assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{} {} anonymous", route.method, route.path);
            let location = anonymous.headers()[header::LOCATION].to_str().unwrap().to_string();
            assert!(location.starts_with("/login?next="), "{} → {location}", route.path);
        }
        for (role, client) in &clients {
            let answer = call(client, &server.base, route).await;
            let status = answer.status();
            if role.includes(needed) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{} {} as {role}: {status} {}",
                    route.method,
                    route.path,
                    answer.text().await.unwrap_or_default()
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{} {} as {role}", route.method, route.path);
                let body: Value = answer.json().await.unwrap();
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(&format!("needs the {needed} role")), "{message}");
            }
        }
        checked += 1;
    }
    assert!(checked > 40, "{checked}");
}

#[tokio::test]
async fn every_server_function_has_a_role_and_the_admin_only_actions_are_admin_only() {
    let server = start(false).await;
    let listed: std::collections::HashMap<&str, Role> = app::server_fns::REQUIRED_ROLES.iter().copied().collect();
    let registered: Vec<&str> = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    assert!(!registered.is_empty());
    for path in &registered {
        assert!(listed.contains_key(path), "server function {path} has no role in app::server_fns::REQUIRED_ROLES");
    }
    let table = server::http::route_table(&server.wayline.state);
    let role_of = |path: &str| table.iter().find(|r| r.path == path).map(|r| r.access);
    assert_eq!(role_of("/api/v1/dead-letters/{id}/replay"), Some(Access::AtLeast(Role::Admin)));
    assert_eq!(role_of("/api/v1/rules/{id}"), Some(Access::AtLeast(Role::Viewer)), "reading a rule");
    let create_source = <app::server_fns::CreateSource as leptos::server_fn::ServerFn>::PATH;
    assert_eq!(role_of(create_source), Some(Access::AtLeast(Role::Admin)));
    for open in ["/healthz", "/login", "/setup", "/v1/track"] {
        assert_eq!(role_of(open), Some(Access::Open), "{open}");
    }
}

/// The `name=value` of the session cookie a response sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wayline_session=") && !v.starts_with("wayline_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn setup_creates_the_first_admin_once_then_people_sign_in_and_out() {
    let server = start(false).await;
    let (base, plain) = (&server.base, &server.plain);
    // A fresh install sends everyone to setup.
    let home = plain.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(home.headers()[header::LOCATION], "/setup");
    let page = plain.get(format!("{base}/setup")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Create the first admin"));

    let form = [("email", "Root@Example.com"), ("password", "a long passphrase")];
    let created =
        plain.post(format!("{base}/setup")).header(header::ORIGIN, base.as_str()).form(&form).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&created).expect("signed in at once");
    let set_cookie = created.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    // Setup is closed for ever.
    let again =
        plain.post(format!("{base}/setup")).form(&[("email", "eve@example.com"), ("password", "another passphrase")]);
    assert_eq!(again.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let page = plain.get(format!("{base}/setup")).header(header::ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND, "a browser is sent to sign in");
    assert_eq!(page.headers()[header::LOCATION], "/login");

    // The cookie opens pages and the API.
    let with_cookie = |path: &str| plain.get(format!("{base}{path}")).header(header::COOKIE, cookie.as_str());
    assert_eq!(with_cookie("/api/v1/journeys").send().await.unwrap().status(), StatusCode::OK);
    let page = with_cookie("/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("root@example.com"), "the top bar names who is signed in");

    // Signing out ends the session.
    let out = plain
        .post(format!("{base}/logout"))
        .header(header::COOKIE, cookie.as_str())
        .header(header::ORIGIN, base.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(with_cookie("/api/v1/journeys").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Wrong passwords go back to the form with the reason; the right one signs in and returns.
    let attempt = |password: &'static str| {
        plain.post(format!("{base}/login")).form(&[
            ("email", "root@example.com"),
            ("password", password),
            ("next", "/funnels?steps=a,b"),
        ])
    };
    let wrong = attempt("not it at all").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::SEE_OTHER);
    assert!(wrong.headers()[header::LOCATION].to_str().unwrap().starts_with("/login?error=wrong"));
    assert!(session_cookie(&wrong).is_none());
    let right = attempt("a long passphrase").send().await.unwrap();
    assert_eq!(right.headers()[header::LOCATION], "/funnels?steps=a,b");
    assert!(session_cookie(&right).is_some());
}

#[tokio::test]
async fn guessing_passwords_is_throttled_per_account() {
    let server = start(false).await;
    let (_, password) = server.wayline.state.accounts.add_user("ada@example.com", Role::Viewer).await.unwrap();
    let attempt = |password: String| {
        server
            .plain
            .post(format!("{}/login", server.base))
            .form(&[("email", "ada@example.com".to_string()), ("password", password)])
    };
    for _ in 0..5 {
        let wrong = attempt("guess guess guess".into()).send().await.unwrap();
        assert!(wrong.headers()[header::LOCATION].to_str().unwrap().contains("error=wrong"));
    }
    let held = attempt(password).send().await.unwrap();
    let location = held.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.contains("error=throttled"), "even the right password waits: {location}");
    assert!(held.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn a_write_riding_on_the_cookie_from_another_site_is_refused() {
    let server = start(false).await;
    let accounts = &server.wayline.state.accounts;
    let (_, password) = accounts.add_user("ada@example.com", Role::Analyst).await.unwrap();
    let cookie = accounts.sign_in("ada@example.com", &password, "127.0.0.1".parse().unwrap()).await.unwrap();
    let cookie = format!("wayline_session={cookie}");
    let rule = json!({ "id": "r1", "name": "Cart left", "condition": { "type": "count", "event": "added_to_cart", "count": 2, "within_seconds": 60 } });
    let put = |origin: Option<&str>| {
        let request = server
            .plain
            .put(format!("{}/api/v1/rules/r1", server.base))
            .header(header::COOKIE, cookie.as_str())
            .json(&rule);
        match origin {
            Some(origin) => request.header(header::ORIGIN, origin),
            None => request,
        }
    };
    let elsewhere = put(Some("http://evil.example")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    assert_eq!(elsewhere.json::<Value>().await.unwrap()["error"]["code"], "cross_site_request");
    assert_eq!(put(None).send().await.unwrap().status(), StatusCode::FORBIDDEN, "no Origin, no Referer");
    let own = put(Some(server.base.as_str())).send().await.unwrap();
    assert!(own.status().is_success(), "{} {}", own.status(), own.text().await.unwrap());
    // Reading needs no Origin; a token needs none either (no cookie rides along).
    let read = server.plain.get(format!("{}/api/v1/rules/r1", server.base)).header(header::COOKIE, cookie.as_str());
    assert_eq!(read.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_public_demo_key_works_only_with_demo_on() {
    for (demo, expected) in [(false, StatusCode::UNAUTHORIZED), (true, StatusCode::OK)] {
        let server = start(demo).await;
        let sent = server
            .plain
            .post(format!("{}/v1/track", server.base))
            .basic_auth(DEMO_WRITE_KEY, Some(""))
            .json(&json!({ "anonymousId": "a", "event": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), expected, "demo {demo}");
    }
    // A real source's key works without the demo.
    let server = start(false).await;
    let (_, key) = server.wayline.state.sources.create("Web shop").await.unwrap();
    let sent = server
        .plain
        .post(format!("{}/v1/track", server.base))
        .basic_auth(&key, Some(""))
        .json(&json!({ "anonymousId": "a", "event": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
}
