//! Funnels (for product owners): a builder for steps, window, order mode, range, exclusions,
//! breakdown and a property held constant, all in the URL so a funnel can be shared and
//! bookmarked; the step bars, time to convert and conversion trend drawn by plotters (SVG,
//! on the server); who dropped after each step, leading to the customers; funnels saved under a
//! name; CSV, SVG and PNG export.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::Role,
    export::csv_cell,
    format::{count, counted, duration, percent},
    pages::journey_map::encode,
    pick::{self, SeenLists, UnseenSteps},
    range::{PickedDates, RangeFields},
    server_fns::{delete_saved_funnel, list_saved_funnels, load_funnel, load_funnel_dropped, save_funnel},
    types::{DroppedPage, FunnelAnswer, FunnelParams, OrderMode, SavedFunnel, TrendPeriod, DROPPED_PAGE_SIZE},
    WithRole,
};

/// A funnel to start from, with the events the demo and the snippet send.
pub const EXAMPLE_STEPS: &str = "product_viewed,added_to_cart,checkout_started,purchase_completed";
const WINDOWS: [(i64, &str); 4] =
    [(3_600, "1 hour"), (86_400, "1 day"), (7 * 86_400, "7 days"), (30 * 86_400, "30 days")];
const MODES: [(OrderMode, &str); 3] = [
    (OrderMode::Sequential, "in order, others between"),
    (OrderMode::Strict, "in order, nothing between"),
    (OrderMode::Any, "any order"),
];
const RANGES: [u32; 4] = [1, 7, 30, 90];

/// The builder's state from the page's query string.
pub fn params_from(get: impl Fn(&str) -> Option<String>) -> FunnelParams {
    let defaults = FunnelParams::default();
    FunnelParams {
        // A first visit (no steps in the address at all) shows the shop funnel; `steps=` asks
        // for an empty builder.
        steps: get("steps").unwrap_or_else(|| EXAMPLE_STEPS.to_string()),
        window_seconds: get("window").and_then(|w| w.parse().ok()).unwrap_or(defaults.window_seconds),
        mode: get("mode").and_then(|m| OrderMode::parse(&m)).unwrap_or(defaults.mode),
        days: get("days").and_then(|d| d.parse().ok()).filter(|d| (1..=365).contains(d)).unwrap_or(defaults.days),
        exclude: get("exclude").unwrap_or_default(),
        breakdown: get("breakdown").unwrap_or_default(),
        hold: get("hold").unwrap_or_default(),
        trend: get("trend").and_then(|t| TrendPeriod::parse(&t)).unwrap_or(defaults.trend),
        channel: get("channel").unwrap_or_default(),
        skip_page_views: get(NO_PAGE_VIEWS).is_some_and(|v| v == "1"),
        ..dated(PickedDates::from_query(get))
    }
}

/// A funnel's defaults with the days picked on the calendar.
fn dated(dates: PickedDates) -> FunnelParams {
    FunnelParams { from: dates.from, to: dates.to, compare: dates.compare, ..FunnelParams::default() }
}

/// The address's switch (a checkbox) that leaves page views out.
pub const NO_PAGE_VIEWS: &str = "no_page_views";

/// The page's URL for `params` (and, optionally, the step whose drop-offs are open).
pub fn funnel_href(params: &FunnelParams, dropped: Option<usize>) -> String {
    let mut href = format!(
        "/funnels?steps={}&window={}&mode={}&days={}&exclude={}&breakdown={}&hold={}&trend={}&channel={}",
        encode(&params.steps),
        params.window_seconds,
        params.mode.as_str(),
        params.days,
        encode(&params.exclude),
        encode(&params.breakdown),
        encode(&params.hold),
        params.trend.as_str(),
        encode(&params.channel)
    );
    if params.skip_page_views {
        href.push_str(&format!("&{NO_PAGE_VIEWS}=1"));
    }
    href.push_str(&PickedDates { from: params.from, to: params.to, compare: params.compare }.query());
    if let Some(step) = dropped {
        href.push_str(&format!("&dropped={step}"));
    }
    href
}

