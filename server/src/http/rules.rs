//! `/api/v1/rules`: list, read, create or replace, and delete the rules the rule engine
//! evaluates.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};

use super::error::ApiError;
use crate::{
    rules::{Rule, RuleError},
    state::AppState,
};

/// `GET /api/v1/rules`
pub async fn list(State(state): State<AppState>) -> Json<Vec<Rule>> {
    Json(state.rules.list())
}

/// `GET /api/v1/rules/{id}`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Rule>, ApiError> {
    state.rules.get(&id).map(Json).ok_or_else(|| RuleError::NotFound(id).into())
}

/// `PUT /api/v1/rules/{id}`: creates or replaces a rule (the id in the path wins).
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(mut rule): Json<Rule>,
) -> Result<Json<Rule>, ApiError> {
    rule.id = id;
    state.rules.save(rule.clone()).await?;
    Ok(Json(rule))
}

/// `DELETE /api/v1/rules/{id}`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    state.rules.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
