//! Pick, don't type: lists of what the store has seen (event names, property keys, channels,
//! stages) that inputs offer through `list=`, and the warning for a step nobody ever sent,
//! which would otherwise count a silent 0.

use leptos::prelude::*;

use crate::{error::AppError, server_fns::load_vocabulary, types::Vocabulary};

/// The `id`s of the lists, for inputs' `list` attribute.
pub const EVENTS: &str = "seen-events";
pub const PROPERTIES: &str = "seen-properties";
pub const CHANNELS: &str = "seen-channels";
pub const STAGES: &str = "seen-stages";
/// Breakdowns: the property keys, and the channel by name.
pub const BREAKDOWNS: &str = "seen-breakdowns";

/// What the store has seen, loaded once per page.
pub fn use_vocabulary() -> Resource<Result<Vocabulary, AppError>> {
    Resource::new(|| (), |_| load_vocabulary())
}

/// The lists, drawn once the vocabulary is in.
#[component]
pub fn SeenLists(vocabulary: Resource<Result<Vocabulary, AppError>>) -> impl IntoView {
    let options =
        |values: Vec<String>| values.into_iter().map(|value| view! { <option value=value></option> }).collect_view();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let seen = vocabulary.await.unwrap_or_default();
                view! {
                    <datalist id=EVENTS>{options(seen.events)}</datalist>
                    <datalist id=PROPERTIES>{options(seen.properties.clone())}</datalist>
                    <datalist id=BREAKDOWNS>
                        <option value=crate::types::CHANNEL_BREAKDOWN>"channel (first touch)"</option>
                        {options(seen.properties)}
                    </datalist>
                    <datalist id=CHANNELS>{options(seen.channels)}</datalist>
                    <datalist id=STAGES>{options(seen.stages)}</datalist>
                }
            })}
        </Transition>
    }
}

/// A warning naming the events of `steps` the store has never seen.
#[component]
pub fn UnseenSteps(vocabulary: Resource<Result<Vocabulary, AppError>>, steps: Signal<String>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let seen = vocabulary.await.unwrap_or_default();
                let unseen = seen.unseen_events(&steps.get());
                (!unseen.is_empty()).then(|| {
                    let names = unseen.iter().map(|n| format!("“{n}”")).collect::<Vec<_>>().join(", ");
                    view! {
                        <p class="warning-state wide" role="status" data-testid="unseen-steps">
                            {format!(
                                "Never seen: {names}. No event of that name has arrived, so it counts no one; check the spelling (the list offers every name seen)."
                            )}
                        </p>
                    }
                })
            })}
        </Transition>
    }
}
