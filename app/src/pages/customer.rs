//! A customer (for CS managers and product owners): the timeline grouped by session, newest
//! first, with the stage each event put them in, their identities, and the alerts about them.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::{
    auth::Role,
    format::{count, counted, duration},
    pages::{journey_map::encode, live::property_summary},
    server_fns::{load_customer, load_customer_lists, search_customers, EraseCustomer},
    time::{clock_time, moment, moment_in_zone, Hydrated},
    types::{AlertState, CustomerCard, CustomerHistory, MOST_ACTIVE_DAYS},
    WithRole,
};

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let customer = Resource::new(id, load_customer);
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = Signal::derive(move || hydrated.map(|h| h.get()).unwrap_or(false));
    let search = RwSignal::new(String::new());
    let navigate = use_navigate();

    view! {
        <Title text=move || format!("Customer {}", id()) />
        <section class="page customer-page">
            <header class="page-header">
                <div>
                    <h1>"Customer " <span class="customer-id">{id}</span></h1>
                    <p class="lede">"Everything they did, by session, newest first."</p>
                </div>
                <form
                    class="inline-form"
                    role="search"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        let wanted = search.get_untracked();
                        if !wanted.trim().is_empty() {
                            navigate(&format!("/customers?q={}", encode(wanted.trim())), Default::default());
                        }
                    }
                >
                    <label>
                        "Find "
                        <input bind:value=search placeholder="id, email or any trait" data-testid="customer-search" />
                    </label>
                    <button class="button" type="submit">"Open"</button>
                </form>
            </header>
            <Transition fallback=|| view! { <p class="loading">"Loading the timeline…"</p> }>
                {move || Suspend::new(async move {
                    match customer.await {
                        Err(e) => view! { <p class="error-state" role="alert">{format!("Could not load the customer: {e}")}</p> }.into_any(),
                        Ok(view) => view! { <History data=view local_times /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn History(data: CustomerHistory, local_times: Signal<bool>) -> impl IntoView {
    if data.timeline.sessions.is_empty() {
        return view! {
            <div class="empty-state" data-testid="no-events">
                <h2>"No events for this customer"</h2>
                <p>
                    "Check the id: it is the " <code>"userId"</code> " or " <code>"anonymousId"</code>
                    " the events were sent with. Customers in a stage are listed on the "
                    <a href="/">"journey map"</a> " (click a stage)."
                </p>
            </div>
        }
        .into_any();
    }
    let events: usize = data.timeline.sessions.iter().map(|s| s.events.len()).sum();
    let summary = format!(
        "{} in {} · known as {}",
        counted(events as u64, "event", "events"),
        counted(data.timeline.sessions.len() as u64, "session", "sessions"),
        data.timeline.identities.join(", ")
    );
    let alerts = data.alerts.clone();
    let mut sessions = data.timeline.sessions.clone();
    sessions.reverse();
    let customer_id = data.timeline.customer_id.clone();
    let open_alerts = alerts.iter().filter(|a| a.state == AlertState::Open).count();
    let identities = data.timeline.identities.join(", ");
    view! {
        {data.card.map(|card| {
            let (first, last) = (card.first_seen, card.last_seen);
            let shown = move |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|at| moment_in_zone(at, local_times.get())).unwrap_or_default();
            let inbox = format!("/alerts?state=open&customer={}", encode(&card.customer_id));
            view! {
                <dl class="profile card" data-testid="profile">
                    <div><dt>"Name"</dt><dd>{card.name.clone().unwrap_or_else(|| "—".into())}</dd></div>
                    <div><dt>"Email"</dt><dd>{card.email.clone().unwrap_or_else(|| "—".into())}</dd></div>
                    <div><dt>"Known as"</dt><dd>{identities}</dd></div>
                    <div><dt>"First came from"</dt><dd>{card.channel.clone().unwrap_or_else(|| "—".into())}</dd></div>
                    <div><dt>"First seen"</dt><dd>{move || shown(first)}</dd></div>
                    <div><dt>"Last seen"</dt><dd>{move || shown(last)}</dd></div>
                    <div><dt>"Stage now"</dt><dd data-testid="profile-stage">{card.stage.clone().unwrap_or_else(|| "—".into())}</dd></div>
                    <div>
                        <dt>"Open alerts"</dt>
                        <dd data-testid="profile-open-alerts">
                            {if open_alerts == 0 {
                                view! { "none" }.into_any()
                            } else {
                                view! { <a href=inbox>{format!("{open_alerts} in the inbox")}</a> }.into_any()
                            }}
                        </dd>
                    </div>
                </dl>
            }
        })}
        <p class="map-legend" data-testid="customer-summary">{summary}</p>
        <WithRole at_least=Role::Admin>
            <EraseButton customer_id=customer_id.clone() />
        </WithRole>
        {(!alerts.is_empty()).then(|| view! {
            <section class="panel" aria-labelledby="about-alerts">
                <h2 id="about-alerts">"Alerts about this customer"</h2>
                <ul class="alert-list">
                    {alerts
                        .into_iter()
                        .map(|a| {
                            let occurred = a.occurred_at;
                            view! {
                                <li class="alert-item" data-testid="customer-alert">
                                    <div class="alert-head">
                                        <span class=format!("state state-{}", a.state.as_str())>{a.state.as_str()}</span>
                                        <strong>{a.rule_name.clone()}</strong>
                                        <time class="num">{move || clock_time(occurred, local_times.get())}</time>
                                        <a href=format!("/alerts?state=&rule={}", encode(&a.rule_id))>"in the inbox"</a>
                                    </div>
                                    <p class="alert-message">{a.message.clone()}</p>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </section>
        })}
        <section class="panel" aria-labelledby="timeline">
            <h2 id="timeline">"Timeline"</h2>
            {sessions
                .into_iter()
                .map(|session| {
                    let (start, end) = (session.started_at, session.ended_at);
                    let length = (end - start).num_seconds() as f64;
                    view! {
                        <article class="session" data-testid="session">
                            <h3>
                                {format!("Session {} · ", session.number)}
                                <time datetime=start.to_rfc3339()>{move || moment_in_zone(start, local_times.get())}</time>
                                {format!(" · {} · {} events", duration(length), session.events.len())}
                            </h3>
                            <table class="event-table">
                                <tbody>
                                    {session
                                        .events
                                        .into_iter()
                                        .rev()
                                        .map(|e| {
                                            let at = e.at;
                                            let summary = property_summary(&e.properties);
                                            view! {
                                                <tr>
                                                    <td class="num"><time>{move || clock_time(at, local_times.get())}</time></td>
                                                    <td>
                                                        <span class=format!("kind kind-{}", e.kind)>{e.kind.clone()}</span>
                                                        " "
                                                        <strong class="event-name">{e.name.clone().unwrap_or_default()}</strong>
                                                    </td>
                                                    <td>{e.stage.clone().map(|s| view! { <span class="stage-badge">{s}</span> })}</td>
                                                    <td class="props" title=summary.clone()>{summary.clone()}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </article>
                    }
                })
                .collect_view()}
        </section>
    }
    .into_any()
}

/// Erasure, for admins: a first click asks, a second erases, and the answer says what went.
#[component]
fn EraseButton(customer_id: String) -> impl IntoView {
    let erase = ServerAction::<EraseCustomer>::new();
    let asked = RwSignal::new(false);
    let result = erase.value();
    view! {
        <div class="erase" data-testid="erase">
            {move || match result.get() {
                Some(Ok(done)) => view! { <p class="notice" role="status" data-testid="erased">{done}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error-state" role="alert">{format!("Could not erase: {e}")}</p> }.into_any(),
                None => ().into_any(),
            }}
            <Show
                when=move || asked.get() && result.get().is_none()
                fallback=move || view! {
                    <button class="button danger" type="button" data-testid="erase-customer"
                        disabled=move || result.get().is_some()
                        on:click=move |_| asked.set(true)>"Erase this customer…"</button>
                }
            >
                {
                    let customer_id = customer_id.clone();
                    view! {
                        <p class="warning">"Every event, link, alert and dead letter of this customer, under every id, goes for good."</p>
                        <button class="button danger" type="button" data-testid="confirm-erase"
                            on:click={
                                let customer_id = customer_id.clone();
                                move |_| { erase.dispatch(EraseCustomer { id: customer_id.clone() }); }
                            }>"Erase for good"</button>
                        <button class="button" type="button" on:click=move |_| asked.set(false)>"Keep"</button>
                    }
                }
            </Show>
        </div>
    }
}

/// Customer search: by user or anonymous id, or by any identify trait (email, name, plan…).
#[component]
pub fn CustomersPage() -> impl IntoView {
    let query = use_query_map();
    let text = move || query.read().get("q").unwrap_or_default();
    let lists = Resource::new(|| (), |_| load_customer_lists());
    let hydrated = use_context::<Hydrated>().map(|h| h.0);
    let local_times = Signal::derive(move || hydrated.map(|h| h.get()).unwrap_or(false));
    let found = Resource::new(text, |text| async move {
        if text.trim().is_empty() {
            return Ok(None);
        }
        search_customers(text).await.map(Some)
    });
    view! {
        <Title text="Customers" />
        <section class="page customers-page">
            <header class="page-header">
                <div>
                    <h1>"Customers"</h1>
                    <p class="lede">"Find a customer by id, email or any trait they were identified with."</p>
                </div>
            </header>
            <form class="inline-form" method="get" action="/customers" role="search">
                <label>"Find " <input name="q" value=text placeholder="id, email or any trait" data-testid="customers-q" /></label>
                <button class="button" type="submit">"Search"</button>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
                {move || Suspend::new(async move {
                    match found.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! {
                            <p class="empty-note">"Type part of an id or a trait, e.g. an email domain. The journey map lists who is in each stage now."</p>
                            <Transition fallback=|| view! { <p class="loading">"Loading customers…"</p> }>
                                {move || Suspend::new(async move {
                                    match lists.await {
                                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                                        Ok(lists) => view! {
                                            <div class="customer-lists">
                                                <CardTable title="Seen last" cards=lists.recent local_times testid="customers-recent" />
                                                <CardTable
                                                    title=format!("Most active, last {}", counted(MOST_ACTIVE_DAYS as u64, "day", "days"))
                                                    cards=lists.most_active
                                                    local_times
                                                    testid="customers-active"
                                                />
                                            </div>
                                        }.into_any(),
                                    }
                                })}
                            </Transition>
                        }.into_any(),
                        Ok(Some(list)) if list.is_empty() => view! {
                            <p class="empty-note" data-testid="no-customers">"Nobody matches. Ids and traits are matched as typed, ignoring case."</p>
                        }.into_any(),
                        Ok(Some(list)) => view! {
                            <table class="event-table" data-testid="customers">
                                <thead><tr><th scope="col">"Customer"</th><th scope="col">"Traits"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| view! {
                                        <tr>
                                            <td class="customer"><a href=format!("/customers/{}", encode(&c.customer_id))>{c.customer_id.clone()}</a></td>
                                            <td><TraitList traits=c.traits.clone().unwrap_or_default() /></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Customers as cards in a table: who (name or email, and id), channel, stage now, last seen
/// and how many events.
#[component]
fn CardTable(
    #[prop(into)] title: String,
    cards: Vec<CustomerCard>,
    local_times: Signal<bool>,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <section class="panel">
            <h2>{title}</h2>
            {if cards.is_empty() {
                view! { <p class="empty-note">"Nobody yet."</p> }.into_any()
            } else {
                view! {
                    <table class="event-table" data-testid=testid>
                        <thead>
                            <tr>
                                <th scope="col">"Customer"</th>
                                <th scope="col">"Channel"</th>
                                <th scope="col">"Stage now"</th>
                                <th scope="col">"Last seen"</th>
                                <th scope="col" class="num">"Events"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {cards.into_iter().map(|card| {
                                let href = format!("/customers/{}", encode(&card.customer_id));
                                let named = card.label() != card.customer_id;
                                let last_seen = card.last_seen;
                                view! {
                                    <tr>
                                        <td class="customer">
                                            <a href=href>{card.label().to_string()}</a>
                                            {named.then(|| view! { <br /><code>{card.customer_id.clone()}</code> })}
                                        </td>
                                        <td>{card.channel.clone().unwrap_or_default()}</td>
                                        <td>{card.stage.clone().unwrap_or_else(|| "—".into())}</td>
                                        <td class="num">{move || last_seen.map(|at| moment(at, local_times.get())).unwrap_or_default()}</td>
                                        <td class="num">{count(card.events)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// A customer's traits (JSON text) as key and value pairs; text that is not an object as is.
#[component]
fn TraitList(traits: String) -> impl IntoView {
    match serde_json::from_str::<serde_json::Value>(&traits) {
        Ok(serde_json::Value::Object(fields)) => view! {
            <dl class="traits">
                {fields.into_iter().map(|(key, value)| {
                    let shown = match value {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    view! { <dt>{key}</dt><dd>{shown}</dd> }
                }).collect_view()}
            </dl>
        }
        .into_any(),
        _ => view! { <span class="props">{traits}</span> }.into_any(),
    }
}
