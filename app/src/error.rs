//! The error type server functions return to the browser.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

/// What can go wrong when a page asks the backend for data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The server failed inside (DuckDB, a chart); the message says to retry, and the details
    /// stay in the server's log, never in the browser.
    #[error("{0}")]
    Store(String),
    /// The request itself was wrong; the message names the field and the fix.
    #[error("{0}")]
    BadRequest(String),
    /// Transport or encoding failure of the server-function call itself.
    #[error("the request to the server failed: {0}")]
    ServerFn(ServerFnErrorErr),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::ServerFn(value)
    }
}
