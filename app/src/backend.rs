//! What the dashboard needs from the server, declared here so that `server` can implement it
//! without a dependency cycle. `server` provides an implementation as Leptos context.

use std::{future::Future, pin::Pin, sync::Arc};

use crate::{error::AppError, types::LiveEvent};

/// A boxed future answering one backend call.
pub type BackendFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send>>;

/// The server-side services the pages read from.
pub trait DashboardBackend: Send + Sync + 'static {
    /// The newest `limit` committed events, newest first.
    fn recent_events(&self, limit: usize) -> BackendFuture<Vec<LiveEvent>>;
}

/// The backend as it is put into Leptos context.
pub type SharedBackend = Arc<dyn DashboardBackend>;

/// The backend from context, or an error saying it was not provided.
pub fn use_backend() -> Result<SharedBackend, AppError> {
    leptos::prelude::use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Store("the dashboard backend was not provided to the app".into()))
}
