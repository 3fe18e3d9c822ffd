//! `GET /readyz`: whether Wayline answers questions yet. `/healthz` says the process is alive
//! (and ingestion answers from the first second); this one is `503` with how far the event
//! index's start-up load has got until questions can be answered, for load balancers and
//! scripts that ask questions. Open like `/healthz`: it tells nothing about the data.

use axum::{extract::State, response::IntoResponse};

use super::error::ApiError;
use crate::{analytics::AnalyticsError, index::IndexError, state::AppState};

pub async fn ready(State(state): State<AppState>) -> axum::response::Response {
    match state.index.warming_up() {
        None => "ready".into_response(),
        Some(percent) => ApiError::from(AnalyticsError::Index(IndexError::WarmingUp { percent })).into_response(),
    }
}
