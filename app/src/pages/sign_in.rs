//! Signing in, and setting up the first admin of a fresh install. Plain HTML forms posted to
//! the server (`POST /login`, `POST /setup`): they work before the page hydrates, and the
//! password never passes through the app's own code.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/login`: email and password; says why the last attempt failed.
#[component]
pub fn SignInPage() -> impl IntoView {
    // Before anyone can sign in, the first admin must be created.
    #[cfg(feature = "ssr")]
    if crate::backend::use_backend().is_ok_and(|backend| backend.setup_open()) {
        leptos_axum::redirect("/setup");
    }
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_string());
    let problem = move || match query.read().get("error").as_deref() {
        Some("wrong") => Some("The email or the password is wrong. Check both and try again."),
        Some("throttled") => Some("Too many attempts. Wait a minute, then try again."),
        Some(_) => Some("Signing in did not work. Try again."),
        None => None,
    };
    view! {
        <Title text="Sign in" />
        <section class="sign-in">
            <h1>"Sign in to Wayline"</h1>
            {move || problem().map(|text| view! { <p class="error-state" role="alert">{text}</p> })}
            <form method="post" action="/login" class="sign-in-form">
                <input type="hidden" name="next" prop:value=next />
                <label>"Email" <input type="email" name="email" autocomplete="username" required autofocus /></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required /></label>
                <button class="button button-primary" type="submit">"Sign in"</button>
            </form>
            <p class="lede">"No account? An admin creates one with " <code>"wayline user add EMAIL --role viewer"</code> "."</p>
        </section>
    }
}

/// `/setup`: on a fresh install only, creates the first admin. Gone once anyone exists.
#[component]
pub fn SetupPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if crate::backend::use_backend().is_ok_and(|backend| !backend.setup_open()) {
        leptos_axum::redirect("/login");
    }
    let query = use_query_map();
    let invalid = move || query.read().get("error").is_some();
    view! {
        <Title text="Set up" />
        <section class="sign-in">
            <h1>"Set up Wayline"</h1>
            <p class="lede">
                "Create the first admin. This page works once: afterwards, admins add people with "
                <code>"wayline user add"</code> "."
            </p>
            <Show when=invalid>
                <p class="error-state" role="alert">
                    "Use a real email address and a password of at least 10 characters."
                </p>
            </Show>
            <form method="post" action="/setup" class="sign-in-form">
                <label>"Email" <input type="email" name="email" autocomplete="username" required autofocus /></label>
                <label>
                    "Password (10 characters or more)"
                    <input type="password" name="password" autocomplete="new-password" minlength="10" required />
                </label>
                <button class="button button-primary" type="submit">"Create the admin and sign in"</button>
            </form>
        </section>
    }
}
