//! The journey map (home, for marketers): the journey's stages left to right, each with its
//! live count of active sessions and median time in stage, the conversion between stages
//! and the drop-off drawn so the worst leak stands out. Counts move over SSE; the range,
//! the journey and the selected stage are in the URL.

use codee::string::JsonSerdeCodec;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_use_event_source::{
    use_event_source_with_options, ConnectionReadyState, ReconnectLimit, UseEventSourceOptions, UseEventSourceReturn,
};
use leptos_use_interval_fn::use_interval_fn;

use crate::{
    format::{count, duration, percent},
    range::{PickedDates, RangeFields},
    server_fns::{load_journey_map, load_leak_by_channel, stage_customers},
    types::{Dropoff, JourneyMap, StageOccupancy, STAGE_PAGE_SIZE},
};

/// The ranges the map offers, in days.
pub const RANGES: [u32; 4] = [1, 7, 30, 90];
const DEFAULT_DAYS: u32 = 7;

/// One stage as drawn: its live numbers and the transition to the next stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageCard {
    pub name: String,
    pub events: Vec<String>,
    pub active: u64,
    pub median_seconds: Option<f64>,
    /// To the next stage, if any.
    pub next: Option<Link>,
}

/// Moving on from one stage to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub reached: u64,
    pub continued: u64,
    pub left: u64,
    pub left_share: f64,
    /// Whether the transition is on the journey's expected path.
    pub expected: bool,
    /// The transition losing the most customers.
    pub worst: bool,
    /// Who left, as a share of the most any transition lost (0–1): the red's thickness, so
    /// the thickest red is the "Biggest leak" badge's, both by head-count.
    pub left_scale: f64,
    /// The share who continued in the period before, when comparing.
    pub continued_before: Option<f64>,
}

/// The map's cards from the journey, its transitions and the live counts: the worst leak is
/// the transition that loses the most customers (ties: the larger share).
pub fn stage_cards(map: &JourneyMap, live: &[StageOccupancy]) -> Vec<StageCard> {
    let worst = crate::types::biggest_leak(&map.transitions);
    let most_left = map.transitions.iter().map(|t| t.left).max().unwrap_or(0);
    map.journey
        .stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let counted = live.iter().find(|c| c.stage == stage.name);
            let next = map.transitions.get(i).filter(|t| t.from_stage == stage.name).map(|t: &Dropoff| Link {
                reached: t.reached,
                continued: t.reached.saturating_sub(t.left),
                left: t.left,
                left_share: t.left_share,
                expected: map.journey.expected_path.iter().any(|(a, b)| *a == t.from_stage && *b == t.to_stage),
                worst: worst == Some(i),
                left_scale: if most_left == 0 { 0.0 } else { t.left as f64 / most_left as f64 },
                continued_before: map.previous.as_ref().and_then(|p| {
                    let before =
                        p.transitions.iter().find(|b| b.from_stage == t.from_stage && b.to_stage == t.to_stage)?;
                    (before.reached > 0).then_some(1.0 - before.left_share)
                }),
            });
            StageCard {
                name: stage.name.clone(),
                events: stage.events.clone(),
                active: counted.map_or(0, |c| c.active_sessions),
                median_seconds: counted.and_then(|c| c.median_seconds_in_stage),
                next,
            }
        })
        .collect()
}

/// What the map shows, all in its URL: the journey, the range, and the channel (if any) whose
/// customers it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct MapFilters {
    pub journey: String,
    pub days: u32,
    pub channel: Option<String>,
    /// Days picked on the calendar instead of `days`, and the comparison.
    pub dates: PickedDates,
}

