//! The alert inbox (for customer-success managers): new alerts appear within a second over
//! SSE with a visible cue; filter by state, rule, assignee and customer (in the URL), see the
//! filter's alerts by rule and by customer with totals, a page at a time; each card says who
//! the customer is, what they did before and since; acknowledge, assign, resolve and note one
//! alert or the selected ones, and undo the last change.

use std::{collections::HashSet, sync::Arc};

use codee::string::JsonSerdeCodec;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_use_event_source::{
    use_event_source_with_options, ConnectionReadyState, ReconnectLimit, UseEventSourceOptions, UseEventSourceReturn,
};

use crate::{
    auth::Role,
    format,
    pages::journey_map::encode,
    server_fns::{change_alerts, list_assignees, list_rules, load_alert_inbox, restore_alerts},
    time::{moment, Hydrated},
    types::{
        Alert, AlertChange, AlertFilter, AlertFollowUp, AlertFrame, AlertGroup, AlertInbox, AlertRestore, AlertState,
        CustomerCard, GoalProgress, INBOX_PAGE_SIZE,
    },
    Me, WithRole,
};

pub const ALERT_STREAM_URL: &str = "/api/v1/stream/alerts";
/// The state filters: one per state, and every state (`None`, written `state=` in the URL).
const STATES: [(Option<AlertState>, &str); 4] = [
    (Some(AlertState::Open), "Open"),
    (Some(AlertState::Acknowledged), "Acknowledged"),
    (Some(AlertState::Resolved), "Resolved"),
    (None, "All"),
];

/// Whether an alert belongs in the list the query asks for.
pub fn matches(alert: &Alert, query: &AlertFilter) -> bool {
    let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.is_empty() || w == have);
    query.state.is_none_or(|state| state == alert.state)
        && wanted(&query.rule, &alert.rule_id)
        && wanted(&query.assignee, alert.assignee.as_deref().unwrap_or(""))
        && wanted(&query.customer, &alert.customer_id)
}

/// The page as loaded, with the newer versions that arrived since (stream or own changes):
/// a newer version replaces the loaded one, a new alert goes on top when `admit_new` (the
/// first page), and alerts that no longer match the query leave; newest first.
pub fn merge_alerts(loaded: &[Alert], updates: &[Alert], query: &AlertFilter, admit_new: bool) -> Vec<Alert> {
    let mut all: Vec<Alert> = loaded.to_vec();
    for update in updates {
        match all.iter_mut().find(|a| a.id == update.id) {
            Some(existing) if existing.version >= update.version => {}
            Some(existing) => *existing = update.clone(),
            None if admit_new => all.push(update.clone()),
            None => {}
        }
    }
    all.retain(|a| matches(a, query));
    all.sort_by_key(|a| std::cmp::Reverse(a.id));
    all
}

/// The inbox's address for a filter and page (1-based).
fn href(query: &AlertFilter, page: usize) -> String {
    let part = |key: &str, value: &Option<String>| format!("{key}={}", encode(value.as_deref().unwrap_or("")));
    let mut url = format!(
        "/alerts?state={}&{}&{}&{}",
        query.state.map_or("", AlertState::as_str),
        part("rule", &query.rule),
        part("assignee", &query.assignee),
        part("customer", &query.customer)
    );
    if page > 1 {
        url.push_str(&format!("&page={page}"));
    }
    url
}

/// Whether the filter shows less than every open alert (an empty list then says so).
fn is_narrowed(query: &AlertFilter) -> bool {
    query.state != Some(AlertState::Open)
        || query.rule.is_some()
        || query.assignee.is_some()
        || query.customer.is_some()
}

/// "Acknowledged 3 alerts": what a change did, for the undo notice.
fn change_summary(update: &AlertChange, count: usize) -> String {
    let alerts = format::counted(count as u64, "alert", "alerts");
    match (update.state, &update.assignee) {
        (Some(AlertState::Acknowledged), _) => format!("Acknowledged {alerts}"),
        (Some(AlertState::Resolved), _) => format!("Resolved {alerts}"),
        (Some(AlertState::Open), _) => format!("Reopened {alerts}"),
        (None, Some(who)) if who.is_empty() => format!("Unassigned {alerts}"),
        (None, Some(who)) => format!("Assigned {alerts} to {who}"),
        (None, None) => format!("Saved the note on {alerts}"),
    }
}

