//! The HTTP surface: one router holding every route, so that one auth layer can later sit
//! in front of all of them.

mod alerts;
mod analytics;
mod dead_letters;
pub mod error;
mod ingest;
mod journeys;
mod live;
mod rules;
mod stream;
mod webhooks;

use std::time::Duration;

use axum::{
    extract::DefaultBodyLimit,
    http::{header, HeaderValue, Method, StatusCode},
    routing::{get, post},
    Router,
};
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{
    compression::CompressionLayer,
    cors::{AllowOrigin, CorsLayer},
    decompression::RequestDecompressionLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::state::AppState;

/// Hard cap on a request body after decompression; the ingestor enforces the finer
/// per-event and per-batch limits and dead-letters what breaks them.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Ingestion requests that take longer than this are cut off (the sender retries).
const INGEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of Wayline.
pub fn router(state: AppState) -> Router {
    let ingestion = Router::new()
        .route("/v1/batch", post(ingest::batch))
        .route("/v1/import", post(ingest::batch))
        .route("/v1/{call}", post(ingest::single))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, INGEST_TIMEOUT))
        .layer(cors(&state.cors_origins));

    let browser_settings = Router::new()
        .route("/v1/projects/{write_key}/settings", get(ingest::browser_settings))
        .layer(CorsLayer::new().allow_origin(AllowOrigin::any()).allow_methods([Method::GET]));

    let api = Router::new()
        .route("/api/v1/stream/events", get(stream::events))
        .route("/api/v1/stream/stages", get(stream::stages))
        .route("/api/v1/funnel", get(analytics::funnel))
        .route("/api/v1/funnel/dropped", get(analytics::funnel_dropped))
        .route("/api/v1/dropoffs", get(analytics::dropoffs))
        .route("/api/v1/paths", get(analytics::paths))
        .route("/api/v1/stages/active", get(analytics::active_stages))
        .route("/api/v1/customers/{id}/timeline", get(analytics::customer_timeline))
        .route("/api/v1/journeys", get(journeys::list))
        .route("/api/v1/journeys/{name}", get(journeys::export).put(journeys::import))
        .route("/api/v1/rules", get(rules::list))
        .route("/api/v1/rules/{id}", get(rules::get).put(rules::put).delete(rules::delete))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/{id}", get(alerts::get).patch(alerts::change))
        .route("/api/v1/stream/alerts", get(alerts::stream))
        .route("/api/v1/live/status", get(live::status))
        .route("/api/v1/webhooks", get(webhooks::list))
        .route("/api/v1/webhooks/{id}", axum::routing::put(webhooks::put).delete(webhooks::delete))
        .route("/api/v1/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/api/v1/dead-letters", get(dead_letters::list))
        .route("/api/v1/dead-letters/{id}/replay", post(dead_letters::replay))
        .route("/healthz", get(|| async { "ok" }));

    let routes = generate_route_list(app::App);
    let backend = state.backend.clone();
    let dashboard = Router::new()
        .leptos_routes_with_context(&state, routes, move || leptos::prelude::provide_context(backend.clone()), {
            let options = state.leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell));

    Router::new()
        .merge(ingestion)
        .merge(browser_settings)
        .merge(api)
        .merge(dashboard)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
