//! The live event feed behind the Live page: committed events as wire types, and the stream
//! of frames one SSE connection receives (snapshot or resume, then live batches).

use std::sync::Arc;

use futures::{stream, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};

use app::types::{LiveEvent, StreamFrame};

use crate::{
    hub::{Frame, Hub, Published},
    store::{value_of, Store, StoreError, StoredEvent},
};

/// Events sent in the first frame of a fresh connection.
pub const SNAPSHOT_EVENTS: usize = 50;
/// Most missed events replayed on resume; past that the client gets a fresh snapshot.
pub const RESUME_LIMIT: usize = 1_000;

/// A committed event as the dashboard shows it.
pub fn live_event(stored: &StoredEvent) -> LiveEvent {
    let e = &stored.event;
    let properties = match e.kind.as_str() {
        "identify" | "group" => value_of(&e.traits),
        _ => value_of(&e.properties),
    };
    LiveEvent {
        seq: stored.seq,
        message_id: e.message_id.clone(),
        source_id: e.source_id.clone(),
        kind: e.kind.clone(),
        name: e.name.clone(),
        anonymous_id: e.anonymous_id.clone(),
        user_id: e.user_id.clone(),
        timestamp: e.timestamp,
        received_at: e.received_at,
        properties,
        came_from: came_from(&value_of(&e.context)),
    }
}

/// Where the visit came from: the campaign source if tagged, else the referring host.
pub fn came_from(context: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(source) = context.pointer("/campaign/source").and_then(text) {
        return Some(source);
    }
    let referrer = context.pointer("/page/referrer").and_then(text)?;
    let without_scheme = referrer.split("://").nth(1).unwrap_or(&referrer);
    let host = without_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.strip_prefix("www.").unwrap_or(host);
    (!host.is_empty()).then(|| host.to_string())
}

/// The frame of a stream message with the SSE id `id`.
fn frame_of(id: Option<i64>, frame: &StreamFrame) -> Frame {
    Frame::new(id, frame.sse_name(), &encode(frame))
}

/// A frame decoded again (tests and tools).
pub fn decode(frame: &Frame) -> Option<StreamFrame> {
    serde_json::from_str(frame.json()).ok()
}

fn encode(frame: &StreamFrame) -> String {
    serde_json::to_string(frame)
        .unwrap_or_else(|e| format!("{{\"kind\":\"resync\",\"reason\":\"encoding failed: {e}\"}}"))
}

/// The frames for one connection: first a snapshot (or, with `resume_after`, what was missed
/// since then), then each committed batch. A listener that falls behind gets a `resync` frame
/// and the stream ends, so that one slow client never holds the others back.
pub async fn frames(
    store: &Store,
    hub: &Hub,
    resume_after: Option<i64>,
) -> Result<impl Stream<Item = Frame> + use<>, StoreError> {
    // Subscribe before reading the store, so nothing committed in between is missed;
    // anything seen twice is dropped by sequence number below.
    let receiver = hub.subscribe();
    let first = match resume_after {
        Some(after) => {
            let missed = store.events_after(after, RESUME_LIMIT + 1).await?;
            if missed.len() > RESUME_LIMIT {
                snapshot(hub)
            } else {
                let id = missed.last().map(|e| e.seq).or(Some(after));
                frame_of(id, &StreamFrame::Events { events: missed.iter().map(live_event).collect() })
            }
        }
        None => snapshot(hub),
    };
    let high_water = first.id.unwrap_or(0);
    Ok(stream::once(async move { first }).chain(live_frames(receiver, high_water)))
}

/// The newest events, from the hub's memory, encoded once for every new stream.
fn snapshot(hub: &Hub) -> Frame {
    hub.snapshot(|recent| {
        let events: Vec<LiveEvent> = recent.take(SNAPSHOT_EVENTS).map(live_event).collect();
        frame_of(events.first().map(|e| e.seq), &StreamFrame::Snapshot { events })
    })
}

struct Live {
    receiver: broadcast::Receiver<Arc<Published>>,
    high_water: i64,
    finished: bool,
}

