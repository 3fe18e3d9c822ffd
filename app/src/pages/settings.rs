//! Settings: the journey editor (stages, the events that put a customer in each, the
//! expected path) and the sources with their write keys and the snippet or curl that sends
//! a first event.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::Role,
    server_fns::{
        create_source, list_journeys, list_sources, load_access, load_audit_log, save_journey, RevokeSource,
        RevokeToken,
    },
    types::{AccessSettings, AuditEntry, Journey, Source, Stage},
    WithRole,
};

/// The expected path as lines of `From -> To`.
pub fn path_text(path: &[(String, String)]) -> String {
    path.iter().map(|(a, b)| format!("{a} -> {b}")).collect::<Vec<_>>().join("\n")
}

/// Lines of `From -> To` (or `→`), blank lines ignored; a line without an arrow is named.
pub fn parse_path(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (a, b) = line
                .split_once("->")
                .or_else(|| line.split_once('→'))
                .ok_or_else(|| format!("expected path line {line:?} needs an arrow: From -> To"))?;
            Ok((a.trim().to_string(), b.trim().to_string()))
        })
        .collect()
}

fn events_text(events: &[String]) -> String {
    events.join(", ")
}

fn events_of(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let journeys = Resource::new(|| (), |_| list_journeys());
    let sources_version = RwSignal::new(0u32);
    let revoke = ServerAction::<RevokeSource>::new();
    let sources = Resource::new(move || (sources_version.get(), revoke.version().get()), |_| list_sources());
    // Here, not in the list: the list reloads after a source is created, and the new key
    // must stay on screen.
    let create = Action::new(|name: &String| create_source(name.clone()));
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            sources_version.update(|v| *v += 1);
        }
    });
    let created = move || create.value().get().and_then(Result::ok);
    let origin = "http://127.0.0.1:3000";
    view! {
        <Title text="Settings" />
        <section class="page settings-page">
            <header class="page-header">
                <div>
                    <h1>"Settings"</h1>
                    <p class="lede">"The journey the map draws, and where events come from."</p>
                </div>
            </header>
            <Transition fallback=|| view! { <p class="loading">"Loading the journeys…"</p> }>
                {move || Suspend::new(async move {
                    match journeys.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) => {
                            let first = list.into_iter().find(|j| j.name == "default");
                            first.map(|j| view! { <JourneyEditor journey=j /> }).into_any()
                        }
                    }
                })}
            </Transition>
            <Transition fallback=|| view! { <p class="loading">"Loading the sources…"</p> }>
                {move || Suspend::new(async move {
                    match sources.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) => view! { <Sources list create revoke /> }.into_any(),
                    }
                })}
            </Transition>
            <WithRole at_least=Role::Admin>
                <AccessPanel />
                <AuditPanel />
            </WithRole>
            {move || created().map(|s| {
                let key = s.write_key.clone().unwrap_or_default();
                view! {
                    <div class="empty-state" data-testid="new-source">
                        <h3>{format!("“{}” is ready. Its write key, shown only now:", s.name)}</h3>
                        <pre><code data-testid="new-key">{key.clone()}</code></pre>
                        <p>"Send a first event:"</p>
                        <pre><code>{format!(
                            "curl -X POST {origin}/v1/track -u '{key}:' \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"userId\":\"user-1\",\"event\":\"signed_up\"}}'"
                        )}</code></pre>
                        <p>"Or put the snippet on your site:"</p>
                        <pre><code>{format!("<script src=\"{origin}/wayline.js\" data-write-key=\"{key}\" defer></script>")}</code></pre>
                    </div>
                }
            })}

        </section>
    }
}

