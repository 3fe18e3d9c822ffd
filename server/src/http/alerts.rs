//! `/api/v1/alerts`: the alert list, one alert, its lifecycle (acknowledge, assign, resolve,
//! note), and the alert stream over server-sent events.

use std::convert::Infallible;

use axum::{
    extract::{Path, Query, State},
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
    Json,
};
use futures::{stream, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::{
    error::ApiError,
    stream::{resume_point, until_shutdown, StreamQuery, KEEP_ALIVE},
};
use crate::{
    alerts::{Alert, AlertChange, AlertFilter, AlertState},
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
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = super::stream::take_slot(&state, who.map(|axum::Extension(who)| who).as_ref())?;
    let resume_after = resume_point(&headers, &query);
    // Subscribe before reading, so nothing falls between the two.
    let changes = state.alerts.subscribe();
    let (first, seen): (Vec<Event>, i64) = match resume_after {
        Some(version) => {
            let missed = state.alerts.changed_since(version).await?;
            let seen = missed.iter().map(|a| a.version).max().unwrap_or(version);
            (missed.iter().map(alert_event).collect(), seen)
        }
        None => {
            let filter =
                AlertFilter { state: Some(AlertState::Open), limit: Some(SNAPSHOT_ALERTS), ..Default::default() };
            let open = state.alerts.list(filter).await?;
            let seen = open.iter().map(|a| a.version).max().unwrap_or(0);
            (vec![json_event("snapshot", &open).id(seen.to_string())], seen)
        }
    };
    let live = stream::unfold((changes, seen, false), |(mut changes, mut seen, resynced)| async move {
        if resynced {
            return None;
        }
        loop {
            match changes.recv().await {
                // Already in the first frame.
                Ok(alert) if alert.version <= seen => continue,
                Ok(alert) => {
                    seen = alert.version;
                    return Some((alert_event(&alert), (changes, seen, false)));
                }
                Err(RecvError::Lagged(_)) => {
                    return Some((Event::default().event("resync").data("{}"), (changes, seen, true)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(first).chain(live).take_until(until_shutdown(&state)).map(move |event| {
        let _held_while_streaming = &slot;
        Ok(event)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn alert_event(alert: &Alert) -> Event {
    json_event("alert", alert).id(alert.version.to_string())
}

fn json_event<T: serde::Serialize>(name: &str, value: &T) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|e| Event::default().comment(format!("encoding failed: {e}")))
}
