//! `/v1/*`: Segment's HTTP Tracking API. Handlers only extract, call the ingestor and map.

use axum::{
    body::Bytes,
    extract::Request,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine;
use serde_json::json;
use tracing::Instrument;

use super::error::ApiError;
use crate::{
    ingest::{CallType, Endpoint, IngestOutcome},
    state::AppState,
};

/// The write key from `Authorization: Basic base64(key:)`, as Segment's SDKs send it.
pub fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    (!user.is_empty()).then(|| user.to_string())
}

/// Counts an ingestion request against its address's rate limit before its body is read (a
/// flood costs no decompression), answering `429` with `Retry-After` when it is over.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.ingestor.admit(super::client_address(request.extensions())) {
        Ok(()) => next.run(request).await,
        Err(refused) => ApiError::from(refused).into_response(),
    }
}

/// `POST /v1/{track|page|screen|identify|group|alias}` and the one-letter forms `t`, `p`, …
#[tracing::instrument(skip_all, fields(call = %call), err(level = "debug", Debug))]
pub async fn single(
    State(state): State<AppState>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if call == "b" {
        return ingest(state, Endpoint::Batch, &headers, body).await;
    }
    let kind = CallType::from_path(&call).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            format!("/v1/{call} does not exist; use /v1/track, page, screen, identify, group, alias or batch"),
        )
    })?;
    ingest(state, Endpoint::Single(kind), &headers, body).await
}

/// `POST /v1/batch` and `/v1/import`.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    ingest(state, Endpoint::Batch, &headers, body).await
}

async fn ingest(state: AppState, endpoint: Endpoint, headers: &HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let key = basic_auth_user(headers);
    // The root of the events' path when traces are exported (see `crate::telemetry`).
    let span = tracing::info_span!(
        target: crate::telemetry::PATH,
        "ingest",
        otel.kind = "server",
        http.request.body.size = body.len() as i64,
        stored = tracing::field::Empty,
        rejected = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let ingesting = state.ingestor.ingest(endpoint, &body, key.as_deref(), state.clock.now());
    // The status only: an error's text may quote what the sender sent.
    let outcome = ingesting.instrument(span.clone()).await.inspect_err(|_| {
        span.record("otel.status_code", "ERROR");
    })?;
    span.record("stored", outcome.receipt.events as i64);
    span.record("rejected", outcome.rejected.len() as i64);
    Ok(answer(endpoint, outcome))
}

/// Segment answers `{"success": true}`; Wayline adds what it did with each message.
fn answer(endpoint: Endpoint, outcome: IngestOutcome) -> Response {
    let rejected: Vec<_> = outcome
        .rejected
        .iter()
        .map(|r| json!({ "index": r.index, "code": r.rejection.code, "message": r.rejection.message }))
        .collect();
    let receipt = outcome.receipt;
    let kept = receipt.events + receipt.duplicates;
    match (endpoint, rejected.is_empty()) {
        (_, true) => {
            Json(json!({ "success": true, "stored": receipt.events, "duplicates": receipt.duplicates })).into_response()
        }
        // Part of a batch kept: success for what was kept, and the list of what was not.
        (Endpoint::Batch, false) if kept > 0 => Json(json!({
            "success": true,
            "stored": receipt.events,
            "duplicates": receipt.duplicates,
            "rejected": rejected,
        }))
        .into_response(),
        (_, false) => {
            let first = &outcome.rejected[0].rejection;
            let body = json!({
                "success": false,
                "error": { "code": first.code, "message": first.message },
                "rejected": rejected,
            });
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
    }
}

/// `GET /v1/projects/{writeKey}/settings`: what Segment's browser library (analytics-next)
/// loads at start-up. Pointing its `cdnURL` at Wayline makes it send here.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn browser_settings(
    State(state): State<AppState>,
    Path(write_key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.sources.authenticate(&write_key).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_write_key",
            "no source has this write key; create one with `wayline source add NAME`",
        ));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:3000");
    let protocol = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
        Some("https") => "https",
        _ => "http",
    };
    let settings = json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": format!("{host}/v1"),
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": true,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {
            "track": { "__default": { "enabled": true, "integrations": {} } },
            "identify": { "__default": { "enabled": true } },
            "group": { "__default": { "enabled": true } },
        },
        "edgeFunction": {},
        "analyticsNextEnabled": true,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": { "sampleRate": 0 },
        "legacyVideoPluginsEnabled": false,
        "remotePlugins": [],
    });
    Ok(Json(settings).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_write_key_is_the_basic_user_name() {
        // base64("wl_key:") and base64("wl_key")
        assert_eq!(basic_auth_user(&with_auth("Basic d2xfa2V5Og==")).as_deref(), Some("wl_key"));
        assert_eq!(basic_auth_user(&with_auth("basic d2xfa2V5")).as_deref(), Some("wl_key"));
        assert_eq!(basic_auth_user(&with_auth("Bearer d2xfa2V5Og==")), None);
        assert_eq!(basic_auth_user(&with_auth("Basic !!!")), None);
        assert_eq!(basic_auth_user(&HeaderMap::new()), None);
    }
}
