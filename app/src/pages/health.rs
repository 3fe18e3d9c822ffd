//! Data health (for the engineer who installed Wayline): is data arriving, how late, from
//! clocks how far off, how many duplicates; what was refused and why, with replay; event
//! names no journey knows and property keys that appeared or disappeared.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_use_interval_fn::use_interval_fn;

use crate::{
    auth::Role,
    format::{count, duration, percent},
    server_fns::{load_health, replay_dead_letter},
    time::{clock_time, Hydrated},
    types::DataHealth,
    WithRole,
};

/// Milliseconds as a duration, or a dash when there is nothing to measure.
pub fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms.abs() < 1_000.0 => format!("{ms:.0} ms"),
        Some(ms) if ms < 0.0 => format!("−{}", duration(-ms / 1_000.0)),
        Some(ms) => duration(ms / 1_000.0),
    }
}

/// The share of duplicates among everything received since start.
pub fn duplicate_rate(view: &DataHealth) -> String {
    let received = view.report.stored_since_start + view.report.duplicates_since_start;
    if received == 0 {
        "—".into()
    } else {
        percent(view.report.duplicates_since_start as f64 / received as f64)
    }
}

/// How often the page reads the report again.
const REFRESH_MS: u64 = 15_000;

#[component]
pub fn HealthPage() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let health = Resource::new(move || version.get(), |_| load_health());
    // Read again every few seconds, so the page shows the data arriving as it does.
    let _ticker = use_interval_fn(move || version.update(|v| *v += 1), REFRESH_MS);
    let replay = Action::new(|id: &i64| replay_dead_letter(*id));
    Effect::new(move |_| {
        if matches!(replay.value().get(), Some(Ok(()))) {
            version.update(|v| *v += 1);
        }
    });
    let replay_error = move || replay.value().get().and_then(Result::err).map(|e| e.to_string());
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = Signal::derive(move || hydrated.map(|h| h.get()).unwrap_or(false));

    view! {
        <Title text="Data health" />
        <section class="page health-page">
            <header class="page-header">
                <div>
                    <h1>"Data health"</h1>
                    <p class="lede">"Is the data arriving, on time, once, and as the journeys expect?"</p>
                </div>
                <div class="toolbar">
                    <span class="muted">{format!("updates every {} s", REFRESH_MS / 1000)}</span>
                    <button class="button" on:click=move |_| version.update(|v| *v += 1)>"Refresh"</button>
                </div>
            </header>
            {move || replay_error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Checking the data…"</p> }>
                {move || Suspend::new(async move {
                    match health.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(h) => {
                            let rate = duplicate_rate(&h);
                            view! {
                                <div class="tiles" data-testid="health-tiles">
                                    <div class="tile"><span class="tile-value">{count(h.report.events_last_hour)}</span><span class="tile-label">"events received in the last hour (by arrival: back-filled history counts)"</span></div>
                                    <div class="tile"><span class="tile-value">{millis(h.report.lag_p50_ms)}</span><span class="tile-label">{format!("ingestion lag, median (p95 {})", millis(h.report.lag_p95_ms))}</span></div>
                                    <div class="tile"><span class="tile-value">{millis(h.report.skew_p50_ms)}</span><span class="tile-label">{format!("client clock skew, median (p95 ±{})", millis(h.report.skew_p95_abs_ms))}</span></div>
                                    <div class="tile"><span class="tile-value" data-testid="duplicate-rate">{rate}</span><span class="tile-label">{format!("duplicates since start ({} of {})", count(h.report.duplicates_since_start), count(h.report.stored_since_start + h.report.duplicates_since_start))}</span></div>
                                </div>
                                <figure class="chart">
                                    <figcaption>"Events per hour by source, last 24 hours"</figcaption>
                                    <div role="img" aria-label=volume_label(&h.report.volume) inner_html=h.volume_svg.clone()></div>
                                </figure>
                                <section class="panel" aria-labelledby="dead-letters">
                                    <h2 id="dead-letters">"Refused events (dead letters)"</h2>
                                    {if h.dead_letters.is_empty() {
                                        view! { <p class="empty-note">"Nothing refused. Every event sent so far was valid."</p> }.into_any()
                                    } else {
                                        view! {
                                            <table class="event-table" data-testid="dead-letters">
                                                <thead><tr><th scope="col">"Received"</th><th scope="col">"Why"</th><th scope="col">"Payload"</th><th scope="col"></th></tr></thead>
                                                <tbody>
                                                    {h.dead_letters.into_iter().map(|d| {
                                                        let (id, replayed_at, d) = (d.id, d.replayed_at, d.letter);
                                                        let at = d.received_at;
                                                        view! {
                                                            <tr>
                                                                <td class="num"><time>{move || clock_time(at, local_times.get())}</time></td>
                                                                <td><strong>{d.reason_code.clone()}</strong><br />{d.reason.clone()}</td>
                                                                <td class="props" title=d.payload.clone()>{d.payload.clone()}</td>
                                                                <td>
                                                                    {match replayed_at {
                                                                        Some(_) => view! { <span class="num">"replayed"</span> }.into_any(),
                                                                        None => view! {
                                                                            <WithRole at_least=Role::Admin>
                                                                                <button class="button" aria-label=format!("Replay refused event {id}") on:click=move |_| { replay.dispatch(id); }>"Replay"</button>
                                                                            </WithRole>
                                                                        }.into_any(),
                                                                    }}
                                                                </td>
                                                            </tr>
                                                        }
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        }.into_any()
                                    }}
                                </section>
                                <div class="two-columns">
                                    <section class="panel" aria-labelledby="unknown-names">
                                        <h2 id="unknown-names">"Event names no journey stage knows"</h2>
                                        <p class="map-legend">"Last 7 days. Add them to a stage in the journey, or fix the sender's spelling."</p>
                                        {h.report.unknown_names.is_empty().then(|| view! { <p class="empty-note">"None: every event name belongs to a stage."</p> })}
                                        <ul class="plain-list" data-testid="unknown-names">
                                            {h.report.unknown_names.iter().map(|n| view! { <li><code>{n.event.clone()}</code>{format!(" · {}", count(n.events))}</li> }).collect_view()}
                                        </ul>
                                    </section>
                                    <section class="panel" aria-labelledby="drift">
                                        <h2 id="drift">"Property drift"</h2>
                                        <p class="map-legend">"Keys that appeared in the last day, or were seen in the week before and not since."</p>
                                        {h.report.drift.is_empty().then(|| view! { <p class="empty-note">"No keys appeared or disappeared."</p> })}
                                        <ul class="plain-list" data-testid="drift">
                                            {h.report.drift.iter().map(|d| view! {
                                                <li><code>{format!("{}.{}", d.event, d.key)}</code>{format!(" · {}", d.change.as_str())}</li>
                                            }).collect_view()}
                                        </ul>
                                    </section>
                                </div>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// The volume chart in words: each source's events over the day.
fn volume_label(volume: &[crate::types::SourceHour]) -> String {
    let mut by_source: Vec<(String, u64)> = Vec::new();
    for hour in volume {
        match by_source.iter_mut().find(|(s, _)| *s == hour.source_id) {
            Some((_, events)) => *events += hour.events,
            None => by_source.push((hour.source_id.clone(), hour.events)),
        }
    }
    if by_source.is_empty() {
        return "Events per hour by source, last 24 hours: none".into();
    }
    let each: Vec<String> = by_source.iter().map(|(s, n)| format!("{s} {}", count(*n))).collect();
    format!("Events per hour by source, last 24 hours; in all: {}", each.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_read_as_durations() {
        assert_eq!(millis(None), "—");
        assert_eq!(millis(Some(250.0)), "250 ms");
        assert_eq!(millis(Some(4_000.0)), "4 s");
        assert_eq!(millis(Some(-90_000.0)), "−2 min");
    }
}