/// Batches from the hub newer than `high_water`, as frames.
fn live_frames(receiver: broadcast::Receiver<Arc<Published>>, high_water: i64) -> impl Stream<Item = Frame> {
    stream::unfold(Live { receiver, high_water, finished: false }, |mut live| async move {
        if live.finished {
            return None;
        }
        loop {
            match live.receiver.recv().await {
                Ok(published) => {
                    let batch = &published.value;
                    let Some(newest) = batch.events.last().map(|e| e.seq).filter(|&s| s > live.high_water) else {
                        continue;
                    };
                    let high_water = std::mem::replace(&mut live.high_water, newest);
                    let frame = if batch.events.first().is_some_and(|e| e.seq > high_water) {
                        // The whole batch is new: the encoding every stream shares.
                        published.frame(|b| frame_of(Some(newest), &events_frame(b.events.iter())))
                    } else {
                        let newer = batch.events.iter().filter(|e| e.seq > high_water);
                        frame_of(Some(newest), &events_frame(newer))
                    };
                    return Some((frame, live));
                }
                Err(RecvError::Lagged(missed)) => {
                    live.finished = true;
                    let reason = format!("this connection fell {missed} batches behind; reconnect to resume");
                    return Some((frame_of(None, &StreamFrame::Resync { reason }), live));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn events_frame<'a>(events: impl Iterator<Item = &'a StoredEvent>) -> StreamFrame {
    StreamFrame::Events { events: events.map(live_event).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CommittedBatch, NewEvent};
    use serde_json::json;
    use std::sync::Arc;

    fn batch(seqs: &[i64]) -> Arc<CommittedBatch> {
        let event = |seq: i64| StoredEvent {
            seq,
            event: NewEvent {
                message_id: format!("m{seq}"),
                source_id: "s".into(),
                kind: "track".into(),
                name: Some("x".into()),
                anonymous_id: Some("a".into()),
                user_id: None,
                timestamp: chrono::DateTime::UNIX_EPOCH,
                original_timestamp: None,
                sent_at: None,
                received_at: chrono::DateTime::UNIX_EPOCH,
                properties: None,
                traits: None,
                context: None,
            },
        };
        Arc::new(CommittedBatch::of(seqs.iter().copied().map(event).collect()))
    }

    fn seqs(frame: &Frame) -> Vec<i64> {
        match decode(frame).unwrap() {
            StreamFrame::Events { events } => events.iter().map(|e| e.seq).collect(),
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn live_frames_skip_what_the_first_frame_already_had() {
        let hub = Hub::new(8);
        let frames = live_frames(hub.subscribe(), 3);
        hub.publish(batch(&[2, 3, 4]));
        hub.publish(batch(&[5]));
        drop(hub);
        let frames: Vec<Frame> = frames.collect().await;
        assert_eq!(frames.iter().map(seqs).collect::<Vec<_>>(), vec![vec![4], vec![5]]);
        assert_eq!(frames[0].id, Some(4));
    }

    #[tokio::test]
    async fn a_listener_that_falls_behind_is_told_to_resync_and_ends() {
        let hub = Hub::new(2);
        let frames = live_frames(hub.subscribe(), 0);
        for seq in 1..=5 {
            hub.publish(batch(&[seq]));
        }
        let frames: Vec<Frame> = frames.collect().await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert!(
            matches!(decode(&frames[0]), Some(StreamFrame::Resync { reason }) if reason.contains("3 batches behind"))
        );
    }

    #[test]
    fn came_from_prefers_the_campaign_then_the_referring_host() {
        assert_eq!(
            came_from(&json!({"campaign": {"source": "google"}, "page": {"referrer": "https://x.com"}})).as_deref(),
            Some("google")
        );
        assert_eq!(
            came_from(&json!({"page": {"referrer": "https://www.bing.com/search?q=a"}})).as_deref(),
            Some("bing.com")
        );
        assert_eq!(came_from(&json!({"page": {"referrer": ""}})), None);
        assert_eq!(came_from(&Value::Null), None);
    }
}
