//! `GET /api/v1/stream/events`: the live event feed over server-sent events.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::error::ApiError;
use crate::{feed, state::AppState};

/// Browsers that re-create an EventSource forget `Last-Event-ID`, so it may come as a query parameter.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(rename = "lastEventId")]
    last_event_id: Option<i64>,
}

/// How often an idle stream sends a comment so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[tracing::instrument(skip_all, err(Debug))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume_after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(query.last_event_id);
    let frames = feed::frames(&state.store, &state.hub, resume_after).await?;
    let mut shutdown = state.shutdown.clone();
    let until_shutdown = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let events = frames.take_until(until_shutdown).map(|frame| {
        let event = Event::default().event(frame.name).data(&*frame.json);
        Ok(match frame.id {
            Some(id) => event.id(id.to_string()),
            None => event,
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
