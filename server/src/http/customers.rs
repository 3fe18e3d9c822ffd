//! `DELETE /api/v1/customers/{id}`: erasure, for admins.

use axum::{
    extract::{Path, State},
    Json,
};
use serde_json::{json, Value};

use super::error::ApiError;
use crate::state::AppState;

/// Removes the customer, across every identity linked to them, from the store, the event
/// index and the live feed; answers what was removed.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn erase(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let erased = crate::erasure::erase(&state.store, &state.index, &state.hub, &id).await?;
    let rows: serde_json::Map<String, Value> =
        erased.rows.iter().map(|(table, n)| (table.to_string(), json!(n))).collect();
    Ok(Json(json!({ "erased": erased.identities, "rows": rows })))
}