#[component]
fn JourneyEditor(journey: Journey) -> impl IntoView {
    let name = journey.name.clone();
    // Each stage as (name, events text), edited in place.
    let stages = RwSignal::new(
        journey.stages.iter().map(|s| (s.name.clone(), events_text(&s.events))).collect::<Vec<(String, String)>>(),
    );
    let path = RwSignal::new(path_text(&journey.expected_path));
    let problem = RwSignal::new(None::<String>);
    let save = Action::new(|j: &Journey| save_journey(j.clone()));
    let saved = move || matches!(save.value().get(), Some(Ok(()))) && problem.get().is_none();
    let server_error = move || save.value().get().and_then(Result::err).map(|e| e.to_string());
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match parse_path(&path.get_untracked()) {
            Err(e) => problem.set(Some(e)),
            Ok(expected_path) => {
                problem.set(None);
                let stages = stages
                    .get_untracked()
                    .into_iter()
                    .map(|(name, events)| Stage { name: name.trim().to_string(), events: events_of(&events) })
                    .collect();
                save.dispatch(Journey { name: name.clone(), stages, expected_path });
            }
        }
    };
    view! {
        <section class="panel" aria-labelledby="journey-editor">
            <h2 id="journey-editor">{format!("Journey “{}”", journey.name)}</h2>
            <p class="map-legend">
                "Stages in order. Each lists the events (track names or page names) that put a customer in it; "
                <code>"page_viewed[path=/pricing]"</code> " claims only events with that property."
            </p>
            <form
                class="journey-editor"
                on:submit=submit
                data-testid="journey-editor"
                data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
            >
                <table class="event-table">
                    <thead><tr><th scope="col">"Stage"</th><th scope="col">"Events"</th><th scope="col"></th></tr></thead>
                    <tbody>
                        {move || {
                            (0..stages.with(Vec::len))
                                .map(|i| {
                                    let get = move |pick: fn(&(String, String)) -> String| {
                                        move || stages.with(|s| s.get(i).map(pick).unwrap_or_default())
                                    };
                                    view! {
                                        <tr>
                                            <td>
                                                <input
                                                    aria-label=format!("Stage {} name", i + 1)
                                                    prop:value=get(|s| s.0.clone())
                                                    on:input=move |ev| stages.update(|s| s[i].0 = event_target_value(&ev))
                                                    data-testid="stage-name"
                                                />
                                            </td>
                                            <td class="wide-cell">
                                                <input
                                                    aria-label=format!("Stage {} events", i + 1)
                                                    prop:value=get(|s| s.1.clone())
                                                    on:input=move |ev| stages.update(|s| s[i].1 = event_target_value(&ev))
                                                    data-testid="stage-events"
                                                />
                                            </td>
                                            <td>
                                                <WithRole at_least=Role::Analyst>
                                                    <button type="button" class="link-button" aria-label=format!("Remove stage {}", i + 1) on:click=move |_| stages.update(|s| { s.remove(i); })>
                                                        "Remove"
                                                    </button>
                                                </WithRole>
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
                <WithRole at_least=Role::Analyst>
                    <button type="button" class="button" on:click=move |_| stages.update(|s| s.push((String::new(), String::new())))>
                        "Add stage"
                    </button>
                </WithRole>
                <label class="path-label">
                    "Expected path (one “From -> To” a line)"
                    <textarea rows="5" prop:value=path on:input=move |ev| path.set(event_target_value(&ev)) data-testid="expected-path"></textarea>
                </label>
                <WithRole at_least=Role::Analyst>
                    <button class="button" type="submit" data-testid="save-journey">"Save journey"</button>
                </WithRole>
                {move || saved().then(|| view! { <span class="saved" role="status">"Saved. The map and the rules use it now."</span> })}
                {move || problem.get().or_else(server_error).map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            </form>
        </section>
    }
}

#[component]
fn Sources(
    list: Vec<Source>,
    create: Action<String, Result<Source, crate::error::AppError>>,
    revoke: ServerAction<RevokeSource>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = move || create.value().get().and_then(Result::err).map(|e| e.to_string());
    let revoke_error = move || revoke.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="panel" aria-labelledby="sources">
            <h2 id="sources">"Sources and write keys"</h2>
            <table class="event-table" data-testid="sources">
                <thead><tr><th scope="col">"Source"</th><th scope="col">"Id"</th><th scope="col">"Write key"</th><th scope="col"></th></tr></thead>
                <tbody>
                    {list.into_iter().map(|s| {
                        let id = s.id.clone();
                        let key = match (&s.revoked_at, &s.write_key) {
                            (Some(at), _) => format!("revoked {}", day(*at)),
                            (None, Some(key)) => key.clone(),
                            (None, None) => "shown once, when created".into(),
                        };
                        let live = s.revoked_at.is_none();
                        view! {
                            <tr>
                                <td><strong>{s.name.clone()}</strong></td>
                                <td class="customer">{s.id.clone()}</td>
                                <td class="customer">{key}</td>
                                <td>
                                    {live.then(|| view! {
                                        <WithRole at_least=Role::Admin>
                                            <button class="link-button" type="button" data-testid="revoke-source" aria-label=format!("Revoke key of {}", s.name)
                                                on:click={
                                                    let id = id.clone();
                                                    move |_| { revoke.dispatch(RevokeSource { id: id.clone() }); }
                                                }>"Revoke key"</button>
                                        </WithRole>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {move || revoke_error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            <WithRole at_least=Role::Admin>
            <form
                class="inline-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    create.dispatch(name.get_untracked());
                }
            >
                <label>"New source " <input bind:value=name placeholder="e.g. Web shop" data-testid="source-name" /></label>
                <button class="button" type="submit" data-testid="create-source">"Create"</button>
            </form>
            </WithRole>
            {move || error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
        </section>
    }
}

/// A date as the tables show it (UTC, so the server's page and the browser's agree).
fn day(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// People who sign in, API tokens (revocable) and what viewers see masked. Admins only.
#[component]
fn AccessPanel() -> impl IntoView {
    let revoke = ServerAction::<RevokeToken>::new();
    let access = Resource::new(move || revoke.version().get(), |_| load_access());
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the users…"</p> }>
            {move || Suspend::new(async move {
                match access.await {
                    Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(view) => view! { <AccessTables view revoke /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AccessTables(view: AccessSettings, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    let error = move || revoke.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="panel" aria-labelledby="people">
            <h2 id="people">"People and API tokens"</h2>
            <p class="map-legend">
                "Viewers read every page with personal data masked ("
                {view.pii_keys.join(", ")}
                "); analysts also edit funnels, journeys, rules and webhooks; admins also manage people, keys and erasure. "
                "Add people with " <code>"wayline user add EMAIL --role ROLE"</code> " and tokens with "
                <code>"wayline token add NAME --role ROLE"</code> "."
            </p>
            <p class="map-legend" data-testid="retention">
                {match view.retention_days {
                    Some(days) => format!("Retention: events, dead letters, resolved alerts and delivery logs older than {days} days are deleted once a day."),
                    None => "Retention: off; everything is kept (set retention_days to delete old data daily).".to_string(),
                }}
            </p>
            <table class="event-table" data-testid="users">
                <thead><tr><th scope="col">"Person"</th><th scope="col">"Role"</th><th scope="col">"Since"</th></tr></thead>
                <tbody>
                    {view.users.into_iter().map(|u| view! {
                        <tr><td>{u.email}</td><td>{u.role.as_str()}</td><td class="num">{day(u.created_at)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <table class="event-table" data-testid="tokens">
                <thead><tr><th scope="col">"Token"</th><th scope="col">"Role"</th><th scope="col">"Since"</th><th scope="col"></th></tr></thead>
                <tbody>
                    {view.tokens.into_iter().map(|t| {
                        let id = t.id.clone();
                        let revoke_label = format!("Revoke token {}", t.name);
                        view! {
                            <tr>
                                <td>{t.name}</td>
                                <td>{t.role.as_str()}</td>
                                <td class="num">{day(t.created_at)}</td>
                                <td>{match t.revoked_at {
                                    Some(at) => format!("revoked {}", day(at)).into_any(),
                                    None => view! {
                                        <button class="link-button" type="button" data-testid="revoke-token" aria-label=revoke_label
                                            on:click=move |_| { revoke.dispatch(RevokeToken { id: id.clone() }); }>"Revoke"</button>
                                    }.into_any(),
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {move || error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
        </section>
    }
}

/// The newest changes people and tokens made. Admins only.
#[component]
fn AuditPanel() -> impl IntoView {
    let entries = Resource::new(|| (), |_| load_audit_log());
    view! {
        <section class="panel" aria-labelledby="audit">
            <h2 id="audit">"Audit log"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="empty-note">"No changes yet."</p> }.into_any(),
                        Ok(list) => view! { <AuditTable list /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditTable(list: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <table class="event-table" data-testid="audit-log">
            <thead><tr><th scope="col">"When"</th><th scope="col">"Who"</th><th scope="col">"Did"</th><th scope="col">"Outcome"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|e| view! {
                    <tr>
                        <td class="num">{day(e.at)}</td>
                        <td>{format!("{} ({}, {})", e.actor, e.role.as_str(), if e.via == crate::auth::Credential::Token { "token" } else { "signed in" })}</td>
                        <td><code>{e.action}</code></td>
                        <td class="num">{e.status}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_path_round_trips_as_lines() {
        let path =
            vec![("Discovery".to_string(), "Engagement".to_string()), ("Engagement".into(), "Conversion".into())];
        let text = path_text(&path);
        assert_eq!(text, "Discovery -> Engagement\nEngagement -> Conversion");
        assert_eq!(
            parse_path(&format!("{text}\n\n  A → B ")).unwrap().last(),
            Some(&("A".to_string(), "B".to_string()))
        );
        assert_eq!(parse_path(&text).unwrap(), path);
        assert!(parse_path("Discovery, Engagement").unwrap_err().contains("needs an arrow"));
    }

    #[test]
    fn events_are_comma_separated() {
        assert_eq!(events_of(" Home, page_viewed[path=/] ,,"), vec!["Home", "page_viewed[path=/]"]);
        assert_eq!(events_text(&["a".into(), "b".into()]), "a, b");
    }
}
