//! `/api/v1/dead-letters`: what was refused, newest first, with the reason; and replay.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct DeadLetterView {
    id: i64,
    source_id: Option<String>,
    received_at: chrono::DateTime<chrono::Utc>,
    reason_code: String,
    reason: String,
    payload: String,
    call_type: Option<String>,
    replayed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Most dead letters one call lists.
const MAX_LIMIT: usize = 1_000;

#[tracing::instrument(skip_all, err(Debug))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(MAX_LIMIT);
    let letters = state.store.recent_dead_letters(limit).await?;
    Ok(Json(
        letters
            .into_iter()
            .map(|d| DeadLetterView {
                id: d.id,
                source_id: d.letter.source_id,
                received_at: d.letter.received_at,
                reason_code: d.letter.reason_code,
                reason: d.letter.reason,
                payload: d.letter.payload,
                call_type: d.letter.call_type,
                replayed_at: d.replayed_at,
            })
            .collect(),
    ))
}

/// `POST /api/v1/dead-letters/{id}/replay`: ingests the stored payload again, or the
/// corrected message in the body if one is sent.
#[tracing::instrument(skip_all, fields(id), err(Debug))]
pub async fn replay(State(state): State<AppState>, Path(id): Path<i64>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let corrected = (!body.iter().all(u8::is_ascii_whitespace)).then_some(&body[..]);
    let receipt = state.ingestor.replay(id, corrected, chrono::Utc::now()).await?;
    Ok(Json(json!({ "success": true, "stored": receipt.events, "duplicates": receipt.duplicates })))
}