/// A step against the same step in the period before: its customers then, and how its
/// conversion from step 1 moved, in percentage points.
pub fn compared(now: &crate::types::StepResult, before: Option<&crate::types::StepResult>) -> String {
    let Some(before) = before else { return "—".into() };
    if now.step == 1 {
        let change = now.customers as f64 - before.customers as f64;
        return match before.customers {
            0 => format!("{} (none before)", count(before.customers)),
            n => format!("{} ({:+.0}%)", count(n), change / n as f64 * 100.0),
        };
    }
    let points = (now.conversion_from_first - before.conversion_from_first) * 100.0;
    format!("{} · {} ({points:+.1} pts)", count(before.customers), percent(before.conversion_from_first))
}

/// The funnel's steps (and breakdown rows) as CSV.
pub fn funnel_csv(view: &FunnelAnswer) -> String {
    let mut csv =
        String::from("group,step,event,customers,conversion_from_first,conversion_from_previous,median_seconds\n");
    let mut rows = |group: &str, steps: &[crate::types::StepResult]| {
        for s in steps {
            csv.push_str(&format!(
                "{},{},{},{},{:.4},{:.4},{}\n",
                csv_cell(group),
                s.step,
                csv_cell(&s.event),
                s.customers,
                s.conversion_from_first,
                s.conversion_from_previous,
                s.median_seconds.map(|m| format!("{m:.0}")).unwrap_or_default()
            ));
        }
    };
    rows("all", &view.funnel.steps);
    for group in &view.funnel.breakdown {
        rows(&group.value, &group.steps);
    }
    csv
}

