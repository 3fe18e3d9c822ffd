//! The HTTP surface: one router holding every route, behind one door (`guard`) that knows who
//! is asking and what each route asks of them.

mod alerts;
pub mod analytics;
mod audit;
pub mod browser;
mod customers;
mod dead_letters;
pub mod error;
pub mod guard;
mod ingest;
mod journeys;
mod live;
mod metrics;
mod privacy;
mod readiness;
mod rules;
mod sign_in;
pub mod stream;
pub mod stream_slots;
mod webhooks;

use std::time::Duration;

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderValue, Method, StatusCode},
    middleware,
    routing::{get, post},
    Router,
};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    classify::ServerErrorsFailureClass,
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
    decompression::RequestDecompressionLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use self::guard::{Access, Guarded, RouteAccess};
use crate::state::AppState;

/// Hard cap on a request body after decompression; the ingestor enforces the finer
/// per-event and per-batch limits and dead-letters what breaks them.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Ingestion requests that take longer than this are cut off (the sender retries).
const INGEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Any other request that has not answered by then is cut off with `408`. An event stream
/// answers at once and then streams, so this bounds only its start.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The sign-in and setup forms are small.
const FORM_BYTES: usize = 16 * 1024;

/// Every route of Wayline, behind the [`guard`] door.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes();
    let ingestion = Router::new()
        .route("/v1/batch", post(ingest::batch))
        .route("/v1/import", post(ingest::batch))
        .route("/v1/{call}", post(ingest::single))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), ingest::admit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, INGEST_TIMEOUT))
        .layer(cors(&state.cors_origins));

    let browser_settings = Router::new()
        .route("/v1/projects/{write_key}/settings", get(ingest::browser_settings))
        .layer(CorsLayer::new().allow_origin(AllowOrigin::any()).allow_methods([Method::GET]));

    let open = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness::ready))
        .route("/login", post(sign_in::sign_in))
        .route("/logout", post(sign_in::sign_out))
        .route("/setup", post(sign_in::set_up))
        .layer(DefaultBodyLimit::max(FORM_BYTES));

    let routes = generate_route_list(app::App);
    let backend = state.backend.clone();
    let dashboard = Router::new()
        .leptos_routes_with_context(&state, routes, move || page_context(&backend), {
            let options = state.leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell));

    Router::new()
        .merge(ingestion)
        .merge(browser_settings)
        .merge(open)
        .merge(api)
        .merge(dashboard)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn_with_state(state.clone(), browser::protect))
        .layer(CompressionLayer::new())
        // Every 5xx answer is logged here, with its method and path: at ERROR, except a 503,
        // which says "not now, retry" (warming up, a full queue or disk; the causes that need
        // an operator are logged at ERROR where they happen). Handlers log their refusals (4xx:
        // the caller's mistake, not the server's) at DEBUG only, so that a soak's "no error in
        // the log" means the server did not fail.
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(state)
}

/// The trace layer's log line for a 5xx answer or a failed response.
fn log_failure(failure: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    let latency_ms = latency.as_millis() as u64;
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::warn!(latency_ms, "answered 503: not ready yet or busy; the client was told to retry")
        }
        other => tracing::error!(classification = %other, latency_ms, "response failed"),
    }
}

/// What every page and server function finds in its context: the backend, and this request's
/// script nonce (so that the hydration scripts carry the nonce the policy names).
fn page_context(backend: &app::backend::SharedBackend) {
    use leptos::prelude::{provide_context, use_context};
    provide_context(backend.clone());
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<browser::CspNonce>().cloned());
    if let Some(browser::CspNonce(nonce)) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce));
    }
}