impl MapFilters {
    /// The filters from the page's query string (unknown ranges fall back to the default).
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        MapFilters {
            journey: get("journey").filter(|j| !j.is_empty()).unwrap_or_else(|| "default".into()),
            days: get("days")
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|d| RANGES.contains(d))
                .unwrap_or(DEFAULT_DAYS),
            channel: get("channel").filter(|c| !c.is_empty()),
            dates: PickedDates::from_query(get),
        }
    }

    /// The map's URL with these filters (and, optionally, a stage's customers listed).
    pub fn href(&self, stage: Option<&str>) -> String {
        let mut href = format!("/?journey={}&days={}", encode(&self.journey), self.days);
        if let Some(channel) = &self.channel {
            href.push_str(&format!("&channel={}", encode(channel)));
        }
        href.push_str(&self.dates.query());
        if let Some(stage) = stage {
            href.push_str(&format!("&stage={}", encode(stage)));
        }
        href
    }

    /// The same filters with another journey, range or channel.
    fn with(&self, change: impl FnOnce(&mut MapFilters)) -> MapFilters {
        let mut changed = self.clone();
        change(&mut changed);
        changed
    }

    /// The live stage counts' stream for these filters.
    pub fn stream_url(&self) -> String {
        let mut url = format!("/api/v1/stream/stages?journey={}", encode(&self.journey));
        if let Some(channel) = &self.channel {
            url.push_str(&format!("&channel={}", encode(channel)));
        }
        url
    }
}

/// Percent-encodes what a query value cannot hold as is.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The address's key for the first row of the stage's list shown.
const STAGE_FROM: &str = "stage_from";

/// How often the list of who is in the selected stage is read again.
const STAGE_LIST_REFRESH_MS: u64 = 10_000;

