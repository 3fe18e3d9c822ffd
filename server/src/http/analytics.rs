//! `/api/v1/…` analytics endpoints: parse the question, ask the analytics service, answer JSON.

use axum::{
    extract::{Path, Query, State},
    Json,
};
use serde::Deserialize;

use super::error::ApiError;
use crate::{
    analytics::{funnel::FunnelResult, stages::StageOccupancy, FunnelQuery, Timeline},
    journeys::{Journey, JourneyError, DEFAULT_JOURNEY},
    state::AppState,
};

/// `GET /api/v1/funnel?steps=a,b,c&window=86400&from=…&to=…&mode=sequential`
#[tracing::instrument(skip_all, err(Debug))]
pub async fn funnel(
    State(state): State<AppState>,
    Query(query): Query<FunnelQuery>,
) -> Result<Json<FunnelResult>, ApiError> {
    let spec = query.to_spec(chrono::Utc::now())?;
    Ok(Json(state.analytics.funnel(spec).await?))
}

#[derive(Debug, Deserialize)]
pub struct StagesQuery {
    journey: Option<String>,
    minutes: Option<i64>,
}

/// `GET /api/v1/stages/active?journey=default&minutes=30`: sessions active in the last
/// minutes, by the stage they are in now, with the median time in that stage.
#[tracing::instrument(skip_all, err(Debug))]
pub async fn active_stages(
    State(state): State<AppState>,
    Query(query): Query<StagesQuery>,
) -> Result<Json<Vec<StageOccupancy>>, ApiError> {
    let journey = journey(&state, query.journey.as_deref())?;
    Ok(Json(state.analytics.active_stages(journey, query.minutes.unwrap_or(30), chrono::Utc::now()).await?))
}

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    journey: Option<String>,
}

/// `GET /api/v1/customers/{id}/timeline`: every event of the customer behind any of their
/// identities, grouped by session, with stages.
#[tracing::instrument(skip_all, err(Debug))]
pub async fn customer_timeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<Timeline>, ApiError> {
    let journey = journey(&state, query.journey.as_deref())?;
    Ok(Json(state.analytics.customer_timeline(&id, journey).await?))
}

fn journey(state: &AppState, name: Option<&str>) -> Result<Journey, ApiError> {
    let name = name.unwrap_or(DEFAULT_JOURNEY);
    state.journeys.get(name).ok_or_else(|| JourneyError::NotFound(name.to_string()).into())
}