#[component]
pub fn FunnelsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| {
        let query = query.read();
        // The builder sends one `step` per field; a shared link has them in `steps`.
        let fields = query.get_all("step").map(|steps| join_steps(&steps));
        params_from(|key| match key {
            "steps" => query.get("steps").or_else(|| fields.clone()),
            other => query.get(other),
        })
    });
    let dropped_step = move || query.read().get("dropped").and_then(|d| d.parse::<usize>().ok());
    let dropped_from = move || query.read().get("dropped_from").and_then(|d| d.parse::<usize>().ok()).unwrap_or(0);
    let funnel = Resource::new(
        move || params.get(),
        |p| async move {
            if p.steps.split(',').filter(|s| !s.trim().is_empty()).count() < 2 {
                return Ok(None);
            }
            load_funnel(p).await.map(Some)
        },
    );
    // Saved funnels reload after each save or delete.
    let saved_version = RwSignal::new(0u32);
    let saved = Resource::new(move || saved_version.get(), |_| list_saved_funnels());
    let delete = Action::new(|name: &String| delete_saved_funnel(name.clone()));
    Effect::new(move |_| {
        if matches!(delete.value().get(), Some(Ok(_))) {
            saved_version.update(|v| *v += 1);
        }
    });
    let dropped = Resource::new(
        move || (params.get(), dropped_step(), dropped_from()),
        |(p, step, from)| async move {
            match step {
                Some(step) => load_funnel_dropped(p, step, from).await.map(Some),
                None => Ok(None),
            }
        },
    );

    view! {
        <Title text="Funnels" />
        <section class="page funnels-page">
            <header class="page-header">
                <div>
                    <h1>"Funnels"</h1>
                    <p class="lede">"How many customers get through each step, how fast, and who drops out."</p>
                </div>
            </header>
            <Transition fallback=|| view! { <p class="loading">"Loading the saved funnels…"</p> }>
                {move || Suspend::new(async move {
                    match saved.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) => view! { <SavedFunnelList list current=params.get() delete /> }.into_any(),
                    }
                })}
            </Transition>
            <Builder params />
            <Transition fallback=|| view! { <p class="loading">"Counting customers…"</p> }>
                {move || Suspend::new(async move {
                    match funnel.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! {
                            <div class="empty-state" data-testid="funnel-empty">
                                <h2>"Pick at least two steps"</h2>
                                <p>
                                    "Type the events in order, separated by commas, or "
                                    <a href=funnel_href(&FunnelParams { steps: EXAMPLE_STEPS.into(), ..Default::default() }, None)>
                                        "start from the shop funnel"
                                    </a>
                                    ". A step may be " <code>"name[key=value]"</code> " and " <code>"a|b"</code>
                                    " accepts either event."
                                </p>
                            </div>
                        }
                            .into_any(),
                        Ok(Some(view)) => view! {
                            <WithRole at_least=Role::Analyst>
                                <SaveFunnelForm params=params.get_untracked() saved_version />
                            </WithRole>
                            <FunnelResultView view params=params.get_untracked() open_step=dropped_step() />
                        }
                            .into_any(),
                    }
                })}
            </Transition>
            // Who dropped opens right under the steps' table, before the charts.
            {move || dropped_step().map(|step| view! {
                <section class="panel" aria-labelledby="dropped" data-testid="dropped">
                    <h2 id="dropped">{format!("Reached step {step} but not step {}", step + 1)}</h2>
                    <Transition fallback=|| view! { <p class="loading">"Finding who dropped…"</p> }>
                        {move || Suspend::new(async move {
                            match dropped.await {
                                Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                                Ok(None) => ().into_any(),
                                Ok(Some(page)) => {
                                    let here = funnel_href(&params.get_untracked(), Some(step));
                                    let (first, shown, total) = (page.offset, page.customers.len(), page.total);
                                    let newer = (first > 0).then(|| format!("{here}&dropped_from={}", first.saturating_sub(DROPPED_PAGE_SIZE)));
                                    let older = ((first + shown) < total as usize).then(|| format!("{here}&dropped_from={}", first + shown));
                                    let csv = format!("data:text/csv;charset=utf-8,{}", encode(&dropped_csv(&page)));
                                    view! {
                                    <nav class="pager" aria-label="Pages">
                                        <span class="num" data-testid="dropped-range">{if total == 0 { "0".to_string() } else { format!("{}–{} of {}", first + 1, first + shown, count(total)) }}</span>
                                        {newer.map(|href| view! { <a class="button" href=href rel="prev">"← Previous"</a> })}
                                        {older.map(|href| view! { <a class="button" href=href rel="next" data-testid="dropped-next">"Next →"</a> })}
                                        <a class="button" href=csv download=format!("dropped-after-step-{step}.csv") data-testid="dropped-csv">"Export this page (CSV)"</a>
                                    </nav>
                                    <p class="map-legend" data-testid="dropped-split">
                                        {format!(
                                            "{}: {} dropped (their window is over), {} still inside their window and may yet go on. What they did next: ",
                                            counted(page.total, "customer", "customers"),
                                            count(page.total - page.still_in_window),
                                            count(page.still_in_window)
                                        )}
                                        {page.next_events.iter().map(|n| format!("{} ({})", n.event, count(n.customers))).collect::<Vec<_>>().join(", ")}
                                    </p>
                                    <table class="event-table">
                                        <thead><tr><th scope="col">"Customer"</th><th scope="col">"Next event"</th><th scope="col">"Window"</th></tr></thead>
                                        <tbody>
                                            {page.customers.into_iter().map(|c| view! {
                                                <tr data-window=window_word(c.still_in_window)>
                                                    <td class="customer"><a href=format!("/customers/{}", encode(&c.customer_id))>{c.customer_id.clone()}</a></td>
                                                    <td>{c.next_event.unwrap_or_else(|| "nothing since".into())}</td>
                                                    <td>{window_word(c.still_in_window)}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    }
                                    .into_any()
                                }
                            }
                        })}
                    </Transition>
                </section>
            })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match funnel.await {
                        Ok(Some(view)) => view! { <FunnelCharts view params=params.get_untracked() /> }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The saved funnels as links that open them (the one on screen marked), each deletable.
#[component]
fn SavedFunnelList(
    list: Vec<SavedFunnel>,
    current: FunnelParams,
    delete: Action<String, Result<(), crate::error::AppError>>,
) -> impl IntoView {
    if list.is_empty() {
        return view! {
            <p class="map-legend" data-testid="saved-funnels-empty">
                "No saved funnels yet: build one below and save it under a name to find it here."
            </p>
        }
        .into_any();
    }
    let problem = move || delete.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <nav class="saved-funnels" aria-label="Saved funnels" data-testid="saved-funnels">
            <span class="saved-label">"Saved:"</span>
            <ul>
                {list.into_iter().map(|f| {
                    let is_current = f.definition == current;
                    let name = f.name.clone();
                    view! {
                        <li class="saved-funnel" class:current=is_current>
                            <a href=funnel_href(&f.definition, None) aria-current=is_current.then_some("page")>{f.name.clone()}</a>
                            <WithRole at_least=Role::Analyst>
                                <button
                                    class="link-button"
                                    type="button"
                                    aria-label=format!("Delete the saved funnel “{}”", f.name)
                                    on:click={
                                        let name = name.clone();
                                        move |_| { delete.dispatch(name.clone()); }
                                    }
                                >"×"</button>
                            </WithRole>
                        </li>
                    }
                }).collect_view()}
            </ul>
            {move || problem().map(|p| view! { <p class="error-state" role="alert">{p}</p> })}
        </nav>
    }
    .into_any()
}

/// Saves the funnel on screen under a name. Its own action, so "Saved as" belongs to this
/// funnel and goes when another is shown; a save reloads the list (`saved_version`).
#[component]
fn SaveFunnelForm(params: FunnelParams, saved_version: RwSignal<u32>) -> impl IntoView {
    let save = Action::new(|(name, params): &(String, FunnelParams)| save_funnel(name.clone(), params.clone()));
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) {
            saved_version.update(|v| *v += 1);
        }
    });
    let name = RwSignal::new(String::new());
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    let outcome = move || {
        save.value().get().map(|r| match r {
            Ok(saved) => {
                view! { <span class="saved-note" role="status">{format!("Saved as “{saved}”")}</span> }.into_any()
            }
            Err(e) => view! { <span class="error-state" role="alert">{e.to_string()}</span> }.into_any(),
        })
    };
    view! {
        <form
            class="save-funnel"
            data-testid="save-funnel"
            data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
            on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch((name.get_untracked(), params.clone()));
            }
        >
            <label>
                "Save as "
                <input
                    name="name"
                    placeholder="e.g. Checkout, last 30 days"
                    maxlength="80"
                    data-testid="save-name"
                    bind:value=name
                />
            </label>
            <button class="button" type="submit" disabled=move || save.pending().get()>"Save funnel"</button>
            {outcome}
        </form>
    }
}