/// A change to send: to these alerts, or putting them back (undo).
#[derive(Debug, Clone)]
enum Apply {
    Change { ids: Vec<i64>, update: AlertChange },
    Undo(Vec<AlertRestore>),
}

/// The last change made from this page, which the notice offers to undo.
#[derive(Debug, Clone, PartialEq)]
struct Done {
    summary: String,
    undo: Vec<AlertRestore>,
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let params = use_query_map();
    let page = Memo::new(move |_| params.read().get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1));
    let query = Memo::new(move |_| {
        let read = params.read();
        AlertFilter {
            // No state in the URL: the open ones, what a CS manager works through; `state=`
            // (or a word that is not a state): every state.
            state: match read.get("state") {
                None => Some(AlertState::Open),
                Some(state) => AlertState::parse(&state),
            },
            rule: read.get("rule").filter(|r| !r.is_empty()),
            assignee: read.get("assignee").filter(|a| !a.is_empty()),
            customer: read.get("customer").filter(|c| !c.is_empty()),
            ..AlertFilter::default()
        }
    });
    let loaded = Resource::new(
        move || (query.get(), page.get()),
        |(query, page)| load_alert_inbox(AlertFilter { offset: Some((page - 1) * INBOX_PAGE_SIZE), ..query }),
    );
    let rules = Resource::new(|| (), |_| list_rules());
    let assignees = Resource::new(|| (), |_| list_assignees());
    // Alerts (new or changed) since the page loaded, from the stream and from this page.
    let updates = RwSignal::new(Vec::<Alert>::new());
    // Ids that arrived over the stream, highlighted until seen.
    let fresh = RwSignal::new(Vec::<i64>::new());
    let selected = RwSignal::new(HashSet::<i64>::new());
    let done = RwSignal::new(None::<Done>);
    Effect::new(move |_| {
        // A new filter or page starts afresh.
        let _ = (query.get(), page.get());
        selected.set(HashSet::new());
    });

    let UseEventSourceReturn { ready_state, message, .. } = use_event_source_with_options::<AlertFrame, JsonSerdeCodec>(
        ALERT_STREAM_URL,
        UseEventSourceOptions::default()
            .named_events(["snapshot".to_string(), "alert".to_string(), "resync".to_string()])
            .reconnect_limit(ReconnectLimit::Infinite)
            .reconnect_interval(1000),
    );
    Effect::new(move |_| {
        let Some(frame) = message.get() else { return };
        let arrived: Vec<Alert> = match frame.data {
            AlertFrame::One(alert) => vec![*alert],
            AlertFrame::Many(list) => list,
            AlertFrame::Other(_) => Vec::new(),
        };
        let known = loaded.get_untracked().and_then(Result::ok).map(|i| i.alerts).unwrap_or_default();
        for alert in &arrived {
            let is_new = !known.iter().any(|k| k.id == alert.id)
                && !updates.with_untracked(|u| u.iter().any(|k| k.id == alert.id));
            if is_new && alert.created_at == alert.updated_at {
                fresh.update(|f| f.push(alert.id));
            }
        }
        updates.update(|u| u.extend(arrived));
    });

    // The rows at the moment of a click (the list itself is drawn from the page as loaded,
    // inside the Transition, so nothing drawn there follows the resource while it reloads).
    let rows = move || {
        let base = loaded.get_untracked().and_then(Result::ok).map(|i| i.alerts).unwrap_or_default();
        updates.with_untracked(|u| merge_alerts(&base, u, &query.get_untracked(), page.get_untracked() == 1))
    };
    // The "new" counter counts what the current filter shows.
    let fresh_count = move || {
        let q = query.get();
        updates.with(|u| {
            fresh.with(|f| {
                let mut ids: Vec<i64> =
                    u.iter().filter(|a| f.contains(&a.id) && matches(a, &q)).map(|a| a.id).collect();
                ids.sort_unstable();
                ids.dedup();
                ids.len()
            })
        })
    };

    let apply = Action::new(|request: &Apply| {
        let request = request.clone();
        async move {
            match request {
                Apply::Change { ids, update } => change_alerts(ids, update).await,
                Apply::Undo(previous) => restore_alerts(previous).await,
            }
        }
    });
    // What each change was, to describe it and undo it once it is answered.
    let pending = StoredValue::new(None::<(Vec<Alert>, Option<AlertChange>)>);
    let send = Callback::new(move |(ids, update): (Vec<i64>, AlertChange)| {
        let before: Vec<Alert> = rows().into_iter().filter(|a| ids.contains(&a.id)).collect();
        fresh.update(|f| f.retain(|x| !ids.contains(x)));
        pending.set_value(Some((before, Some(update.clone()))));
        apply.dispatch(Apply::Change { ids, update });
    });
    Effect::new(move |_| {
        let Some(Ok(changed)) = apply.value().get() else { return };
        let was = pending.get_value();
        pending.set_value(None);
        done.set(was.and_then(|(before, update)| {
            let update = update?;
            let undo: Vec<AlertRestore> = before
                .iter()
                .filter_map(|b| changed.iter().find(|a| a.id == b.id).map(|a| AlertRestore::undoing(b, a)))
                .collect();
            Some(Done { summary: change_summary(&update, changed.len()), undo })
        }));
        selected.update(|s| s.retain(|id| !changed.iter().any(|a| a.id == *id)));
        updates.update(|u| u.extend(changed));
    });
    let undo = move |_| {
        if let Some(last) = done.get_untracked() {
            pending.set_value(Some((Vec::new(), None)));
            apply.dispatch(Apply::Undo(last.undo));
        }
    };
    let change_error = move || apply.value().get().and_then(Result::err).map(|e| e.to_string());
    let bulk = move |state: AlertState| {
        move |_| {
            let ids: Vec<i64> = selected.get_untracked().into_iter().collect();
            if !ids.is_empty() {
                send.run((ids, AlertChange { state: Some(state), ..Default::default() }));
            }
        }
    };
    let select_page = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        selected.set(if on { rows().iter().map(|a| a.id).collect() } else { HashSet::new() });
    };
    let acts = use_context::<Me>().is_some_and(|me| me.may(Role::Analyst));

    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = Signal::derive(move || hydrated.map(|h| h.get()).unwrap_or(false));
    let people = Signal::derive(move || assignees.get().and_then(Result::ok).unwrap_or_default());

    view! {
        <Title text="Alerts" />
        <section class="page alerts-page">
            <header class="page-header">
                <div>
                    <h1>"Alerts"</h1>
                    <p class="lede">"Customers who need someone now, as the rules find them."</p>
                </div>
                <div class="toolbar">
                    <span
                        class=move || if ready_state.get() == ConnectionReadyState::Open { "chip chip-live" } else { "chip chip-waiting" }
                        data-testid="connection"
                    >
                        <span class="chip-dot" aria-hidden="true"></span>
                        {move || if ready_state.get() == ConnectionReadyState::Open { "live" } else { "connecting…" }}
                    </span>
                    <span class="new-count" role="status" aria-live="polite" data-testid="new-alerts">
                        {move || match fresh_count() {
                            0 => String::new(),
                            n => format::counted(n as u64, "new alert", "new alerts"),
                        }}
                    </span>
                </div>
            </header>
            <nav class="segmented filters" aria-label="State">
                {move || {
                    let q = query.get();
                    STATES
                        .iter()
                        .map(|(state, label)| {
                            let target = AlertFilter { state: *state, ..q.clone() };
                            let current = q.state == *state;
                            view! {
                                <a href=href(&target, 1) class="segment" aria-current=current.then_some("true")>{*label}</a>
                            }
                        })
                        .collect_view()
                }}
            </nav>
            <form class="filter-form" method="get" action="/alerts">
                <input type="hidden" name="state" value=move || query.get().state.map_or("", AlertState::as_str) />
                <label>
                    "Rule "
                    <select name="rule" data-testid="rule-filter">
                        <option value="">"any rule"</option>
                        {move || {
                            let current = query.get().rule.unwrap_or_default();
                            rules.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|r| {
                                let chosen = r.id == current;
                                view! { <option value=r.id.clone() selected=chosen>{r.name}</option> }
                            }).collect_view()
                        }}
                    </select>
                </label>
                <label>
                    "Assignee "
                    <select name="assignee" data-testid="assignee-filter">
                        <option value="">"anyone"</option>
                        {move || {
                            let current = query.get().assignee.unwrap_or_default();
                            people.get().into_iter().map(|who| {
                                let chosen = who == current;
                                view! { <option value=who.clone() selected=chosen>{who.clone()}</option> }
                            }).collect_view()
                        }}
                    </select>
                </label>
                <input type="hidden" name="customer" value=move || query.get().customer.unwrap_or_default() />
                <button class="button" type="submit">"Filter"</button>
                {move || query.get().customer.map(|c| {
                    let without = AlertFilter { customer: None, ..query.get() };
                    view! { <a class="chip" href=href(&without, 1) data-testid="customer-filter">{format!("customer {c} ✕")}</a> }
                })}
            </form>
            {move || change_error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            {move || done.get().map(|last| view! {
                <p class="notice" role="status" data-testid="change-notice">
                    {last.summary}
                    " "
                    <button class="link-button" on:click=undo data-testid="undo">"Undo"</button>
                </p>
            })}
            <Transition fallback=|| view! { <p class="loading">"Loading alerts…"</p> }>
                {move || Suspend::new(async move {
                    let answer = loaded.await;
                    let error = answer.as_ref().err().map(|e| e.to_string());
                    let inbox = answer.unwrap_or_else(|_| AlertInbox {
                        alerts: Vec::new(), total: 0, by_rule: Vec::new(), by_customer: Vec::new(),
                        customers: Vec::new(), follow_ups: Vec::new(),
                    });
                    let (total, by_rule, by_customer) = (inbox.total, inbox.by_rule, inbox.by_customer);
                    let (cards, follow_ups) = (Arc::new(inbox.customers), Arc::new(inbox.follow_ups));
                    let group_cards = cards.to_vec();
                    let base = Arc::new(inbox.alerts);
                    let shown = move || updates.with(|u| merge_alerts(&base, u, &query.get(), page.get() == 1));
                    let shown = Signal::derive(shown);
                    view! {
                        {error.map(|e| view! { <p class="error-state" role="alert">{format!("Could not load alerts: {e}")}</p> })}
                        <div class="inbox">
                            <div class="inbox-main">
                                <Show when=move || shown.with(|r| !r.is_empty()) fallback=move || view! { <NoAlerts filtered=is_narrowed(&query.get()) /> }>
                                    <div class="inbox-bar">
                                        <Pager total page query />
                                        {acts.then(|| view! {
                                            <div class="bulk-actions" data-testid="bulk-actions">
                                                <label class="select-all">
                                                    <input type="checkbox" on:change=select_page data-testid="select-page"
                                                        prop:checked=move || { let n = selected.with(HashSet::len); n > 0 && n == shown.with(Vec::len) } />
                                                    "Select page"
                                                </label>
                                                <span class="muted" data-testid="selected-count">{move || match selected.with(HashSet::len) { 0 => String::new(), n => format!("{n} selected") }}</span>
                                                <button class="button" on:click=bulk(AlertState::Acknowledged) disabled=move || selected.with(HashSet::is_empty) data-testid="bulk-acknowledge">"Acknowledge selected"</button>
                                                <button class="button" on:click=bulk(AlertState::Resolved) disabled=move || selected.with(HashSet::is_empty) data-testid="bulk-resolve">"Resolve selected"</button>
                                            </div>
                                        })}
                                    </div>
                                    {
                                        let (cards, follow_ups) = (cards.clone(), follow_ups.clone());
                                        view! {
                                            <ul class="alert-list" data-testid="alerts">
                                                <For
                                                    each=move || shown.get()
                                                    key=|a| (a.id, a.version)
                                                    children=move |alert: Alert| view! {
                                                        <AlertItem
                                                            is_fresh=Signal::derive({
                                                                let id = alert.id;
                                                                move || fresh.with(|f| f.contains(&id))
                                                            })
                                                            card=cards.iter().find(|c| c.customer_id == alert.customer_id).cloned()
                                                            follow_up=follow_ups.iter().find(|u| u.alert_id == alert.id).cloned()
                                                            alert
                                                            local_times
                                                            send
                                                            selected
                                                            people
                                                            acts
                                                        />
                                                    }
                                                />
                                            </ul>
                                        }
                                    }
                                    <Pager total page query />
                                </Show>
                            </div>
                            <aside class="inbox-groups card" aria-label="Alerts by rule and by customer">
                                <h2>"By rule"</h2>
                                <Groups groups=by_rule query to_filter=|q, key| AlertFilter { rule: Some(key), ..q } customers=Vec::new() testid="groups-by-rule" />
                                <h2>"By customer"</h2>
                                <Groups groups=by_customer query to_filter=|q, key| AlertFilter { customer: Some(key), ..q } customers=group_cards testid="groups-by-customer" />
                            </aside>
                        </div>
                    }
                })}
            </Transition>
        </section>
    }
}

