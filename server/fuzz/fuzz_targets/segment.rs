//! Segment request bodies, single messages and batches, as ingestion reads them before it
//! stores anything: whatever the bytes, no panic; every message is an event with an identity
//! or a refusal with a code and a sentence; a batch's messages keep their places.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use server::ingest::{parse_body, read_messages, Arrival, CallType, Endpoint, Limits};

/// The endpoint is chosen by the first byte, so one corpus covers every route.
fn endpoint(selector: u8) -> Endpoint {
    match selector % 7 {
        0 => Endpoint::Single(CallType::Track),
        1 => Endpoint::Single(CallType::Page),
        2 => Endpoint::Single(CallType::Screen),
        3 => Endpoint::Single(CallType::Identify),
        4 => Endpoint::Single(CallType::Group),
        5 => Endpoint::Single(CallType::Alias),
        _ => Endpoint::Batch,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let endpoint = endpoint(selector);
    let limits = Limits::default();
    let arrival =
        Arrival { source_id: "fuzz".into(), received_at: Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap() };
    let Ok(parsed) = parse_body(endpoint, body, &limits) else { return };
    let messages = read_messages(endpoint, &parsed, &arrival, &limits);
    let mut last_index = None;
    for message in &messages {
        if let Some(index) = message.index {
            assert!(last_index.is_none_or(|last| index > last), "batch messages out of place");
            last_index = Some(index);
        }
        match &message.event {
            Ok(event) => {
                let has = |id: &Option<String>| id.as_deref().is_some_and(|id| !id.is_empty());
                assert!(has(&event.user_id) || has(&event.anonymous_id), "an event without an identity: {event:?}");
                assert!(!event.message_id.is_empty(), "an event without a messageId");
                assert!(!event.kind.is_empty());
            }
            Err(rejection) => {
                assert!(!rejection.code.is_empty() && !rejection.message.is_empty(), "{rejection:?}");
            }
        }
    }
});
