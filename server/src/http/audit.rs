//! `GET /api/v1/audit?limit=100`: the newest changes people and tokens made, newest first.

use app::types::AuditEntry;
use axum::{
    extract::{Query, State},
    Json,
};
use serde::Deserialize;

use super::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<usize>,
}

#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(state.audit.recent(query.limit.unwrap_or(100)).await?))
}
