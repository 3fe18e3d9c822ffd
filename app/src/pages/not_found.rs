use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for any address the dashboard does not know.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="empty-state">
            <h1>"This page does not exist"</h1>
            <p>"Check the address, or go to the " <a href="/live">"live event stream"</a> "."</p>
        </section>
    }
}
