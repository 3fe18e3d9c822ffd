//! `/v1/*`: Segment's HTTP Tracking API. Handlers only extract, call the ingestor and map.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use chrono::Utc;
use serde_json::json;

use super::error::ApiError;
use crate::{
    ingest::{Arrival, CallType, Endpoint, IngestOutcome},
    state::AppState,
};

/// Source id used until write keys arrive (see the ingestion-contract issue).
pub const DEFAULT_SOURCE: &str = "default";

/// `POST /v1/{track|page|screen|identify|group|alias}`.
#[tracing::instrument(skip_all, fields(call = %call), err(Debug))]
pub async fn single(
    State(state): State<AppState>,
    Path(call): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let kind = CallType::parse(&call).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            format!("/v1/{call} does not exist; use /v1/track, page, screen, identify, group, alias or batch"),
        )
    })?;
    ingest(state, Endpoint::Single(kind), body).await
}

/// `POST /v1/batch` and `/v1/import`.
#[tracing::instrument(skip_all, err(Debug))]
pub async fn batch(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    ingest(state, Endpoint::Batch, body).await
}

async fn ingest(state: AppState, endpoint: Endpoint, body: Bytes) -> Result<Response, ApiError> {
    let arrival = Arrival {
        source_id: DEFAULT_SOURCE.to_string(),
        received_at: Utc::now(),
    };
    let outcome = state.ingestor.ingest(endpoint, &body, arrival).await?;
    Ok(answer(endpoint, outcome))
}

/// Segment answers `{"success": true}`; refusals also say which message and why.
fn answer(endpoint: Endpoint, outcome: IngestOutcome) -> Response {
    let rejected: Vec<_> = outcome
        .rejected
        .iter()
        .map(|r| json!({ "index": r.index, "code": r.rejection.code, "message": r.rejection.message }))
        .collect();
    match (endpoint, outcome.receipt.events, rejected.is_empty()) {
        (_, _, true) => Json(json!({ "success": true })).into_response(),
        // Part of a batch stored: success for what was kept, and the list of what was not.
        (Endpoint::Batch, accepted, false) if accepted > 0 => {
            Json(json!({ "success": true, "accepted": accepted, "rejected": rejected }))
                .into_response()
        }
        (_, _, false) => {
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
