//! Wayline's dashboard: the Leptos app rendered on the server (`ssr`) and hydrated in the
//! browser (`hydrate`). Pages read the backend through server functions and the SSE streams;
//! the backend itself lives in the `server` crate and is reached through [`backend`].

// Leptos views are deeply nested types; the hydrate build needs more room than the default.
#![recursion_limit = "256"]

pub mod auth;
pub mod error;
pub mod export;
pub mod format;
pub mod pages;
pub mod pick;
pub mod privacy;
pub mod range;
pub mod server_fns;
pub mod time;
pub mod types;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path,
};

use crate::pages::{
    alerts::AlertsPage,
    customer::{CustomerPage, CustomersPage},
    funnels::FunnelsPage,
    health::HealthPage,
    journey_map::JourneyMapPage,
    live::LivePage,
    not_found::NotFound,
    paths::PathsPage,
    retention::RetentionPage,
    rules::RulesPage,
    settings::SettingsPage,
    sign_in::{SetupPage, SignInPage},
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The dashboard: one navigation bar and the routed pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    time::provide_hydration_flag();
    provide_me();
    let hydrated = use_context::<time::Hydrated>().map(|h| h.0);

    view! {
        <Stylesheet id="wayline" href="/pkg/app.css" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <Meta name="description" content="Wayline — the live customer-journey map" />
        <Title formatter=|page: String| format!("{page} · Wayline") />
        <Router>
            <a class="skip-link" href="#content" rel="external">"Skip to content"</a>
            <header class="topbar">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Wayline"
                </a>
                <nav aria-label="Main">
                    <A href="/" exact=true>"Journey map"</A>
                    <A href="/funnels">"Funnels"</A>
                    <A href="/paths">"Paths"</A>
                    <A href="/retention">"Retention"</A>
                    <A href="/customers">"Customers"</A>
                    <A href="/alerts">"Alerts"</A>
                    <A href="/rules">"Rules"</A>
                    <A href="/live">"Live events"</A>
                    <A href="/health">"Data health"</A>
                    <A href="/settings">"Settings"</A>
                </nav>
                <SignedIn />
            </header>
            <WarmingUp />
            // Tests wait for this before they act: a page left mid-download fails its requests.
            <main id="content" tabindex="-1" data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=JourneyMapPage />
                    <Route path=path!("/alerts") view=AlertsPage />
                    <Route path=path!("/funnels") view=FunnelsPage />
                    <Route path=path!("/paths") view=PathsPage />
                    <Route path=path!("/retention") view=RetentionPage />
                    <Route path=path!("/rules") view=RulesPage />
                    <Route path=path!("/health") view=HealthPage />
                    <Route path=path!("/settings") view=SettingsPage />
                    <Route path=path!("/customers") view=CustomersPage />
                    <Route path=path!("/customers/:id") view=CustomerPage />
                    <Route path=path!("/live") view=LivePage />
                    <Route path=path!("/login") view=SignInPage />
                    <Route path=path!("/setup") view=SetupPage />
                </Routes>
            </main>
        </Router>
    }
}

/// Who is signed in: known to the server from the request, and handed to the browser with
/// the page (a shared value, serialised into the HTML), so both render the same buttons
/// without waiting for a call.
#[derive(Clone, Debug, PartialEq)]
pub struct Me(pub Option<auth::Principal>);

impl Me {
    /// True when someone with at least `role` is signed in.
    pub fn may(&self, role: auth::Role) -> bool {
        self.0.as_ref().is_some_and(|who| who.role.includes(role))
    }
}

/// Reads who is asking (on the server) or what the server said (in the browser).
fn provide_me() {
    #[cfg(feature = "ssr")]
    let asking = backend::principal;
    #[cfg(not(feature = "ssr"))]
    let asking = || None::<auth::Principal>;
    provide_context(Me(SharedValue::new(asking).into_inner()));
}

/// Renders `children` only for someone whose role includes `at_least`: an edit button is not
/// shown to a role the server would refuse (the server refuses it all the same).
#[component]
pub fn WithRole(
    at_least: auth::Role,
    children: ChildrenFn,
    /// What the others see instead (nothing by default).
    #[prop(optional, into)]
    otherwise: ViewFn,
) -> impl IntoView {
    if use_context::<Me>().is_some_and(|me| me.may(at_least)) {
        children().into_any()
    } else {
        otherwise.run()
    }
}

/// Who is signed in, with their role and a way out; nothing on the sign-in pages.
#[component]
fn SignedIn() -> impl IntoView {
    use_context::<Me>().and_then(|Me(who)| who).map(|who| {
        view! {
            <div class="signed-in">
                <span class="who" data-testid="signed-in-as">{who.name}</span>
                <span class="role-badge" data-testid="signed-in-role">{who.role.as_str()}</span>
                <form method="post" action="/logout">
                    <button class="link-button" type="submit">"Sign out"</button>
                </form>
            </div>
        }
    })
}

/// How often a warming-up page asks whether the event index is ready.
const WARM_UP_POLL_MS: u64 = 2_000;

/// After a restart, while the event index loads: a banner with how far it has got (the page's
/// panels say the questions wait for it), and the page reloads itself, filled in, once it is
/// ready. Nothing at all, and no polling, the rest of the time.
#[component]
fn WarmingUp() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let now = || backend::use_backend().ok().and_then(|b| b.warming_up());
    #[cfg(not(feature = "ssr"))]
    let now = || None::<u8>;
    let percent = RwSignal::new(SharedValue::new(now).into_inner());
    if percent.get_untracked().is_none() {
        return ().into_any();
    }
    let _poll = leptos_use_interval_fn::use_interval_fn(
        move || {
            leptos::task::spawn_local(async move {
                match server_fns::index_warm_up().await {
                    Ok(None) => {
                        let _ = window().location().reload();
                    }
                    Ok(Some(now)) => percent.set(Some(now)),
                    Err(_) => {} // asked again on the next tick
                }
            })
        },
        WARM_UP_POLL_MS,
    );
    view! {
        <p class="warming-up" role="status" data-testid="warming-up">
            {move || {
                format!(
                    "Warming up: {} % of the event index is loaded. Events sent now are stored and counted; this page fills in when it is ready.",
                    percent.get().unwrap_or(99),
                )
            }}
        </p>
    }
        .into_any()
}

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