/// "1–25 of 197", with the previous and next pages.
#[component]
fn Pager(total: u64, page: Memo<usize>, query: Memo<AlertFilter>) -> impl IntoView {
    move || {
        let (page, q) = (page.get(), query.get());
        let first = (page - 1) * INBOX_PAGE_SIZE;
        let shown_to = (first + INBOX_PAGE_SIZE).min(total as usize);
        let last_page = (total as usize).div_ceil(INBOX_PAGE_SIZE).max(1);
        view! {
            <nav class="pager" aria-label="Pages">
                <span class="num" data-testid="page-range">
                    {if total == 0 { "0 alerts".to_string() } else { format!("{}–{} of {}", first + 1, shown_to, format::count(total)) }}
                </span>
                {(page > 1).then(|| view! { <a class="button" href=href(&q, page - 1) rel="prev">"← Newer"</a> })}
                {(page < last_page).then(|| view! { <a class="button" href=href(&q, page + 1) rel="next" data-testid="next-page">"Older →"</a> })}
            </nav>
        }
    }
}

/// The filter's alerts grouped one way, each group a link narrowing the filter to it.
#[component]
fn Groups(
    groups: Vec<AlertGroup>,
    query: Memo<AlertFilter>,
    to_filter: fn(AlertFilter, String) -> AlertFilter,
    customers: Vec<CustomerCard>,
    testid: &'static str,
) -> impl IntoView {
    if groups.is_empty() {
        return view! { <p class="muted">"None"</p> }.into_any();
    }
    view! {
        <ul class="group-list" data-testid=testid>
            {groups.into_iter().map(|g| {
                let label = match customers.iter().find(|c| c.customer_id == g.key) {
                    Some(card) => card.label().to_string(),
                    None if g.key.is_empty() && testid == "groups-by-customer" => "all customers".to_string(),
                    None => g.label.clone(),
                };
                let target = move || href(&to_filter(query.get(), g.key.clone()), 1);
                view! {
                    <li>
                        <a href=target>{label}</a>
                        <span class="count num">{format::count(g.count)}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn NoAlerts(filtered: bool) -> impl IntoView {
    if filtered {
        return view! {
            <div class="empty-state" data-testid="no-alerts">
                <h2>"No alert matches this filter"</h2>
                <p>"Try another state, or " <a href="/alerts">"every open alert"</a> "."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="empty-state" data-testid="no-alerts">
            <h2>"Nothing needs you right now"</h2>
            <p>
                "New alerts appear here within a second. No rule switched on yet? Open "
                <a href="/rules">"Rules"</a>
                " and switch one on, e.g. “Cart abandoned for an hour”."
            </p>
        </div>
    }
    .into_any()
}

#[component]
fn AlertItem(
    alert: Alert,
    card: Option<CustomerCard>,
    follow_up: Option<AlertFollowUp>,
    is_fresh: Signal<bool>,
    local_times: Signal<bool>,
    send: Callback<(Vec<i64>, AlertChange)>,
    selected: RwSignal<HashSet<i64>>,
    people: Signal<Vec<String>>,
    acts: bool,
) -> impl IntoView {
    let id = alert.id;
    let occurred = alert.occurred_at;
    let state_class = format!("state state-{}", alert.state.as_str());
    let change = move |update: AlertChange| send.run((vec![id], update));
    let set_state = move |state: AlertState| move |_| change(AlertChange { state: Some(state), ..Default::default() });
    let resolved = alert.state == AlertState::Resolved;
    let acknowledgeable = alert.state == AlertState::Open;
    let assignee = RwSignal::new(alert.assignee.clone().unwrap_or_default());
    let note = RwSignal::new(alert.note.clone().unwrap_or_default());
    let customer = alert.customer_id.clone();
    let trail: Vec<String> = alert.triggering.iter().filter_map(|e| e.event.clone()).collect();
    // What they did before the events that met the rule (the context ends with those).
    let before: Vec<String> = alert
        .context
        .iter()
        .filter(|e| !alert.triggering.iter().any(|t| t.seq == e.seq))
        .filter_map(|e| e.event.clone())
        .collect();
    let who = card.as_ref().map(|c| c.label().to_string()).unwrap_or_else(|| customer.clone());
    // Each card's buttons say which alert they act on (screen readers list them together).
    let which = format!("alert {id}: {}, {who}", alert.rule_name);
    let named = move |action: &str| format!("{action} {which}");
    let about = card.as_ref().map(|c| {
        [c.channel.clone().map(|ch| format!("via {ch}")), c.stage.clone().map(|s| format!("now in {s}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    });
    view! {
        <li class="alert-item" class:fresh=is_fresh data-testid="alert" data-alert-id=id data-state=alert.state.as_str()>
            <div class="alert-head">
                {acts.then(|| view! {
                    <input
                        type="checkbox"
                        aria-label=format!("Select alert {id}")
                        data-testid="select-alert"
                        prop:checked=move || selected.with(|s| s.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                        }
                    />
                })}
                <span class=state_class>{alert.state.as_str()}</span>
                <strong class="alert-rule">{alert.rule_name.clone()}</strong>
                {if customer.is_empty() {
                    view! { <span class="alert-customer">"all customers"</span> }.into_any()
                } else {
                    view! {
                        <a class="alert-customer customer" href=format!("/customers/{}", encode(&customer)) data-testid="alert-customer">
                            {who}
                        </a>
                    }
                        .into_any()
                }}
                {about.filter(|a| !a.is_empty()).map(|a| view! { <span class="muted">{a}</span> })}
                {alert.assignee.clone().map(|a| view! { <span class="chip assignee-badge" data-testid="assignee-badge">{format!("→ {a}")}</span> })}
                <time class="num" datetime=occurred.to_rfc3339()>{move || moment(occurred, local_times.get())}</time>
            </div>
            <p class="alert-message">{alert.message.clone()}</p>
            {(!trail.is_empty()).then(|| view! { <p class="alert-trail">{trail.join(" → ")}</p> })}
            {(!before.is_empty()).then(|| view! { <p class="alert-trail" data-testid="did-before">{format!("Just before: {}", before.join(" → "))}</p> })}
            {follow_up.map(|f| {
                let text = match (&f.moved_on_to, f.events_since) {
                    (Some(stage), n) => format!("Since: moved on to {stage} ({})", format::counted(n, "event", "events")),
                    (None, 0) => "Since: nothing yet".to_string(),
                    (None, n) => format!("Since: {}, no further stage", format::counted(n, "event", "events")),
                };
                let goal = f.goal.map(|goal| {
                    let (reached, text) = match goal {
                        GoalProgress::Reached { event, after_seconds } => {
                            (true, format!("Goal reached: {event}, {} after the alert", format::duration(after_seconds as f64)))
                        }
                        GoalProgress::Missed { event, within_seconds } => {
                            (false, format!("Goal missed: no {event} within {}", format::duration(within_seconds as f64)))
                        }
                        GoalProgress::Waiting { event, until } => {
                            (false, format!("Goal: waiting for {event} until {}", until.format("%Y-%m-%d %H:%M UTC")))
                        }
                    };
                    view! { <p class="alert-since" class:moved-on=reached data-testid="goal">{text}</p> }
                });
                view! {
                    <p class="alert-since" class:moved-on=f.moved_on_to.is_some() data-testid="since">{text}</p>
                    {goal}
                }
            })}
            <WithRole at_least=Role::Analyst>
            <div class="alert-actions">
                {acknowledgeable.then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Acknowledged) data-testid="acknowledge" aria-label=named("Acknowledge")>"Acknowledge"</button>
                })}
                {(!resolved).then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Resolved) data-testid="resolve" aria-label=named("Resolve")>"Resolve"</button>
                })}
                {resolved.then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Open) data-testid="reopen" aria-label=named("Reopen")>"Reopen"</button>
                })}
                <form
                    class="inline-form"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        change(AlertChange {
                            assignee: Some(assignee.get_untracked()),
                            note: Some(note.get_untracked()),
                            ..Default::default()
                        });
                    }
                >
                    <label>
                        "Assignee "
                        <select data-testid="assignee" on:change=move |ev| assignee.set(event_target_value(&ev))>
                            <option value="" selected=move || assignee.get().is_empty()>"nobody"</option>
                            {move || {
                                let mut names = people.get();
                                let current = assignee.get_untracked();
                                if !current.is_empty() && !names.contains(&current) {
                                    names.push(current);
                                }
                                names.into_iter().map(|who| {
                                    let chosen = who == assignee.get_untracked();
                                    view! { <option value=who.clone() selected=chosen>{who.clone()}</option> }
                                }).collect_view()
                            }}
                        </select>
                    </label>
                    <label>
                        "Note "
                        <input bind:value=note placeholder="what you did" data-testid="note" />
                    </label>
                    <button class="button" type="submit" aria-label=named("Save the assignee and note of")>"Save"</button>
                </form>
            </div>
            </WithRole>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use AlertState::{Acknowledged, Open, Resolved};

    fn alert(id: i64, version: i64, state: AlertState) -> Alert {
        Alert {
            id,
            rule_id: "cart".into(),
            rule_name: "Cart".into(),
            customer_id: "ann".into(),
            anchor_seq: id,
            state,
            assignee: None,
            note: None,
            message: "m".into(),
            triggering: vec![],
            context: vec![],
            occurred_at: DateTime::UNIX_EPOCH,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            version,
            holdout: false,
        }
    }

    fn open() -> AlertFilter {
        AlertFilter { state: Some(AlertState::Open), ..Default::default() }
    }

    #[test]
    fn a_new_alert_goes_on_top_and_a_newer_version_replaces_the_old() {
        let loaded = vec![alert(2, 2, Open), alert(1, 1, Open)];
        let merged = merge_alerts(&loaded, &[alert(3, 3, Open), alert(2, 4, Open)], &open(), true);
        assert_eq!(merged.iter().map(|a| (a.id, a.version)).collect::<Vec<_>>(), vec![(3, 3), (2, 4), (1, 1)]);
    }

    #[test]
    fn an_acknowledged_alert_leaves_the_open_list_and_an_old_version_changes_nothing() {
        let loaded = vec![alert(2, 5, Open), alert(1, 1, Open)];
        let merged = merge_alerts(&loaded, &[alert(1, 6, Acknowledged), alert(2, 3, Resolved)], &open(), true);
        assert_eq!(merged.iter().map(|a| a.id).collect::<Vec<_>>(), vec![2]);
        let all = AlertFilter { state: None, ..Default::default() };
        assert_eq!(merge_alerts(&loaded, &[alert(1, 6, Acknowledged)], &all, true).len(), 2, "All keeps both");
    }

    #[test]
    fn a_later_page_takes_changes_but_not_new_alerts() {
        let loaded = vec![alert(20, 20, Open)];
        let merged = merge_alerts(&loaded, &[alert(30, 30, Open), alert(20, 31, Acknowledged)], &open(), false);
        assert!(merged.is_empty(), "the new alert belongs to page 1 and the acknowledged one left the open list");
        let all = AlertFilter { state: None, ..Default::default() };
        let merged = merge_alerts(&loaded, &[alert(30, 30, Open), alert(20, 31, Acknowledged)], &all, false);
        assert_eq!(merged.iter().map(|a| (a.id, a.version)).collect::<Vec<_>>(), vec![(20, 31)]);
    }

    #[test]
    fn the_undo_notice_says_what_the_change_did() {
        let ack = AlertChange { state: Some(Acknowledged), ..Default::default() };
        assert_eq!(change_summary(&ack, 3), "Acknowledged 3 alerts");
        assert_eq!(change_summary(&AlertChange { state: Some(Resolved), ..Default::default() }, 1), "Resolved 1 alert");
        let assign = AlertChange { assignee: Some("sam@example.com".into()), ..Default::default() };
        assert_eq!(change_summary(&assign, 1), "Assigned 1 alert to sam@example.com");
        assert_eq!(
            change_summary(&AlertChange { assignee: Some(String::new()), ..Default::default() }, 2),
            "Unassigned 2 alerts"
        );
    }

    #[test]
    fn undo_puts_back_what_was_there_before_and_names_the_version_it_expects() {
        let mut before = alert(4, 7, Open);
        before.assignee = Some("kim".into());
        let mut after = alert(4, 9, Resolved);
        after.assignee = Some("sam".into());
        let undo = AlertRestore::undoing(&before, &after);
        assert_eq!((undo.id, undo.version, undo.state, undo.assignee.as_deref()), (4, 9, Open, Some("kim")));
    }

    #[test]
    fn an_empty_list_says_whether_the_filter_hid_alerts() {
        assert!(!is_narrowed(&open()));
        assert!(is_narrowed(&AlertFilter { state: None, ..Default::default() }));
        assert!(is_narrowed(&AlertFilter { customer: Some("ann".into()), ..open() }));
    }

    #[test]
    fn the_address_keeps_the_filter_and_the_page() {
        let q = AlertFilter { rule: Some("cart abandoned".into()), ..open() };
        assert_eq!(href(&q, 1), "/alerts?state=open&rule=cart%20abandoned&assignee=&customer=");
        assert_eq!(href(&q, 3), "/alerts?state=open&rule=cart%20abandoned&assignee=&customer=&page=3");
    }

    #[test]
    fn filters_match_rule_and_assignee() {
        let mut a = alert(1, 1, Open);
        a.assignee = Some("sam".into());
        let q = AlertFilter { rule: Some("cart".into()), assignee: Some("sam".into()), ..Default::default() };
        assert!(matches(&a, &q));
        assert!(!matches(&a, &AlertFilter { rule: Some("other".into()), ..q.clone() }));
        assert!(!matches(&a, &AlertFilter { assignee: Some("kim".into()), ..q }));
    }

    #[test]
    fn the_stream_sends_lists_and_single_alerts() {
        let one = serde_json::to_string(&alert(1, 1, Open)).unwrap();
        assert!(matches!(serde_json::from_str::<AlertFrame>(&one).unwrap(), AlertFrame::One(_)));
        let many = format!("[{one}]");
        assert!(matches!(serde_json::from_str::<AlertFrame>(&many).unwrap(), AlertFrame::Many(l) if l.len() == 1));
        assert!(matches!(serde_json::from_str::<AlertFrame>("{}").unwrap(), AlertFrame::Other(_)));
    }
}