#[component]
pub fn JourneyMapPage() -> impl IntoView {
    let query = use_query_map();
    let filters = Memo::new(move |_| MapFilters::from_query(|key| query.read().get(key)));
    let selected = move || query.read().get("stage").filter(|s| !s.is_empty());
    let map = Resource::new(move || filters.get(), |f| load_journey_map(Some(f.journey), f.days, f.channel, f.dates));
    // The biggest leak by channel is asked for once the map has named it, so the map never
    // waits for that extra scan.
    let worst = RwSignal::new(None::<(String, String)>);
    Effect::new(move |_| {
        if let Some(Ok(data)) = map.get() {
            let found = crate::types::biggest_leak(&data.transitions)
                .map(|i| (data.transitions[i].from_stage.clone(), data.range.label()));
            worst.set(found);
        }
    });
    let leak = Resource::new(
        move || (filters.get(), worst.get()),
        |(f, worst)| async move {
            match worst {
                Some((from_stage, range)) => {
                    load_leak_by_channel(Some(f.journey), from_stage, f.days, f.channel, f.dates)
                        .await
                        .map(|leak| Some((leak, range)))
                }
                None => Ok(None),
            }
        },
    );
    // The page of the stage's list (`from` is the range's first day).
    let from = move || query.read().get(STAGE_FROM).and_then(|f| f.parse::<usize>().ok()).unwrap_or(0);
    // The list of who is in the selected stage is read again every few seconds, so it stays
    // as live as the card's count (the Transition keeps the old rows until the new are in).
    let tick = RwSignal::new(0u32);
    let _ticker = use_interval_fn(move || tick.update(|t| *t += 1), STAGE_LIST_REFRESH_MS);
    let in_stage = Resource::new(
        move || (filters.get(), selected(), from(), tick.get()),
        |(f, stage, from, _)| async move {
            match stage {
                Some(stage) => stage_customers(Some(f.journey), stage, f.channel, from).await.map(Some),
                None => Ok(None),
            }
        },
    );

    // Live counts: the stage stream of the journey shown (it reconnects when that changes).
    let live = RwSignal::new(None::<Vec<StageOccupancy>>);
    let UseEventSourceReturn { ready_state, message, .. } =
        use_event_source_with_options::<Vec<StageOccupancy>, JsonSerdeCodec>(
            Signal::derive(move || filters.with(MapFilters::stream_url)),
            UseEventSourceOptions::default()
                .named_events(["stages".to_string()])
                .reconnect_limit(ReconnectLimit::Infinite)
                .reconnect_interval(1000),
        );
    Effect::new(move |_| {
        if let Some(counts) = message.get() {
            live.set(Some(counts.data));
        }
    });
    let chip = move || {
        let (text, class) = match ready_state.get() {
            ConnectionReadyState::Open => ("live", "chip chip-live"),
            _ => ("connecting…", "chip chip-waiting"),
        };
        view! {
            <span class=class role="status" data-testid="connection">
                <span class="chip-dot" aria-hidden="true"></span>
                {text}
            </span>
        }
    };

    view! {
        <Title text="Journey map" />
        <section class="page map-page">
            <header class="page-header">
                <div>
                    <h1>"Journey map"</h1>
                    <p class="lede">
                        "Where customers are right now, and where they leave. Active: an event in the last 30 minutes."
                    </p>
                </div>
                <div class="toolbar">
                    {chip}
                    <nav class="segmented" aria-label="Date range">
                        {move || {
                            RANGES
                                .iter()
                                .map(|&d| {
                                    // A preset is current unless days were picked on the calendar.
                                    let current = filters.with(|f| d == f.days && f.dates.from.is_none() && f.dates.to.is_none());
                                    view! {
                                        <a
                                            href=filters.with(|f| f.with(|f| {
                                                // A preset range replaces days picked on the calendar.
                                                f.days = d;
                                                f.dates = PickedDates { compare: f.dates.compare, ..PickedDates::default() };
                                            }).href(None))
                                            class="segment"
                                            aria-current=current.then_some("true")
                                        >
                                            {if d == 1 { "24 h".to_string() } else { format!("{d} days") }}
                                        </a>
                                    }
                                })
                                .collect_view()
                        }}
                    </nav>
                </div>
            </header>
            <Transition fallback=|| view! { <p class="loading">"Loading the journey…"</p> }>
                {move || Suspend::new(async move {
                    match map.await {
                        Err(e) => {
                            view! {
                                <p class="error-state" role="alert">{format!("Could not load the journey map: {e}")}</p>
                            }
                                .into_any()
                        }
                        Ok(data) => view! { <MapView data live filters=filters.get_untracked() selected=Signal::derive(selected) /> }.into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match leak.await {
                        Ok(Some((leak, range))) if !leak.channels.is_empty() => view! { <LeakByChannel leak range /> }.into_any(),
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Transition>
            {move || {
                selected()
                    .map(|stage| {
                        view! {
                            <section class="panel" aria-labelledby="in-stage" data-testid="stage-customers">
                                <h2 id="in-stage">{format!("In {stage} now")}</h2>
                                <p class="map-legend">{format!("Sessions active in the last 30 minutes, longest in the stage first; read again every {} s.", STAGE_LIST_REFRESH_MS / 1000)}</p>
                                <Transition fallback=|| view! { <p class="loading">"Finding customers…"</p> }>
                                    {move || { let stage = stage.clone(); Suspend::new(async move {
                                        match in_stage.await {
                                            Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                                            Ok(None) => ().into_any(),
                                            Ok(Some(page)) if page.customers.is_empty() => {
                                                view! {
                                                    <p class="empty-note">
                                                        "Nobody is in this stage right now. Pick a stage with active sessions."
                                                    </p>
                                                }
                                                    .into_any()
                                            }
                                            Ok(Some(page)) => {
                                                let stage_href = filters.with_untracked(|f| f.href(Some(&stage)));
                                                let (first, shown, total) = (page.offset, page.customers.len(), page.total);
                                                let newer = (first > 0).then(|| format!("{stage_href}&{STAGE_FROM}={}", first.saturating_sub(STAGE_PAGE_SIZE)));
                                                let older = ((first + shown) < total as usize).then(|| format!("{stage_href}&{STAGE_FROM}={}", first + shown));
                                                let list = page.customers;
                                                view! {
                                                    <nav class="pager" aria-label="Pages">
                                                        <span class="num" data-testid="stage-range">{format!("{}–{} of {}", first + 1, first + shown, count(total))}</span>
                                                        {newer.map(|href| view! { <a class="button" href=href rel="prev">"← Longer there"</a> })}
                                                        {older.map(|href| view! { <a class="button" href=href rel="next" data-testid="stage-next">"More →"</a> })}
                                                    </nav>
                                                    <table class="event-table">
                                                        <thead>
                                                            <tr>
                                                                <th scope="col">"Customer"</th>
                                                                <th scope="col">"In this stage for"</th>
                                                            </tr>
                                                        </thead>
                                                        <tbody>
                                                            {list
                                                                .into_iter()
                                                                .map(|c| {
                                                                    view! {
                                                                        <tr>
                                                                            <td class="customer">
                                                                                <a href=format!("/customers/{}", encode(&c.customer_id))>
                                                                                    {c.customer_id.clone()}
                                                                                </a>
                                                                            </td>
                                                                            <td class="num">{duration(c.seconds_in_stage)}</td>
                                                                        </tr>
                                                                    }
                                                                })
                                                                .collect_view()}
                                                        </tbody>
                                                    </table>
                                                }
                                                    .into_any()
                                            }
                                        }
                                    })}}
                                </Transition>
                            </section>
                        }
                    })
            }}
        </section>
    }
}

/// The stages and links of one journey.
#[component]
fn MapView(
    data: JourneyMap,
    live: RwSignal<Option<Vec<StageOccupancy>>>,
    filters: MapFilters,
    selected: Signal<Option<String>>,
) -> impl IntoView {
    let first_counts = data.occupancy.clone();
    let others: Vec<String> = data.journeys.iter().filter(|j| **j != filters.journey).cloned().collect();
    let channels = data.channels.clone();
    let expected: Vec<String> = data.journey.expected_path.iter().map(|(a, b)| format!("{a} → {b}")).collect();
    let none_in_range = data.transitions.iter().all(|t| t.reached == 0);
    let nobody_now = first_counts.iter().all(|c| c.active_sessions == 0);
    // The range's numbers load with the page; the live counts may show the first customers.
    let no_traffic = move || {
        none_in_range && live.with(|l| l.as_ref().map_or(nobody_now, |l| l.iter().all(|c| c.active_sessions == 0)))
    };
    let range = match &data.previous {
        Some(before) => format!("in {} (UTC; compared with {})", data.range.label(), before.range.label()),
        None => format!("in {} (UTC)", data.range.label()),
    };
    let cards = move || live.with(|counts| stage_cards(&data, counts.as_deref().unwrap_or(&first_counts)));
    let stage_filters = filters.clone();
    let other_filters = filters.clone();
    let narrowed = filters.channel.clone();
    view! {
        <ChannelFilter channels filters=filters.clone() />
        {move || no_traffic().then(|| match narrowed.clone() {
            Some(channel) => view! {
                <div class="empty-state" data-testid="map-empty">
                    <h2>{format!("No customers from “{channel}” in this range yet")}</h2>
                    <p>
                        "Pick another channel or a longer range, or show "
                        <a href=other_filters.with(|f| f.channel = None).href(None)>"every channel"</a> "."
                    </p>
                </div>
            }
                .into_any(),
            None => view! {
                <div class="empty-state" data-testid="map-empty">
                    <h2>"No customers in this range yet"</h2>
                    <p>
                        "Send events named like the stages' events (listed on each stage), or start the demo with "
                        <code>"scripts/demo.sh"</code> ". Counts appear here as they arrive."
                    </p>
                </div>
            }
                .into_any(),
        })}
        <div class="journey-map" data-testid="journey-map" role="list">
            {move || {
                cards()
                    .into_iter()
                    .map(|card| {
                        let href = stage_filters.href(Some(&card.name));
                        let label = format!(
                            "{}: {} active sessions; list them",
                            card.name,
                            count(card.active),
                        );
                        let link = card.next.clone();
                        view! {
                            <div class="map-step" role="listitem">
                                <a
                                    class="stage-card"
                                    class:selected={
                                        let name = card.name.clone();
                                        move || selected.with(|s| s.as_deref() == Some(name.as_str()))
                                    }
                                    aria-current={
                                        let name = card.name.clone();
                                        move || selected.with(|s| s.as_deref() == Some(name.as_str())).then_some("true")
                                    }
                                    href=href
                                    aria-label=label
                                    data-stage=card.name.clone()
                                >
                                    <span class="stage-name">{card.name.clone()}</span>
                                    <span class="stage-count" data-testid="stage-count">{count(card.active)}</span>
                                    <span class="stage-caption">"active sessions"</span>
                                    <span class="stage-time">
                                        {card
                                            .median_seconds
                                            .map(|s| format!("median {} in stage", duration(s)))
                                            .unwrap_or_else(|| "nobody here now".into())}
                                    </span>
                                    <span class="stage-events" title=card.events.join(", ")>{card.events.join(" · ")}</span>
                                </a>
                                {link.map(|l| view! { <LinkView link=l /> })}
                            </div>
                        }
                    })
                    .collect_view()
            }}
        </div>
        <p class="map-legend">
            <span class="legend-flow" aria-hidden="true"></span>
            {format!(
                " continued: of the customers who reached a stage {range}, the share who went on to the next within 7 days · "
            )}
            <span class="legend-leak" aria-hidden="true"></span>
            " left: how many did not, by head-count (the thickest red, marked “Biggest leak”, lost the most people). Expected path: "
            {expected.join(", ")}
        </p>
        {(!others.is_empty()).then(|| view! {
            <p class="map-legend">
                "Other journeys: "
                {others
                    .into_iter()
                    .map(|j| view! { <a href=filters.with(|f| f.journey = j.clone()).href(None)>{j.clone()}</a> " " })
                    .collect_view()}
            </p>
        })}
    }
}

/// The channel picker: the map counts only the customers the chosen channel first brought.
/// A GET form, so it works before the page is interactive; once it is, picking a channel is
/// enough.
#[component]
fn ChannelFilter(channels: Vec<String>, filters: MapFilters) -> impl IntoView {
    let navigate = leptos_router::hooks::use_navigate();
    let current = filters.channel.clone().unwrap_or_default();
    let base = filters.clone();
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    view! {
        <form
            class="filter-bar"
            method="get"
            action="/"
            data-testid="channel-filter"
            data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
        >
            <input type="hidden" name="journey" value=filters.journey.clone() />
            <input type="hidden" name="days" value=filters.days.to_string() />
            <label>
                "Channel "
                <select
                    name="channel"
                    data-testid="channel"
                    on:change=move |ev| {
                        let channel = event_target_value(&ev);
                        let href = base.with(|f| f.channel = Some(channel).filter(|c| !c.is_empty())).href(None);
                        navigate(&href, Default::default());
                    }
                >
                    <option value="" selected=current.is_empty()>"every channel"</option>
                    {channels
                        .into_iter()
                        .map(|c| view! { <option value=c.clone() selected=c == current>{c.clone()}</option> })
                        .collect_view()}
                </select>
            </label>
            <RangeFields dates=filters.dates />
            <button class="button" type="submit" data-testid="map-apply">"Apply"</button>
            <span class="map-legend">"A customer's channel is where their first visit came from (UTM tags or referrer)."</span>
        </form>
    }
}

/// Where the customers lost at the biggest leak came from: per first channel, who reached
/// the stage and who left, most left first, with a bar for the share that left.
#[component]
fn LeakByChannel(leak: crate::types::LeakByChannel, range: String) -> impl IntoView {
    let heading = format!("Who leaves between {} and {}, by first channel", leak.from_stage, leak.to_stage);
    let (from_stage, by_channel) = (leak.from_stage, leak.channels);
    view! {
        <section class="panel leak-by-channel" aria-labelledby="leak-by-channel" data-testid="leak-by-channel">
            <h2 id="leak-by-channel">{heading}</h2>
            <p class="map-legend">{format!("The biggest leak, {range} (UTC): of those who reached {from_stage}, how many did not go on, by the channel of their first visit.")}</p>
            <table class="event-table">
                <thead>
                    <tr>
                        <th scope="col">"Channel"</th>
                        <th scope="col">"Reached"</th>
                        <th scope="col">"Left"</th>
                        <th scope="col">"Share who left"</th>
                    </tr>
                </thead>
                <tbody>
                    {by_channel
                        .into_iter()
                        .map(|c| {
                            let share = if c.reached == 0 { 0.0 } else { c.left as f64 / c.reached as f64 };
                            view! {
                                <tr data-channel=c.channel.clone()>
                                    <td>{c.channel.clone()}</td>
                                    <td class="num">{count(c.reached)}</td>
                                    <td class="num" data-testid="leak-left">{count(c.left)}</td>
                                    <td>
                                        <span class="share-bar" aria-hidden="true"><span style=format!("width: {:.0}%", share * 100.0)></span></span>
                                        " "
                                        {percent(share)}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// The arrow to the next stage (thickness: the share who continued) and the drop below it
/// (thickness: how many left, against the most any transition lost), drawn as SVG, with the
/// head-counts written out.
#[component]
fn LinkView(link: Link) -> impl IntoView {
    let conversion = if link.reached == 0 { 0.0 } else { link.continued as f64 / link.reached as f64 };
    let flow_width = 2.0 + 14.0 * conversion;
    let leak_width = 2.0 + 22.0 * link.left_scale;
    let class = if link.worst { "map-link worst" } else { "map-link" };
    let title = format!(
        "{} of {} continued ({}); {} left ({})",
        count(link.continued),
        count(link.reached),
        percent(conversion),
        count(link.left),
        percent(link.left_share)
    );
    view! {
        <div class=class title=title.clone() aria-label=title data-testid="map-link">
            <span class="link-conversion">{if link.reached == 0 { "—".to_string() } else { percent(conversion) }}</span>
            <svg viewBox="0 0 80 90" width="80" height="90" aria-hidden="true" class:unexpected=!link.expected>
                <path class="flow" d="M 0 22 L 66 22" stroke-width=flow_width.to_string() />
                <path class="flow-head" d="M 64 12 L 80 22 L 64 32 Z" />
                <path class="leak" d="M 18 22 C 30 22, 34 40, 34 88" stroke-width=leak_width.to_string() />
            </svg>
            <span class="link-left">
                {if link.reached == 0 {
                    "nobody yet".to_string()
                } else {
                    format!("−{} ({})", count(link.left), percent(link.left_share))
                }}
            </span>
            <span class="link-counts" data-testid="link-counts">
                {(link.reached > 0).then(|| format!("{} of {} on", count(link.continued), count(link.reached)))}
                {link.continued_before.map(|before| format!(" · {} before", percent(before)))}
            </span>
            {link.worst.then(|| view! { <span class="leak-badge">"Biggest leak"</span> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Journey, Stage};

    fn transition(from: &str, to: &str, reached: u64, left: u64) -> Dropoff {
        Dropoff {
            from_stage: from.into(),
            to_stage: to.into(),
            reached,
            left,
            left_share: if reached == 0 { 0.0 } else { left as f64 / reached as f64 },
            median_seconds_before_leaving: None,
            average_seconds_before_leaving: None,
        }
    }

    fn map() -> JourneyMap {
        let stage = |n: &str| Stage { name: n.into(), events: vec![n.to_lowercase()] };
        JourneyMap {
            journey: Journey {
                name: "default".into(),
                stages: vec![stage("Visit"), stage("Cart"), stage("Buy")],
                expected_path: vec![("Visit".into(), "Cart".into())],
            },
            journeys: vec!["default".into()],
            // Visit → Cart loses 60 of 100; Cart → Buy 30 of 40 (a larger share, fewer people).
            transitions: vec![transition("Visit", "Cart", 100, 60), transition("Cart", "Buy", 40, 30)],
            occupancy: vec![StageOccupancy {
                stage: "Cart".into(),
                active_sessions: 3,
                median_seconds_in_stage: Some(90.0),
            }],
            days: 7,
            range: crate::types::Span { from: chrono::DateTime::UNIX_EPOCH, to: chrono::DateTime::UNIX_EPOCH },
            previous: None,
            channel: None,
            channels: vec!["direct".into()],
        }
    }

    #[test]
    fn a_link_shows_the_share_that_continued_in_the_period_before() {
        let mut compared = map();
        // Before: Visit → Cart lost 50 of 100 (50 % continued); Cart → Buy had nobody.
        compared.previous = Some(crate::types::PreviousTransitions {
            range: compared.range,
            transitions: vec![transition("Visit", "Cart", 100, 50), transition("Cart", "Buy", 0, 0)],
        });
        let cards = stage_cards(&compared, &[]);
        assert_eq!(cards[0].next.as_ref().unwrap().continued_before, Some(0.5));
        assert_eq!(cards[1].next.as_ref().unwrap().continued_before, None, "nobody before, nothing to compare");
        assert!(stage_cards(&map(), &[])[0].next.as_ref().unwrap().continued_before.is_none());
    }

    #[test]
    fn the_worst_leak_loses_the_most_customers() {
        let cards = stage_cards(&map(), &map().occupancy);
        let links: Vec<&Link> = cards.iter().filter_map(|c| c.next.as_ref()).collect();
        assert_eq!(links.len(), 2, "the last stage has no next");
        assert!(links[0].worst && !links[1].worst);
        assert_eq!((links[0].continued, links[0].left), (40, 60));
        // The red's thickness follows the head-count, as the badge does, not the share.
        assert_eq!((links[0].left_scale, links[1].left_scale), (1.0, 0.5));
        assert!(links[0].expected && !links[1].expected, "only Visit → Cart is on the expected path");
    }

    #[test]
    fn live_counts_replace_the_first_ones_and_missing_stages_are_zero() {
        let live = vec![StageOccupancy { stage: "Buy".into(), active_sessions: 7, median_seconds_in_stage: Some(5.0) }];
        let cards = stage_cards(&map(), &live);
        assert_eq!(cards.iter().map(|c| c.active).collect::<Vec<_>>(), vec![0, 0, 7]);
        assert_eq!(cards[2].median_seconds, Some(5.0));
    }

    #[test]
    fn no_leak_is_worst_when_nobody_left() {
        let mut quiet = map();
        quiet.transitions = vec![transition("Visit", "Cart", 0, 0), transition("Cart", "Buy", 5, 0)];
        assert!(stage_cards(&quiet, &[]).iter().filter_map(|c| c.next.as_ref()).all(|l| !l.worst));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("Home page/2"), "Home%20page%2F2");
        let all = MapFilters { journey: "default".into(), days: 7, channel: None, dates: PickedDates::default() };
        assert_eq!(all.href(Some("Cart & co")), "/?journey=default&days=7&stage=Cart%20%26%20co");
    }

    #[test]
    fn the_filters_round_trip_through_the_url() {
        let email = MapFilters {
            journey: "b2b".into(),
            days: 30,
            channel: Some("paid search".into()),
            dates: PickedDates::default(),
        };
        let href = email.href(Some("Cart"));
        assert_eq!(href, "/?journey=b2b&days=30&channel=paid%20search&stage=Cart");
        let query: Vec<(&str, String)> = href[2..]
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .map(|(k, v)| (k, v.replace("%20", " ")))
            .collect();
        let back = MapFilters::from_query(|key| query.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
        assert_eq!(back, email);
        assert_eq!(email.stream_url(), "/api/v1/stream/stages?journey=b2b&channel=paid%20search");
        // A range the map does not offer falls back to the default; an empty channel is none.
        let odd = MapFilters::from_query(|key| match key {
            "days" => Some("5".into()),
            "channel" => Some(String::new()),
            _ => None,
        });
        assert_eq!((odd.journey.as_str(), odd.days, odd.channel), ("default", DEFAULT_DAYS, None));
    }
}
