//! The Live page: committed events as they happen, newest first, over SSE.

use codee::string::JsonSerdeCodec;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_use_event_source::{
    use_event_source_with_options, ConnectionReadyState, ReconnectLimit, UseEventSourceOptions, UseEventSourceReturn,
};
use leptos_use_interval_fn::use_interval_fn;

use crate::{
    server_fns::recent_events,
    time::{ago, clock_time, Hydrated},
    types::{LiveEvent, StreamFrame},
};

/// Where the page listens for committed events.
pub const EVENT_STREAM_URL: &str = "/api/v1/stream/events";
/// How many events the page keeps on screen.
const VISIBLE_EVENTS: usize = 200;
/// How many events the server renders into the first page.
const FIRST_PAGE_EVENTS: u32 = 50;

/// Puts newly committed events (oldest first) on top of `shown` (newest first), skipping any
/// already shown, and keeps at most `cap`.
pub fn merge_newest(shown: &mut Vec<LiveEvent>, arrived: Vec<LiveEvent>, cap: usize) {
    let newest_shown = shown.first().map(|e| e.seq).unwrap_or(i64::MIN);
    let mut fresh: Vec<LiveEvent> = arrived.into_iter().filter(|e| e.seq > newest_shown).collect();
    fresh.sort_by_key(|e| std::cmp::Reverse(e.seq));
    fresh.append(shown);
    fresh.truncate(cap);
    *shown = fresh;
}

/// Whether an event passes the page's filter: every word of `filter` must appear
/// (case-insensitive) in its name, call type, customer, where it came from or properties.
pub fn passes(event: &LiveEvent, filter: &str) -> bool {
    let haystack = format!(
        "{} {} {} {} {}",
        event.label(),
        event.kind,
        event.customer(),
        event.came_from.as_deref().unwrap_or(""),
        event.properties
    )
    .to_lowercase();
    filter.split_whitespace().all(|word| haystack.contains(&word.to_lowercase()))
}

/// The connection chip's text and style class.
fn connection_label(state: ConnectionReadyState, ever_open: bool, paused: bool) -> (&'static str, &'static str) {
    match (paused, state) {
        (true, _) => ("paused", "chip chip-paused"),
        (false, ConnectionReadyState::Open) => ("live", "chip chip-live"),
        (false, ConnectionReadyState::Connecting) if !ever_open => ("connecting…", "chip chip-waiting"),
        (false, _) if !ever_open => ("connecting…", "chip chip-waiting"),
        (false, _) => ("reconnecting…", "chip chip-waiting"),
    }
}

