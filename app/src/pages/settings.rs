//! Settings: the journey editor (stages, the events that put a customer in each, the
//! expected path) and the sources with their write keys and the snippet or curl that sends
//! a first event.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    server_fns::{create_source, list_journeys, list_sources, save_journey},
    types::{JourneyStage, JourneyView, SourceView},
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
    let sources = Resource::new(move || sources_version.get(), |_| list_sources());
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
                        Ok(list) => view! { <Sources list create /> }.into_any(),
                    }
                })}
            </Transition>
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
fn JourneyEditor(journey: JourneyView) -> impl IntoView {
    let name = journey.name.clone();
    // Each stage as (name, events text), edited in place.
    let stages = RwSignal::new(
        journey.stages.iter().map(|s| (s.name.clone(), events_text(&s.events))).collect::<Vec<(String, String)>>(),
    );
    let path = RwSignal::new(path_text(&journey.expected_path));
    let problem = RwSignal::new(None::<String>);
    let save = Action::new(|j: &JourneyView| save_journey(j.clone()));
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
                    .map(|(name, events)| JourneyStage { name: name.trim().to_string(), events: events_of(&events) })
                    .collect();
                save.dispatch(JourneyView { name: name.clone(), stages, expected_path });
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
                                                <button type="button" class="link-button" on:click=move |_| stages.update(|s| { s.remove(i); })>
                                                    "Remove"
                                                </button>
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
                <button type="button" class="button" on:click=move |_| stages.update(|s| s.push((String::new(), String::new())))>
                    "Add stage"
                </button>
                <label class="path-label">
                    "Expected path (one “From -> To” a line)"
                    <textarea rows="5" prop:value=path on:input=move |ev| path.set(event_target_value(&ev)) data-testid="expected-path"></textarea>
                </label>
                <button class="button" type="submit" data-testid="save-journey">"Save journey"</button>
                {move || saved().then(|| view! { <span class="saved" role="status">"Saved. The map and the rules use it now."</span> })}
                {move || problem.get().or_else(server_error).map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
            </form>
        </section>
    }
}

#[component]
fn Sources(list: Vec<SourceView>, create: Action<String, Result<SourceView, crate::error::AppError>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = move || create.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <section class="panel" aria-labelledby="sources">
            <h2 id="sources">"Sources and write keys"</h2>
            <table class="event-table" data-testid="sources">
                <thead><tr><th scope="col">"Source"</th><th scope="col">"Id"</th><th scope="col">"Write key"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|s| view! {
                        <tr>
                            <td><strong>{s.name.clone()}</strong></td>
                            <td class="customer">{s.id.clone()}</td>
                            <td class="customer">{s.write_key.clone().unwrap_or_else(|| "shown once, when created".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
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
            {move || error().map(|e| view! { <p class="error-state" role="alert">{e}</p> })}
        </section>
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
