//! The alert inbox (for customer-success managers): new alerts appear within a second over
//! SSE with a visible cue; filter by state, rule and assignee (in the URL); acknowledge,
//! assign, resolve and note; each alert links to its customer.

use codee::string::JsonSerdeCodec;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_use_event_source::{
    use_event_source_with_options, ConnectionReadyState, ReconnectLimit, UseEventSourceOptions, UseEventSourceReturn,
};

use crate::{
    auth::Role,
    pages::journey_map::encode,
    server_fns::{change_alert, list_alerts},
    time::{clock_time, Hydrated},
    types::{Alert, AlertChange, AlertFilter, AlertFrame, AlertState},
    WithRole,
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

/// The list as loaded, with the newer versions that arrived since (stream or own changes):
/// a newer version replaces the loaded one, a new alert goes on top, and alerts that no
/// longer match the query leave; newest first.
pub fn merge_alerts(loaded: &[Alert], updates: &[Alert], query: &AlertFilter) -> Vec<Alert> {
    let mut all: Vec<Alert> = loaded.to_vec();
    for update in updates {
        match all.iter_mut().find(|a| a.id == update.id) {
            Some(existing) if existing.version >= update.version => {}
            Some(existing) => *existing = update.clone(),
            None => all.push(update.clone()),
        }
    }
    all.retain(|a| matches(a, query));
    all.sort_by_key(|a| std::cmp::Reverse(a.id));
    all
}

fn href(query: &AlertFilter) -> String {
    let part = |key: &str, value: &Option<String>| format!("{key}={}", encode(value.as_deref().unwrap_or("")));
    format!(
        "/alerts?state={}&{}&{}",
        query.state.map_or("", AlertState::as_str),
        part("rule", &query.rule),
        part("assignee", &query.assignee)
    )
}

#[component]
pub fn AlertsPage() -> impl IntoView {
    let params = use_query_map();
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
            ..AlertFilter::default()
        }
    });
    let loaded = Resource::new(move || query.get(), list_alerts);
    // Alerts (new or changed) since the list loaded, from the stream and from this page.
    let updates = RwSignal::new(Vec::<Alert>::new());
    // Ids that arrived over the stream, highlighted until seen.
    let fresh = RwSignal::new(Vec::<i64>::new());

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
        let known = loaded.get_untracked().and_then(Result::ok).unwrap_or_default();
        for alert in &arrived {
            let is_new = !known.iter().any(|k| k.id == alert.id)
                && !updates.with_untracked(|u| u.iter().any(|k| k.id == alert.id));
            if is_new && alert.created_at == alert.updated_at {
                fresh.update(|f| f.push(alert.id));
            }
        }
        updates.update(|u| u.extend(arrived));
    });

    let rows = move || {
        let base = loaded.get().and_then(Result::ok).unwrap_or_default();
        updates.with(|u| merge_alerts(&base, u, &query.get()))
    };
    let fresh_count = move || fresh.with(Vec::len);

    let change = Action::new(|(id, update): &(i64, AlertChange)| change_alert(*id, update.clone()));
    Effect::new(move |_| {
        if let Some(Ok(alert)) = change.value().get() {
            updates.update(|u| u.push(alert));
        }
    });
    let change_error = move || change.value().get().and_then(Result::err).map(|e| e.to_string());

    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = Signal::derive(move || hydrated.map(|h| h.get()).unwrap_or(false));

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
                            1 => "1 new alert".to_string(),
                            n => format!("{n} new alerts"),
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
                                <a href=href(&target) class="segment" aria-current=current.then_some("true")>{*label}</a>
                            }
                        })
                        .collect_view()
                }}
            </nav>
            <form class="filter-form" method="get" action="/alerts">
                <input type="hidden" name="state" value=move || query.get().state.map_or("", AlertState::as_str) />
                <label>
                    "Rule id "
                    <input name="rule" value=move || query.get().rule.unwrap_or_default() placeholder="any rule" />
                </label>
                <label>
                    "Assignee "
                    <input name="assignee" value=move || query.get().assignee.unwrap_or_default() placeholder="anyone" />
                </label>
                <button class="button" type="submit">"Filter"</button>
            </form>
            {move || change_error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading alerts…"</p> }>
                {move || Suspend::new(async move {
                    let error = loaded.await.err().map(|e| e.to_string());
                    view! {
                        {error.map(|e| view! { <p class="error-state" role="alert">{format!("Could not load alerts: {e}")}</p> })}
                        <Show when=move || !rows().is_empty() fallback=NoAlerts>
                            <ul class="alert-list" data-testid="alerts">
                                <For each=rows key=|a| (a.id, a.version) let:alert>
                                    <AlertItem
                                        is_fresh=Signal::derive({
                                            let id = alert.id;
                                            move || fresh.with(|f| f.contains(&id))
                                        })
                                        alert
                                        local_times
                                        change
                                        seen=fresh
                                    />
                                </For>
                            </ul>
                        </Show>
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn NoAlerts() -> impl IntoView {
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
}

#[component]
fn AlertItem(
    alert: Alert,
    is_fresh: Signal<bool>,
    local_times: Signal<bool>,
    change: Action<(i64, AlertChange), Result<Alert, crate::error::AppError>>,
    seen: RwSignal<Vec<i64>>,
) -> impl IntoView {
    let id = alert.id;
    let occurred = alert.occurred_at;
    let state_class = format!("state state-{}", alert.state.as_str());
    let send = move |update: AlertChange| {
        seen.update(|f| f.retain(|x| *x != id));
        change.dispatch((id, update));
    };
    let set_state = move |state: AlertState| move |_| send(AlertChange { state: Some(state), ..Default::default() });
    // Changing an alert is for analysts and admins; viewers see no buttons.
    let resolved = alert.state == AlertState::Resolved;
    let acknowledgeable = alert.state == AlertState::Open;
    let assignee = RwSignal::new(alert.assignee.clone().unwrap_or_default());
    let note = RwSignal::new(alert.note.clone().unwrap_or_default());
    let customer = alert.customer_id.clone();
    let trail: Vec<String> = alert.triggering.iter().filter_map(|e| e.event.clone()).collect();
    view! {
        <li class="alert-item" class:fresh=is_fresh data-testid="alert" data-alert-id=id data-state=alert.state.as_str()>
            <div class="alert-head">
                <span class=state_class>{alert.state.as_str()}</span>
                <strong class="alert-rule">{alert.rule_name.clone()}</strong>
                {if customer.is_empty() {
                    view! { <span class="alert-customer">"all customers"</span> }.into_any()
                } else {
                    view! {
                        <a class="alert-customer customer" href=format!("/customers/{}", encode(&customer))>
                            {customer.clone()}
                        </a>
                    }
                        .into_any()
                }}
                <time class="num" datetime=occurred.to_rfc3339()>{move || clock_time(occurred, local_times.get())}</time>
            </div>
            <p class="alert-message">{alert.message.clone()}</p>
            {(!trail.is_empty()).then(|| view! { <p class="alert-trail">{trail.join(" → ")}</p> })}
            <WithRole at_least=Role::Analyst>
            <div class="alert-actions">
                {acknowledgeable.then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Acknowledged) data-testid="acknowledge">"Acknowledge"</button>
                })}
                {(!resolved).then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Resolved) data-testid="resolve">"Resolve"</button>
                })}
                {resolved.then(|| view! {
                    <button class="button" on:click=set_state(AlertState::Open) data-testid="reopen">"Reopen"</button>
                })}
                <form
                    class="inline-form"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        send(AlertChange {
                            assignee: Some(assignee.get_untracked()),
                            note: Some(note.get_untracked()),
                            ..Default::default()
                        });
                    }
                >
                    <label>
                        "Assignee "
                        <input bind:value=assignee placeholder="name" data-testid="assignee" />
                    </label>
                    <label>
                        "Note "
                        <input bind:value=note placeholder="what you did" data-testid="note" />
                    </label>
                    <button class="button" type="submit">"Save"</button>
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
        }
    }

    fn open() -> AlertFilter {
        AlertFilter { state: Some(AlertState::Open), ..Default::default() }
    }

    #[test]
    fn a_new_alert_goes_on_top_and_a_newer_version_replaces_the_old() {
        let loaded = vec![alert(2, 2, Open), alert(1, 1, Open)];
        let merged = merge_alerts(&loaded, &[alert(3, 3, Open), alert(2, 4, Open)], &open());
        assert_eq!(merged.iter().map(|a| (a.id, a.version)).collect::<Vec<_>>(), vec![(3, 3), (2, 4), (1, 1)]);
    }

    #[test]
    fn an_acknowledged_alert_leaves_the_open_list_and_an_old_version_changes_nothing() {
        let loaded = vec![alert(2, 5, Open), alert(1, 1, Open)];
        let merged = merge_alerts(&loaded, &[alert(1, 6, Acknowledged), alert(2, 3, Resolved)], &open());
        assert_eq!(merged.iter().map(|a| a.id).collect::<Vec<_>>(), vec![2]);
        let all = AlertFilter { state: None, ..Default::default() };
        assert_eq!(merge_alerts(&loaded, &[alert(1, 6, Acknowledged)], &all).len(), 2, "All keeps both");
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
