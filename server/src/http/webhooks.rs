//! `/api/v1/webhooks`: where new alerts are sent, and each webhook's delivery log.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use super::error::ApiError;
use crate::{
    state::AppState,
    webhooks::{Delivery, Webhook},
};

/// `GET /api/v1/webhooks`
pub async fn list(State(state): State<AppState>) -> Json<Vec<Webhook>> {
    Json(state.webhooks.list())
}

/// `PUT /api/v1/webhooks/{id}` with `{"url": "https://…", "format": "json"|"slack", "enabled": true}`.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn put(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(mut webhook): Json<Webhook>,
) -> Result<Json<Webhook>, ApiError> {
    webhook.id = id;
    state.webhooks.save(webhook.clone()).await?;
    Ok(Json(webhook))
}

/// `DELETE /api/v1/webhooks/{id}`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    state.webhooks.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    outcome: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/webhooks/{id}/deliveries?outcome=dead&limit=100`: every attempt, newest first.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(state.webhooks.deliveries(&id, query.outcome, query.limit.unwrap_or(100)).await?))
}
