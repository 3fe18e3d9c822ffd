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

/// `GET /api/v1/rules/{id}/outcomes`: did acting on the rule's alerts help? Its goal rate,
/// treated against held out, over the alerts whose goal window has ended (see
/// [`crate::outcomes`]).
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn outcomes(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<app::types::RuleOutcomes>, ApiError> {
    let rule = state.rules.get(&id).ok_or(RuleError::NotFound(id))?;
    Ok(Json(crate::outcomes::of_rule(&state.store, &state.index, rule, state.clock.now()).await?))
}

/// `POST /api/v1/rules/backtest` with `{"rule": {...}, "days": 30}`: what the rule (saved or
/// not) would have raised over the last days of stored events; raises nothing.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn backtest(
    State(state): State<AppState>,
    Json(mut request): Json<app::types::BacktestRequest>,
) -> Result<Json<app::types::BacktestResult>, ApiError> {
    if request.rule.id.is_empty() {
        // A rule being written has no id yet; the replay does not need one.
        request.rule.id = "backtest".into();
    }
    let (index, store, journeys, now) = (&state.index, &state.store, &state.journeys, state.clock.now());
    Ok(Json(crate::rule_engine::backtest::backtest(index, store, journeys, request.rule, request.days, now).await?))
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