/// The JSON API and its event streams, each route with the least role it needs.
fn api_routes() -> (Router<AppState>, Vec<RouteAccess>) {
    use crate::auth::Role::{Admin, Analyst, Viewer};
    Guarded::new()
        .get("/api/v1/stream/events", Viewer, stream::events)
        .get("/api/v1/stream/stages", Viewer, stream::stages)
        .get("/api/v1/funnel", Viewer, analytics::funnel)
        .get("/api/v1/funnel/dropped", Viewer, analytics::funnel_dropped)
        .get("/api/v1/dropoffs", Viewer, analytics::dropoffs)
        .get("/api/v1/paths", Viewer, analytics::paths)
        .get("/api/v1/paths/customers", Viewer, analytics::path_customers)
        .get("/api/v1/retention", Viewer, analytics::retention)
        .get("/api/v1/stages/active", Viewer, analytics::active_stages)
        .get("/api/v1/customers/{id}/timeline", Viewer, analytics::customer_timeline)
        .delete("/api/v1/customers/{id}", Admin, customers::erase)
        .get("/api/v1/journeys", Viewer, journeys::list)
        .get("/api/v1/journeys/{name}", Viewer, journeys::export)
        .put("/api/v1/journeys/{name}", Analyst, journeys::import)
        .get("/api/v1/rules", Viewer, rules::list)
        .get("/api/v1/rules/{id}", Viewer, rules::get)
        .get("/api/v1/rules/{id}/outcomes", Viewer, rules::outcomes)
        .post("/api/v1/rules/backtest", Analyst, rules::backtest)
        .put("/api/v1/rules/{id}", Analyst, rules::put)
        .delete("/api/v1/rules/{id}", Analyst, rules::delete)
        .get("/api/v1/alerts", Viewer, alerts::list)
        .get("/api/v1/alerts/{id}", Viewer, alerts::get)
        .patch("/api/v1/alerts/{id}", Analyst, alerts::change)
        .get("/api/v1/stream/alerts", Viewer, alerts::stream)
        .get("/api/v1/live/status", Viewer, live::status)
        .get("/api/v1/webhooks", Analyst, webhooks::list)
        .put("/api/v1/webhooks/{id}", Analyst, webhooks::put)
        .delete("/api/v1/webhooks/{id}", Analyst, webhooks::delete)
        .get("/api/v1/webhooks/{id}/deliveries", Analyst, webhooks::deliveries)
        .get("/api/v1/dead-letters", Admin, dead_letters::list)
        .post("/api/v1/dead-letters/{id}/replay", Admin, dead_letters::replay)
        .get("/api/v1/audit", Admin, audit::list)
        // Counts and states only, no customer: a viewer's token is enough for a scraper.
        .get("/metrics", Viewer, metrics::scrape)
        .finish()
}

/// Every route and what it asks, for the test that tries each one: the JSON API as declared,
/// the server functions and pages as the door sees them, and the open routes.
pub fn route_table(state: &AppState) -> Vec<RouteAccess> {
    let (_, mut table) = api_routes();
    for (path, role) in state.access.server_functions() {
        table.push(RouteAccess { method: Method::POST, path: path.to_string(), access: Access::AtLeast(role) });
    }
    for page in generate_route_list(app::App) {
        let path = page.path().to_string();
        table.push(RouteAccess { method: Method::GET, access: state.access.required(&path), path });
    }
    for (method, path) in [
        (Method::POST, "/v1/track"),
        (Method::POST, "/v1/batch"),
        (Method::GET, "/v1/projects/{write_key}/settings"),
        (Method::GET, "/healthz"),
        (Method::GET, "/readyz"),
        (Method::POST, "/login"),
        (Method::POST, "/logout"),
        (Method::POST, "/setup"),
    ] {
        table.push(RouteAccess { method, path: path.to_string(), access: Access::Open });
    }
    table
}

/// The address the request came from (unknown when served without connection info, as in
/// tests that serve the router directly).
fn client_address(request_extensions: &axum::http::Extensions) -> std::net::IpAddr {
    request_extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip())
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// CORS for `/v1/*`: browsers may send events from the configured origins (`*` for any),
/// with the write key in an Authorization header or in the body.
fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::CONTENT_ENCODING])
        .max_age(Duration::from_secs(86_400))
}
