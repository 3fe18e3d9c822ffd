//! The error type server functions return to the browser.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What can go wrong when a page asks the backend for data. Each failure inside the server
/// names the part that failed; its message says to retry, and the details stay in the
/// server's log, never in the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The database or the event index failed.
    #[error("{0}")]
    Store(String),
    /// A chart could not be drawn.
    #[error("{0}")]
    Chart(String),
    /// The server is overloaded or shutting down; retrying shortly helps.
    #[error("{0}")]
    Unavailable(String),
    /// The server was started without the dashboard's backend (a wiring mistake).
    #[error("the dashboard backend was not provided to the app; this is a bug in how the server was started")]
    NoBackend,
    /// The request itself was wrong; the message names the field and the fix.
    #[error("{0}")]
    BadRequest(String),
    /// The asker's role may not have this answer (a viewer filtering on personal data); the
    /// message says who may.
    #[error("{0}")]
    Forbidden(String),
    /// Transport or encoding failure of the server-function call itself.
    #[error("the request to the server failed: {0}")]
    ServerFn(ServerFnErrorErr),
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status a server function answers with: what the asker can fix is a 400, a
    /// failure inside a 500 (a 503 when retrying shortly helps).
    pub fn status(&self) -> http::StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::ServerFn(_) => http::StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => http::StatusCode::FORBIDDEN,
            AppError::Unavailable(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Chart(_) | AppError::NoBackend => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}
