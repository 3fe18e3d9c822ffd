//! `/api/v1/journeys`: list, export (GET one) and import (PUT one) journey definitions.

use axum::{
    extract::{Path, State},
    Json,
};

use super::error::ApiError;
use crate::{
    journeys::{Journey, JourneyError},
    state::AppState,
};

/// `GET /api/v1/journeys`
pub async fn list(State(state): State<AppState>) -> Json<Vec<Journey>> {
    Json(state.journeys.list())
}

/// `GET /api/v1/journeys/{name}`: the definition, as a file to keep or import elsewhere.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn export(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Journey>, ApiError> {
    state.journeys.get(&name).map(Json).ok_or_else(|| JourneyError::NotFound(name).into())
}

/// `PUT /api/v1/journeys/{name}`: creates or replaces a journey from its definition.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn import(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(mut journey): Json<Journey>,
) -> Result<Json<Journey>, ApiError> {
    journey.name = name;
    state.journeys.save(journey.clone()).await?;
    Ok(Json(journey))
}
