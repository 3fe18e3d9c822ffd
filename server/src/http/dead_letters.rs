//! `/api/v1/dead-letters`: what was refused, newest first, with the reason; and replay.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::{state::AppState, store::DeadLetter};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
}

/// Most dead letters one call lists.
const MAX_LIMIT: usize = 1_000;

#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    let limit = query.limit.unwrap_or(100).min(MAX_LIMIT);
    Ok(Json(state.store.recent_dead_letters(limit).await?))
}

/// `POST /api/v1/dead-letters/{id}/replay`: ingests the stored payload again, or the
/// corrected message in the body if one is sent.
#[tracing::instrument(skip_all, fields(id), err(level = "debug", Debug))]
pub async fn replay(State(state): State<AppState>, Path(id): Path<i64>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let corrected = (!body.iter().all(u8::is_ascii_whitespace)).then_some(&body[..]);
    let receipt = state.ingestor.replay(id, corrected, state.clock.now()).await?;
    Ok(Json(json!({ "success": true, "stored": receipt.events, "duplicates": receipt.duplicates })))
}
