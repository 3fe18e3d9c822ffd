//! `GET /api/v1/live/status`: how far the event index and the live engine have got behind
//! the store's commits, and what the engine is holding.

use std::sync::atomic::Ordering;

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let (committed, indexed) = state.index.progress();
    let live = &state.live_status;
    let evaluated = live.evaluated_seq.load(Ordering::SeqCst);
    Json(json!({
        "committed_seq": committed,
        "indexed_seq": indexed,
        "evaluated_seq": evaluated,
        "engine_lag_events": (committed - evaluated).max(0),
        "pending_timers": live.pending_timers.load(Ordering::Relaxed),
        "active_rules": live.active_rules.load(Ordering::Relaxed),
        "alerts_raised": live.alerts_raised.load(Ordering::Relaxed),
    }))
}
