//! `/api/v1/alerts`: the alert list, one alert, its lifecycle (acknowledge, assign, resolve,
//! note), and the alert stream over server-sent events.

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::Response,
    Json,
};
use futures::{stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{
    error::ApiError,
    stream::{resume_point, shared_frames, until_shutdown, StreamQuery},
};
use crate::{
    alerts::{Alert, AlertChange, AlertFilter, AlertState},
    hub::Frame,
    state::AppState,
};

/// `GET /api/v1/alerts?state=open&rule=…&assignee=…&customer=…&limit=50&offset=0`, newest first.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn list(
    State(state): State<AppState>,
    Query(filter): Query<AlertFilter>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    Ok(Json(state.alerts.list(filter).await?))
}

/// `GET /api/v1/alerts/{id}`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn get(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.alerts.get(id).await?))
}

/// `PATCH /api/v1/alerts/{id}` with `{"state": "acknowledged", "assignee": "sam", "note": "…"}`
/// (any of them).
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn change(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(change): Json<AlertChange>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(state.alerts.change(id, change).await?))
}

/// Open alerts sent when a stream starts without a resume point.
const SNAPSHOT_ALERTS: usize = 50;

/// `GET /api/v1/stream/alerts`: `snapshot` (the newest open alerts) or, after
/// `Last-Event-ID`, every alert changed since; then `alert` for each new alert or change.
/// The event id is the change's version. A client that falls behind gets `resync` and the
/// stream ends, so it reconnects with its last id.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn stream(
    State(state): State<AppState>,
    who: Option<axum::Extension<app::auth::Principal>>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let slot = super::stream::take_slot(&state, who.map(|axum::Extension(who)| who).as_ref(), "alerts")?;
    let resume_after = resume_point(&headers, &query);
    // Subscribe before reading, so nothing falls between the two.
    let changes = state.alerts.subscribe();
    let (first, seen): (Vec<Frame>, i64) = match resume_after {
        Some(version) => {
            let missed = state.alerts.changed_since(version).await?;
            let seen = missed.iter().map(|a| a.version).max().unwrap_or(version);
            (missed.iter().map(alert_frame).collect(), seen)
        }
        None => {
            let filter =
                AlertFilter { state: Some(AlertState::Open), limit: Some(SNAPSHOT_ALERTS), ..Default::default() };
            let open = state.alerts.list(filter).await?;
            let seen = open.iter().map(|a| a.version).max().unwrap_or(0);
            (vec![json_frame(Some(seen), "snapshot", &open)], seen)
        }
    };
    let live = stream::unfold((changes, seen, false), |(mut changes, mut seen, resynced)| async move {
        if resynced {
            return None;
        }
        loop {
            match changes.recv().await {
                // Already in the first frame.
                Ok(change) if change.value.version <= seen => continue,
                Ok(change) => {
                    seen = change.value.version;
                    // Encoded by the first stream to get it, shared by every other.
                    return Some((change.frame(alert_frame), (changes, seen, false)));
                }
                Err(RecvError::Lagged(_)) => {
                    return Some((Frame::new(None, "resync", "{}"), (changes, seen, true)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let frames = stream::iter(first).chain(live).take_until(until_shutdown(&state)).map(move |frame| {
        let _held_while_streaming = &slot;
        frame
    });
    Ok(shared_frames(frames))
}

fn alert_frame(alert: &Alert) -> Frame {
    json_frame(Some(alert.version), "alert", alert)
}

fn json_frame<T: serde::Serialize>(id: Option<i64>, name: &'static str, value: &T) -> Frame {
    match serde_json::to_string(value) {
        Ok(json) => Frame::new(id, name, &json),
        Err(e) => {
            tracing::error!(error = %e, "could not encode an alert frame");
            Frame::new(None, "resync", "{}")
        }
    }
}