/// The builder's step fields as the comma-separated steps (empty fields left out).
pub fn join_steps(fields: &[String]) -> String {
    fields.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(",")
}

/// One field per step, each offering the event names seen, with a step added or removed in
/// place; each field may still hold alternatives (`a|b`) and conditions (`a[k=v]`).
#[component]
fn StepFields(initial: String) -> impl IntoView {
    let mut first: Vec<String> = initial.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    while first.len() < 2 {
        first.push(String::new());
    }
    let steps = RwSignal::new(first);
    view! {
        <fieldset class="wide step-fields" data-testid="steps">
            <legend>"Steps, in order"</legend>
            <ol>
                {move || {
                    let count = steps.with(Vec::len);
                    steps
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, value)| {
                            view! {
                                <li>
                                    <input
                                        name="step"
                                        value=value
                                        list=pick::EVENTS
                                        aria-label=format!("Step {}", i + 1)
                                        placeholder=if i == 0 { "e.g. product_viewed" } else { "then…" }
                                        data-testid="step-input"
                                        // Kept without redrawing the fields (typing and Tab keep their
                                        // focus); adding or removing a step redraws them from it.
                                        on:input=move |ev| {
                                            let text = event_target_value(&ev);
                                            steps.update_untracked(|s| if let Some(slot) = s.get_mut(i) { *slot = text });
                                        }
                                    />
                                    {(count > 2).then(|| view! {
                                        <button
                                            type="button"
                                            class="link-button"
                                            aria-label=format!("Remove step {}", i + 1)
                                            on:click=move |_| steps.update(|s| { s.remove(i); })
                                        >
                                            "Remove"
                                        </button>
                                    })}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
            <button
                type="button"
                class="button"
                data-testid="add-step"
                disabled=move || steps.with(|s| s.len() >= MAX_STEPS)
                on:click=move |_| steps.update(|s| s.push(String::new()))
            >
                "Add a step"
            </button>
        </fieldset>
    }
}

/// Most steps the builder offers fields for (the analytics' limit).
const MAX_STEPS: usize = 20;

/// The builder: a plain GET form, so the funnel's URL is its saved, shareable state.
#[component]
fn Builder(params: Memo<FunnelParams>) -> impl IntoView {
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    let vocabulary = pick::use_vocabulary();
    let steps = Signal::derive(move || params.with(|p| format!("{},{}", p.steps, p.exclude)));
    move || {
        let p = params.get();
        view! {
            <form
                class="builder"
                method="get"
                action="/funnels"
                data-testid="builder"
                data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
            >
                <StepFields initial=p.steps.clone() />
                <SeenLists vocabulary />
                <UnseenSteps vocabulary steps />
                <label>
                    "Within "
                    <select name="window">
                        {WINDOWS.iter().map(|(s, label)| view! { <option value=s.to_string() selected=*s == p.window_seconds>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label>
                    "Order "
                    <select name="mode">
                        {MODES.iter().map(|(mode, label)| view! { <option value=mode.as_str() selected=*mode == p.mode>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label class="check" title="Page views that are not steps are not counted; in strict order they may happen between steps">
                    <input type="checkbox" name=NO_PAGE_VIEWS value="1" checked=p.skip_page_views data-testid="funnel-no-page-views" />
                    " Leave page views out"
                </label>
                <label>
                    "Entered in the last "
                    <select name="days">
                        {RANGES.iter().map(|d| view! { <option value=d.to_string() selected=*d == p.days>{counted(u64::from(*d), "day", "days")}</option> }).collect_view()}
                    </select>
                </label>
                <RangeFields dates=PickedDates { from: p.from, to: p.to, compare: p.compare } />
                <label>
                    "Excluding "
                    <input name="exclude" value=p.exclude.clone() placeholder="e.g. support_ticket_created" list=pick::EVENTS />
                </label>
                <label>
                    "Break down by "
                    <input name="breakdown" value=p.breakdown.clone() placeholder="a first-step property, or the channel" list=pick::BREAKDOWNS data-testid="breakdown" />
                </label>
                <label>
                    "Same "
                    <input name="hold" value=p.hold.clone() placeholder="property held constant, e.g. product_id" list=pick::PROPERTIES />
                </label>
                <label>
                    "Only customers from "
                    <input name="channel" value=p.channel.clone() placeholder="e.g. email, direct" list=pick::CHANNELS data-testid="funnel-channel" />
                </label>
                <label>
                    "Trend by "
                    <select name="trend">
                        {TrendPeriod::ALL.map(|period| view! { <option value=period.as_str() selected=period == p.trend>{period.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <button class="button" type="submit" data-testid="run">"Show funnel"</button>
            </form>
        }
    }
}

/// Whether a customer's conversion window is over, in the list's words.
fn window_word(still_in_window: bool) -> &'static str {
    if still_in_window {
        "still open"
    } else {
        "over"
    }
}

/// The page of dropped customers as CSV: customer, next event and window, text quoted.
pub fn dropped_csv(page: &DroppedPage) -> String {
    let mut out = String::from("customer,next_event,window\n");
    for c in &page.customers {
        out.push_str(&format!(
            "{},{},{}\n",
            csv_cell(&c.customer_id),
            csv_cell(c.next_event.as_deref().unwrap_or("")),
            csv_cell(window_word(c.still_in_window))
        ));
    }
    out
}

/// Where to look when strict order loses everyone after the first step, since in strict
/// order any event between two steps, a page view included, breaks the sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct StrictOffer {
    /// The same funnel in strict order with page views left out (unless they already are).
    pub without_page_views: Option<String>,
    /// The same funnel in order with other events between.
    pub in_order: String,
}

/// The [`StrictOffer`], or `None` when strict order is not the cause.
pub fn strict_zero_offer(params: &FunnelParams, steps: &[crate::types::StepResult]) -> Option<StrictOffer> {
    let lost_everyone =
        steps.first().is_some_and(|s| s.customers > 0) && steps.last().is_some_and(|s| s.customers == 0);
    (params.mode == OrderMode::Strict && lost_everyone).then(|| StrictOffer {
        without_page_views: (!params.skip_page_views)
            .then(|| funnel_href(&FunnelParams { skip_page_views: true, ..params.clone() }, None)),
        in_order: funnel_href(&FunnelParams { mode: OrderMode::Sequential, ..params.clone() }, None),
    })
}

#[component]
fn FunnelResultView(view: FunnelAnswer, params: FunnelParams, open_step: Option<usize>) -> impl IntoView {
    let strict_offer = strict_zero_offer(&params, &view.funnel.steps);
    let csv = format!("data:text/csv;charset=utf-8,{}", encode(&funnel_csv(&view)));
    let svg = format!("data:image/svg+xml;charset=utf-8,{}", encode(&view.charts.steps_svg));
    let steps_svg = view.charts.steps_svg.clone();
    let last = view.funnel.steps.len();
    let steps = view.funnel.steps.clone();
    let previous = view.previous.clone();
    let range_note = match &previous {
        Some(before) => format!("{} (UTC), compared with {}", view.range.label(), before.range.label()),
        None => format!("{} (UTC)", view.range.label()),
    };
    view! {
        <p class="range-note" data-testid="funnel-range">{range_note}</p>
        <div class="toolbar exports">
            <a class="button" href=csv download="funnel.csv" data-testid="export-csv">"Export CSV"</a>
            <a class="button" href=svg download="funnel.svg">"Export chart (SVG)"</a>
            <button
                class="button"
                type="button"
                data-testid="export-png"
                on:click=move |_| crate::export::download_png(steps_svg.clone(), "funnel.png".into())
            >
                "Export chart (PNG)"
            </button>
        </div>
        {strict_offer.map(|offer| view! {
            <p class="warning-state" role="status" data-testid="strict-zero">
                "Nobody got through in strict order: it counts only customers who did the steps with nothing at all between them, and any event between two steps (a page view too) breaks it. "
                {offer.without_page_views.map(|href| view! {
                    <a href=href data-testid="strict-without-page-views">"Leave page views out"</a>
                    " or "
                })}
                <a href=offer.in_order>"show the same funnel in order with other events between"</a>
                "."
            </p>
        })}
        <table class="event-table funnel-table" data-testid="funnel-steps">
            <thead>
                <tr>
                    <th scope="col">"Step"</th>
                    <th scope="col">"Customers"</th>
                    <th scope="col">"From step 1"</th>
                    <th scope="col">"From previous"</th>
                    <th scope="col">"Median time from step 1"</th>
                    <th scope="col">"Dropped before the next"</th>
                    {previous.is_some().then(|| view! { <th scope="col">"Period before"</th> })}
                </tr>
            </thead>
            <tbody>
                {steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let next = view.funnel.steps.get(i + 1).map(|n| s.customers.saturating_sub(n.customers));
                        // Opens the list right under the table, scrolled to.
                        let href = format!("{}#dropped", funnel_href(&params, Some(s.step)));
                        let is_open = open_step == Some(s.step);
                        let before = previous.as_ref().map(|p| compared(&s, p.steps.get(i)));
                        view! {
                            <tr data-step=s.step class:step-open=is_open>
                                <td><strong>{format!("{}. {}", s.step, s.event)}</strong></td>
                                <td class="num" data-testid="step-customers">{count(s.customers)}</td>
                                <td class="num">{percent(s.conversion_from_first)}</td>
                                <td class="num">{percent(s.conversion_from_previous)}</td>
                                <td class="num">{s.median_seconds.map(duration).unwrap_or_else(|| "—".into())}</td>
                                <td>
                                    {(s.step < last).then(|| match next {
                                        Some(n) if n > 0 => view! {
                                            <a href=href aria-current=is_open.then_some("true") aria-label=format!("Who reached step {} and not step {}: {}", s.step, s.step + 1, count(n))>
                                                {format!("{} — who?", count(n))}
                                            </a>
                                        }
                                            .into_any(),
                                        _ => view! { <span class="num">"0"</span> }.into_any(),
                                    })}
                                </td>
                                {before.map(|text| view! { <td class="num" data-testid="step-before">{text}</td> })}
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// The funnel's charts and its breakdown, below the steps (and who dropped, when open).
#[component]
fn FunnelCharts(view: FunnelAnswer, params: FunnelParams) -> impl IntoView {
    view! {
        <div class="charts">
            <figure class="chart" data-testid="chart-steps">
                <figcaption>"Customers per step, with conversion from step 1"</figcaption>
                <div role="img" aria-label=chart_labels::steps(&view.funnel.steps) inner_html=view.charts.steps_svg.clone()></div>
            </figure>
            <figure class="chart">
                <figcaption>"Time to complete the funnel"</figcaption>
                <div role="img" aria-label=chart_labels::buckets(&view.funnel.time_to_convert) inner_html=view.charts.time_to_convert_svg.clone()></div>
            </figure>
            <figure class="chart">
                <figcaption>{format!("Conversion by the {} customers entered", params.trend.as_str())}</figcaption>
                <div role="img" aria-label=chart_labels::trend(&view.funnel.trend) inner_html=view.charts.trend_svg.clone()></div>
            </figure>
        </div>
        {(!view.funnel.breakdown.is_empty()).then(|| view! {
            <section class="panel">
                <h2>{format!("By {}", params.breakdown.trim_start_matches('$'))}</h2>
                <table class="event-table" data-testid="breakdown">
                    <thead>
                        <tr>
                            <th scope="col">"Value"</th>
                            {view.funnel.steps.iter().map(|s| view! { <th scope="col">{format!("{}. {}", s.step, s.event)}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {view.funnel.breakdown.iter().map(|g| view! {
                            <tr>
                                <td><strong>{g.value.clone()}</strong></td>
                                {g.steps.iter().map(|s| view! {
                                    <td class="num">{format!("{} · {}", count(s.customers), percent(s.conversion_from_first))}</td>
                                }).collect_view()}
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
    }
}

/// What each chart shows, in words, for those who cannot see it.
pub mod chart_labels {
    use crate::{
        format::{count, percent},
        types::{StepResult, TimeBucket, TrendPoint},
    };

    pub fn steps(steps: &[StepResult]) -> String {
        let each: Vec<String> = steps
            .iter()
            .map(|s| format!("{}. {} {} ({})", s.step, s.event, count(s.customers), percent(s.conversion_from_first)))
            .collect();
        format!("Customers per step: {}", each.join(", "))
    }

    pub fn buckets(buckets: &[TimeBucket]) -> String {
        let each: Vec<String> = buckets.iter().map(|b| format!("{} {}", b.label, count(b.customers))).collect();
        format!("Customers who completed, by time taken: {}", each.join(", "))
    }

    pub fn trend(points: &[TrendPoint]) -> String {
        let each: Vec<String> = points
            .iter()
            .filter(|p| p.entered > 0)
            .map(|p| format!("{} {} of {}", p.period_start.format("%-d %b"), percent(p.conversion), count(p.entered)))
            .collect();
        if each.is_empty() {
            return "Conversion trend: nobody entered in this range".into();
        }
        format!("Conversion by period entered: {}", each.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FunnelCharts, FunnelResult, StepResult};

    #[test]
    fn the_url_round_trips_the_builder() {
        let params = FunnelParams {
            steps: "a,b[plan=pro]|c".into(),
            window_seconds: 3_600,
            mode: OrderMode::Strict,
            days: 7,
            exclude: "x".into(),
            breakdown: "channel".into(),
            hold: "sku".into(),
            trend: TrendPeriod::Week,
            channel: "paid search".into(),
            skip_page_views: true,
            from: crate::types::parse_date("2026-11-01"),
            to: crate::types::parse_date("2026-11-30"),
            compare: true,
        };
        let href = funnel_href(&params, Some(2));
        let query = href.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let bytes = v.as_bytes();
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'%' {
                        out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                        i += 3;
                    } else {
                        out.push(bytes[i]);
                        i += 1;
                    }
                }
                (k.to_string(), String::from_utf8(out).unwrap())
            })
            .collect();
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(params_from(get), params);
        assert_eq!(pairs.last().unwrap(), &("dropped".to_string(), "2".to_string()));
    }

    #[test]
    fn unknown_choices_fall_back_to_the_defaults() {
        let p = params_from(|key| match key {
            "mode" => Some("sideways".into()),
            "days" => Some("0".into()),
            "window" => Some("soon".into()),
            _ => None,
        });
        assert_eq!((p.mode, p.days, p.window_seconds), (OrderMode::Sequential, 30, 86_400));
        assert_eq!(p.steps, EXAMPLE_STEPS, "a first visit shows the shop funnel");
        let asked_empty = params_from(|key| (key == "steps").then(String::new));
        assert_eq!(join_steps(&["view ".into(), String::new(), "cart|wishlist".into()]), "view,cart|wishlist");
        assert_eq!(asked_empty.steps, "", "steps= is an empty builder");
    }

    #[test]
    fn the_dropped_page_exports_as_csv_with_formulas_defused() {
        let page = DroppedPage {
            step: 1,
            total: 2,
            still_in_window: 1,
            offset: 0,
            customers: vec![
                crate::types::DroppedCustomer { customer_id: "po-3".into(), next_event: None, still_in_window: false },
                crate::types::DroppedCustomer {
                    customer_id: "=cmd".into(),
                    next_event: Some("Home".into()),
                    still_in_window: true,
                },
            ],
            next_events: vec![],
        };
        assert_eq!(
            dropped_csv(&page),
            "customer,next_event,window\n\"po-3\",\"\",\"over\"\n\"'=cmd\",\"Home\",\"still open\"\n"
        );
    }

    #[test]
    fn strict_order_that_loses_everyone_says_why_and_offers_the_looser_order() {
        let step = |n: usize, customers: u64| StepResult {
            step: n,
            event: format!("e{n}"),
            customers,
            conversion_from_first: 0.0,
            conversion_from_previous: 0.0,
            ..Default::default()
        };
        let strict = FunnelParams { mode: OrderMode::Strict, ..params_from(|_| None) };
        let lost = [step(1, 10), step(2, 0), step(3, 0)];
        let offer = strict_zero_offer(&strict, &lost).expect("an explanation");
        assert!(offer.in_order.contains("mode=sequential"), "{offer:?}");
        let without = offer.without_page_views.expect("page views are not left out yet");
        assert!(without.contains("mode=strict") && without.contains("no_page_views=1"), "{without}");
        let skipping = FunnelParams { skip_page_views: true, ..strict.clone() };
        let offer = strict_zero_offer(&skipping, &lost).expect("still an explanation");
        assert_eq!(offer.without_page_views, None, "already left out: only the other order is offered");
        assert_eq!(strict_zero_offer(&strict, &[step(1, 10), step(2, 3)]), None, "someone got through");
        assert_eq!(strict_zero_offer(&FunnelParams { mode: OrderMode::Sequential, ..strict }, &lost), None);
    }

    #[test]
    fn a_step_is_compared_with_the_period_before() {
        let step = |n: usize, customers: u64, from_first: f64| StepResult {
            step: n,
            event: "e".into(),
            customers,
            conversion_from_first: from_first,
            conversion_from_previous: from_first,
            median_seconds: None,
            average_seconds: None,
            time_to_convert: vec![],
        };
        // 120 entered now against 100 before: +20 %.
        assert_eq!(compared(&step(1, 120, 1.0), Some(&step(1, 100, 1.0))), "100 (+20%)");
        // 30 % now against 25 % before: +5 points.
        assert_eq!(compared(&step(2, 36, 0.30), Some(&step(2, 25, 0.25))), "25 · 25% (+5.0 pts)");
        assert_eq!(compared(&step(2, 36, 0.30), Some(&step(2, 0, 0.0))), "0 · 0% (+30.0 pts)");
        assert_eq!(compared(&step(1, 5, 1.0), Some(&step(1, 0, 0.0))), "0 (none before)");
        assert_eq!(compared(&step(1, 5, 1.0), None), "—");
    }

    #[test]
    fn csv_has_a_row_per_step_and_quotes_text() {
        let step = |n: usize, event: &str, customers: u64| StepResult {
            step: n,
            event: event.into(),
            customers,
            conversion_from_first: customers as f64 / 10.0,
            conversion_from_previous: 0.5,
            median_seconds: (n > 1).then_some(90.0),
            average_seconds: None,
            time_to_convert: vec![],
        };
        let view = FunnelAnswer {
            funnel: FunnelResult {
                mode: OrderMode::Sequential,
                window_seconds: 86_400,
                steps: vec![step(1, "view", 10), step(2, "buy \"now\"", 5)],
                time_to_convert: vec![],
                breakdown: vec![],
                trend: vec![],
            },
            charts: FunnelCharts {
                steps_svg: String::new(),
                time_to_convert_svg: String::new(),
                trend_svg: String::new(),
            },
            range: crate::types::Span { from: chrono::DateTime::UNIX_EPOCH, to: chrono::DateTime::UNIX_EPOCH },
            previous: None,
        };
        assert_eq!(
            funnel_csv(&view),
            "group,step,event,customers,conversion_from_first,conversion_from_previous,median_seconds\n\
             \"all\",1,\"view\",10,1.0000,0.5000,\n\
             \"all\",2,\"buy \"\"now\"\"\",5,0.5000,0.5000,90\n"
        );
        // A breakdown value sent by a customer cannot become a spreadsheet formula.
        let mut hostile = view;
        hostile.funnel.breakdown =
            vec![crate::types::BreakdownGroup { value: "=cmd|' /C calc'!A0".into(), steps: vec![step(1, "view", 3)] }];
        assert!(funnel_csv(&hostile).contains("\n\"'=cmd|' /C calc'!A0\",1,\"view\",3,"));
    }
}
