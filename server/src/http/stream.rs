//! Server-sent event streams: the live event feed (`/api/v1/stream/events`) and the stage
//! occupancy of a journey (`/api/v1/stream/stages`).

use std::{convert::Infallible, time::Duration};

use app::auth::Principal;
use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderMap},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension,
};
use bytes::Bytes;
use futures::{stream, Stream, StreamExt};
use serde::Deserialize;

use super::analytics::StagesQuery;
use super::error::ApiError;
use crate::{feed, hub::Frame, state::AppState};

/// Browsers that re-create an EventSource forget `Last-Event-ID`, so it may come as a query parameter.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(rename = "lastEventId")]
    last_event_id: Option<i64>,
}

/// How often an idle stream sends a comment so proxies keep it open.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Where a reconnecting client left off: the `Last-Event-ID` header, else the query parameter.
pub fn resume_point(headers: &HeaderMap, query: &StreamQuery) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(query.last_event_id)
}

/// Resolves when the server begins to shut down, ending long-lived streams.
pub(super) fn until_shutdown(state: &AppState) -> impl std::future::Future<Output = ()> + use<> {
    let mut shutdown = state.shutdown.clone();
    async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }
}

#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn events(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    let who = who.map(|Extension(who)| who);
    let slot = take_slot(&state, who.as_ref(), "events")?;
    let frames = feed::frames(&state.store, &state.hub, resume_point(&headers, &query)).await?;
    let keys = state.pii_keys.clone();
    let frames = frames.filter_map(move |frame| {
        let _held_while_streaming = &slot;
        std::future::ready(super::privacy::frame(frame, who.as_ref(), &keys))
    });
    Ok(shared_frames(frames.take_until(until_shutdown(&state))))
}

/// A slot for one more stream of `who`, or `429` (see [`super::stream_slots`]).
pub(super) fn take_slot(
    state: &AppState,
    who: Option<&Principal>,
    stream: &'static str,
) -> Result<super::stream_slots::StreamSlot, ApiError> {
    state.streams.take(who.map_or("anonymous", |who| who.name.as_str()), stream)
}

/// An SSE response of frames encoded once for all streams: each frame's bytes are shared,
/// not copied into every connection as axum's `Sse` does with its events, so many idle
/// streams cost little memory. A comment every [`KEEP_ALIVE`] keeps proxies from closing it.
pub(super) fn shared_frames(frames: impl Stream<Item = Frame> + Send + 'static) -> Response {
    let keep_alive = stream::unfold((), |()| async {
        tokio::time::sleep(KEEP_ALIVE).await;
        Some((Some(Bytes::from_static(b":\n\n")), ()))
    });
    // The frames end the response; the keep-alive comments never end on their own.
    let frames = frames.map(|frame| Some(frame.wire())).chain(stream::once(std::future::ready(None)));
    let body = stream::select(frames, keep_alive)
        .take_while(|bytes| std::future::ready(bytes.is_some()))
        .map(|bytes| Ok::<_, Infallible>(bytes.unwrap_or_default()));
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response()
}

/// `GET /api/v1/stream/stages?journey=default&minutes=30&channel=email`: a `stages` event with the active
/// sessions per stage (as `/api/v1/stages/active` answers) on connect, then whenever they
/// change, at most every 250 ms.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn stages(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Query(query): Query<StagesQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = take_slot(&state, who.map(|Extension(who)| who).as_ref(), "stages")?;
    let journey = super::analytics::journey(&state, query.journey.as_deref())?;
    let mut feed = state.occupancy.watch(journey, query.active()).await?;
    let first = feed.borrow_and_update().clone();
    let updates = futures::stream::unfold(feed, |mut feed| async move {
        feed.changed().await.ok()?;
        let counts = feed.borrow_and_update().clone();
        Some((counts, feed))
    });
    let events = futures::stream::once(std::future::ready(first))
        .chain(updates)
        .take_until(until_shutdown(&state))
        .map(move |counts| {
            let _held_while_streaming = &slot;
            Ok(Event::default()
                .event("stages")
                .json_data(&*counts)
                .unwrap_or_else(|e| Event::default().comment(format!("encoding failed: {e}"))))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
