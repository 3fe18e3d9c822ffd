//! `/api/v1/…` analytics endpoints: parse the question, ask the analytics service, answer JSON.

use axum::{
    extract::{Query, State},
    Json,
};

use super::error::ApiError;
use crate::{
    analytics::{funnel::FunnelResult, FunnelQuery},
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
