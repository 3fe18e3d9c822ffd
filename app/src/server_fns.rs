//! Server functions: thin calls from the pages into the backend.

use leptos::prelude::*;

use crate::{error::AppError, types::LiveEvent};

/// Most events one call returns; keeps a page request bounded.
pub const MAX_RECENT_EVENTS: u32 = 500;

/// The newest committed events, newest first (at most [`MAX_RECENT_EVENTS`]).
#[server]
pub async fn recent_events(limit: u32) -> Result<Vec<LiveEvent>, AppError> {
    let backend = crate::backend::use_backend()?;
    backend.recent_events(limit.min(MAX_RECENT_EVENTS) as usize).await
}