#[component]
pub fn LivePage() -> impl IntoView {
    let first_page = Resource::new(|| (), |_| recent_events(FIRST_PAGE_EVENTS));

    // Events on screen (newest first) once the stream has spoken; until then the first page.
    let shown = RwSignal::new(Vec::<LiveEvent>::new());
    let streaming = RwSignal::new(false);
    // While paused, arrivals wait here and the screen holds still.
    let paused = RwSignal::new(false);
    let held = RwSignal::new(Vec::<LiveEvent>::new());
    let ever_open = RwSignal::new(false);
    // Rows newer than this arrived with the latest update and are highlighted once.
    let fresh_after = RwSignal::new(i64::MAX);
    let newest_shown = move || shown.with_untracked(|s| s.first().map(|e| e.seq).unwrap_or(0));
    let last_arrival = RwSignal::new(None::<chrono::DateTime<chrono::Utc>>);
    let now = RwSignal::new(chrono::Utc::now());

    let UseEventSourceReturn { ready_state, message, .. } = use_event_source_with_options::<StreamFrame, JsonSerdeCodec>(
        EVENT_STREAM_URL,
        UseEventSourceOptions::default()
            .named_events(["snapshot".to_string(), "events".to_string(), "resync".to_string()])
            .reconnect_limit(ReconnectLimit::Infinite)
            .reconnect_interval(1000),
    );

    Effect::new(move |_| {
        if ready_state.get() == ConnectionReadyState::Open {
            ever_open.set(true);
        }
    });

    Effect::new(move |_| {
        let Some(frame) = message.get() else { return };
        match frame.data {
            StreamFrame::Snapshot { events } => {
                held.set(Vec::new());
                fresh_after.set(i64::MAX);
                if paused.get_untracked() {
                    held.set(events.into_iter().rev().collect());
                } else {
                    shown.set(events);
                }
                streaming.set(true);
            }
            StreamFrame::Events { events } => {
                last_arrival.set(events.last().map(|e| e.received_at));
                if paused.get_untracked() {
                    held.update(|h| h.extend(events));
                } else {
                    fresh_after.set(newest_shown());
                    shown.update(|s| merge_newest(s, events, VISIBLE_EVENTS));
                }
            }
            // The server closes the stream after this; the reconnect brings a fresh snapshot.
            StreamFrame::Resync { .. } => {}
        }
    });

    let toggle_pause = move |_| {
        if paused.get_untracked() {
            let waiting = std::mem::take(&mut *held.write());
            fresh_after.set(newest_shown());
            shown.update(|s| merge_newest(s, waiting, VISIBLE_EVENTS));
            paused.set(false);
        } else {
            paused.set(true);
        }
    };

    // Keeps "3 s ago" honest between events.
    let _ticker = use_interval_fn(move || now.set(chrono::Utc::now()), 1000);

    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = move || hydrated.map(|h| h.get()).unwrap_or(false);

    let chip = move || {
        let (text, class) = connection_label(ready_state.get(), ever_open.get(), paused.get());
        let since =
            last_arrival.get().map(|at| format!(" · {}", ago((now.get() - at).num_seconds()))).unwrap_or_default();
        view! {
            <span class=class role="status" aria-live="polite" data-testid="connection">
                <span class="chip-dot" aria-hidden="true"></span>
                {text}
                {since}
            </span>
        }
    };

    // Filters what is shown (and what the stream adds) without touching what is kept.
    let filter = RwSignal::new(String::new());
    let all_rows =
        move || if streaming.get() { shown.get() } else { first_page.get().and_then(Result::ok).unwrap_or_default() };
    let rows = move || {
        let f = filter.get();
        all_rows().into_iter().filter(|e| passes(e, &f)).collect::<Vec<_>>()
    };

    view! {
        <Title text="Live events" />
        <section class="page live-page">
            <header class="page-header">
                <div>
                    <h1>"Live events"</h1>
                    <p class="lede">"Every event the moment its write commits, newest first."</p>
                </div>
                <div class="toolbar">
                    <label>
                        <span class="visually-hidden">"Filter events"</span>
                        <input
                            type="search"
                            bind:value=filter
                            placeholder="Filter: event, customer, came from, property"
                            data-testid="live-filter"
                        />
                    </label>
                    {chip}
                    <button
                        class="button"
                        on:click=toggle_pause
                        aria-pressed=move || paused.get().to_string()
                        data-testid="pause"
                    >
                        {move || {
                            if paused.get() {
                                let waiting = held.with(Vec::len);
                                if waiting == 0 {
                                    "Resume".to_string()
                                } else {
                                    format!("Resume · {waiting} new")
                                }
                            } else {
                                "Pause".to_string()
                            }
                        }}
                    </button>
                </div>
            </header>
            <Transition fallback=|| view! { <p class="loading">"Loading the newest events…"</p> }>
                {move || Suspend::new(async move {
                    let first = first_page.await;
                    let error = first.err().map(|e| e.to_string());
                    view! {
                        {error.map(|e| view! {
                            <p class="error-state" role="alert">{format!("Could not load events: {e}")}</p>
                        })}
                        <Show when=move || !all_rows().is_empty() fallback=EmptyStream>
                            <table class="event-table" data-testid="events">
                                <thead>
                                    <tr>
                                        <th scope="col">"Time"</th>
                                        <th scope="col">"Event"</th>
                                        <th scope="col">"Customer"</th>
                                        <th scope="col">"Came from"</th>
                                        <th scope="col">"Properties"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    <For each=rows key=|e| e.seq let:event>
                                        <EventRow
                                            fresh=Signal::derive(move || event.seq > fresh_after.get())
                                            event
                                            local_times=Signal::derive(local_times)
                                        />
                                    </For>
                                </tbody>
                            </table>
                            {move || (rows().is_empty() && !filter.get().is_empty()).then(|| view! {
                                <p class="empty-note" data-testid="no-match">"No event on screen matches the filter."</p>
                            })}
                        </Show>
                    }
                })}
            </Transition>
        </section>
    }
}

