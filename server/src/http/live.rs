//! `GET /api/v1/live/status`: how far the event index and the rule engine have got behind
//! the store's commits, and what the engine is holding.

use std::sync::atomic::Ordering;

use axum::{extract::State, Json};
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let (committed, indexed) = state.index.progress();
    // What the per-customer state (the event index) holds, for sizing a machine.
    // Not while the index loads at start-up: then the status says how far it has got.
    let memory = state
        .index
        .answer(|data| (data.customers_len(), data.events_len(), data.approximate_bytes(), data.property_bytes()))
        .await
        .ok();
    // DuckDB's share of the server's memory (its buffer pool), beside the index's.
    let duckdb_memory = state.store.duckdb_memory_bytes().await.ok();
    let (remembered_ids, remembered_bytes) = state.store.remembered_message_ids();
    let live = &state.live_status;
    let (anchors, anchor_bytes) = state.alerts.remembered_anchors().await;
    let evaluated = live.evaluated_seq.load(Ordering::SeqCst);
    Json(json!({
        "index_ready": state.index.warming_up().is_none(),
        "index_load_percent": state.index.warming_up().unwrap_or(100),
        "committed_seq": committed,
        "indexed_seq": indexed,
        "evaluated_seq": evaluated,
        "engine_lag_events": (committed - evaluated).max(0),
        "write_queue_depth": state.store.queued_writes(),
        "pending_timers": live.pending_timers.load(Ordering::Relaxed),
        "active_rules": live.active_rules.load(Ordering::Relaxed),
        "alerts_raised": live.alerts_raised.load(Ordering::Relaxed),
        "remembered_alert_anchors": anchors,
        "alert_anchor_bytes": anchor_bytes,
        "engine_memory_bytes": live.memory_bytes.load(Ordering::Relaxed),
        // The C heap in use: the index, the engine, DuckDB's structures outside its pool.
        "heap_in_use_bytes": crate::memory::heap_in_use_bytes(),
        "tracked_customers": memory.map(|m| m.0),
        "indexed_events": memory.map(|m| m.1),
        "index_bytes": memory.map(|m| m.2),
        "bytes_per_tracked_customer": memory.map(|m| m.2.checked_div(m.0).unwrap_or(0)),
        "property_column_bytes": memory.map(|m| m.3),
        "duckdb_memory_bytes": duckdb_memory,
        "remembered_message_ids": remembered_ids,
        "dedup_bytes": remembered_bytes,
    }))
}
