//! `GET /metrics`: the operator's scrape (see [`crate::metrics`]), guarded like the JSON API:
//! Prometheus sends an API token as a bearer token.

use std::sync::atomic::Ordering;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{metrics, state::AppState};

pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let (committed, indexed) = state.index.progress();
    let live = &state.live_status;
    let now = metrics::Sample {
        write_queue_depth: state.store.queued_writes(),
        index_lag_events: committed - indexed,
        engine_lag_events: committed - live.evaluated_seq.load(Ordering::SeqCst),
        pending_timers: live.pending_timers.load(Ordering::Relaxed),
        active_rules: live.active_rules.load(Ordering::Relaxed),
        index_ready: state.index.warming_up().is_none(),
    };
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render(now))
}