/// What the Live page says before any event has arrived.
#[component]
fn EmptyStream() -> impl IntoView {
    view! {
        <div class="empty-state" data-testid="empty">
            <h2>"No events yet"</h2>
            <p>"Send one and it appears here within a second:"</p>
            <pre class="code"><code>{r#"curl -X POST http://127.0.0.1:3000/v1/track \
    -H 'Content-Type: application/json' \
    -d '{"anonymousId":"visitor-1","event":"Product Viewed","properties":{"sku":"A-1"}}'"#}</code></pre>
            <p>"Or start the demo traffic with " <code>"wayline serve --demo"</code> "."</p>
        </div>
    }
}

/// At most this many properties are shown inline per event.
const INLINE_PROPERTIES: usize = 4;

/// `key=value` pairs of the first few properties, strings unquoted.
pub fn property_summary(properties: &serde_json::Value) -> String {
    let Some(map) = properties.as_object() else {
        return String::new();
    };
    let mut parts: Vec<String> = map
        .iter()
        .take(INLINE_PROPERTIES)
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    if map.len() > INLINE_PROPERTIES {
        parts.push(format!("+{} more", map.len() - INLINE_PROPERTIES));
    }
    parts.join("  ")
}

#[component]
fn EventRow(event: LiveEvent, local_times: Signal<bool>, fresh: Signal<bool>) -> impl IntoView {
    let timestamp = event.timestamp;
    let iso = timestamp.to_rfc3339();
    let kind_class = format!("kind kind-{}", event.kind);
    let summary = property_summary(&event.properties);
    view! {
        <tr class="event-row" class:fresh=fresh data-seq=event.seq>
            <td class="num">
                <time datetime=iso>{move || clock_time(timestamp, local_times.get())}</time>
            </td>
            <td>
                <span class=kind_class>{event.kind.clone()}</span>
                " "
                <strong class="event-name">{event.label().to_string()}</strong>
            </td>
            <td class="customer">{event.customer().to_string()}</td>
            <td>{event.came_from.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="props" title=summary.clone()>{summary.clone()}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn ev(seq: i64) -> LiveEvent {
        LiveEvent {
            seq,
            message_id: format!("m{seq}"),
            source_id: "s".into(),
            kind: "track".into(),
            name: Some("x".into()),
            anonymous_id: Some("a".into()),
            user_id: None,
            timestamp: DateTime::UNIX_EPOCH,
            received_at: DateTime::UNIX_EPOCH,
            properties: serde_json::Value::Null,
            came_from: None,
        }
    }

    fn seqs(events: &[LiveEvent]) -> Vec<i64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn merge_puts_new_events_on_top_and_skips_ones_already_shown() {
        let mut shown = vec![ev(5), ev(4)];
        merge_newest(&mut shown, vec![ev(5), ev(6), ev(7)], 10);
        assert_eq!(seqs(&shown), vec![7, 6, 5, 4]);
    }

    #[test]
    fn the_filter_needs_every_word_somewhere_in_the_event() {
        let mut e = ev(1);
        e.name = Some("Checkout Started".into());
        e.came_from = Some("newsletter".into());
        e.properties = serde_json::json!({ "value": 129 });
        assert!(passes(&e, ""));
        assert!(passes(&e, "checkout NEWSLETTER"));
        assert!(passes(&e, "129 a"), "the customer is the anonymous id a");
        assert!(!passes(&e, "checkout google"));
    }

    #[test]
    fn merge_keeps_at_most_cap() {
        let mut shown = vec![ev(2), ev(1)];
        merge_newest(&mut shown, vec![ev(3)], 2);
        assert_eq!(seqs(&shown), vec![3, 2]);
    }

    #[test]
    fn property_summary_shows_a_few_pairs_and_counts_the_rest() {
        let props = serde_json::json!({"a": "x", "b": 2, "c": true, "d": null, "e": 1});
        assert_eq!(property_summary(&props), "a=x  b=2  c=true  d=null  +1 more");
        assert_eq!(property_summary(&serde_json::Value::Null), "");
    }

    #[test]
    fn connection_label_tells_first_connect_from_reconnect() {
        assert_eq!(connection_label(ConnectionReadyState::Closed, false, false).0, "connecting…");
        assert_eq!(connection_label(ConnectionReadyState::Closed, true, false).0, "reconnecting…");
        assert_eq!(connection_label(ConnectionReadyState::Open, true, false).0, "live");
        assert_eq!(connection_label(ConnectionReadyState::Open, true, true).0, "paused");
    }
}
