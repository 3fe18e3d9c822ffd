//! The one error type at the HTTP edge: a status, a stable code and a message that says
//! what to change. Internal details are logged, not sent.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{
    alerts::AlertError, analytics::AnalyticsError, index::IndexError, ingest::IngestError, journeys::JourneyError,
    rules::RuleError, store::StoreError, webhooks::WebhookError,
};

/// How long a sender is asked to wait while the disk is full: long enough for an operator or a
/// cleanup job to free space, short enough that SDK buffers do not overflow.
const DISK_FULL_RETRY_SECONDS: u32 = 30;

/// How long a question asked while the event index loads is asked to wait: the load reads
/// about a million events a second.
const WARM_UP_RETRY_SECONDS: u32 = 2;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds a sender should wait before retrying (429 and 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QueueFull => ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the write queue is full; retry after a second",
                )
            },
            StoreError::Closed => ApiError {
                retry_after: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "Wayline is shutting down; retry shortly",
                )
            },
            StoreError::DiskFull(_) => ApiError {
                retry_after: Some(DISK_FULL_RETRY_SECONDS),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "disk_full",
                    "the disk that holds Wayline's database is full, so nothing from this request was stored; \
                     retry after the time in Retry-After (the operator must free space: see the server's log)",
                )
            },
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store_error",
                    "the event store failed; nothing from this request was stored, retry it",
                )
            }
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::InvalidJson { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", error.to_string())
            }
            IngestError::TooLarge(message) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message),
            IngestError::NotABatch(message) => ApiError::new(StatusCode::BAD_REQUEST, "not_a_batch", message),
            IngestError::Unauthorized(message) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
            IngestError::RateLimited { retry_after, .. } => ApiError {
                retry_after: Some(u32::try_from(retry_after).unwrap_or(u32::MAX)),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", error.to_string())
            },
            IngestError::UnknownDeadLetter(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            IngestError::AlreadyReplayed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_replayed", error.to_string())
            }
            IngestError::Rejected(rejection) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                rejection.code,
                format!("{}; send the corrected message as the body of the replay request", rejection.message),
            ),
            IngestError::Store(store) => store.into(),
        }
    }
}

impl From<AnalyticsError> for ApiError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            AnalyticsError::BadQuery(message) => ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message),
            AnalyticsError::Busy(message) => {
                ApiError { retry_after: Some(30), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message) }
            }
            AnalyticsError::Store(store) => store.into(),
            AnalyticsError::Index(IndexError::Store(store)) => store.into(),
            AnalyticsError::Index(warming @ IndexError::WarmingUp { .. }) => ApiError {
                retry_after: Some(WARM_UP_RETRY_SECONDS),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "warming_up", warming.to_string())
            },
            AnalyticsError::Index(stopped) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "index_unavailable", stopped.to_string())
            }
        }
    }
}

impl From<crate::outcomes::OutcomeError> for ApiError {
    fn from(error: crate::outcomes::OutcomeError) -> Self {
        match error {
            crate::outcomes::OutcomeError::Store(store) => store.into(),
            // The same answers as an analytics question's: warming up, or the index stopped.
            crate::outcomes::OutcomeError::Index(index) => AnalyticsError::Index(index).into(),
        }
    }
}

impl From<crate::rule_engine::backtest::BacktestError> for ApiError {
    fn from(error: crate::rule_engine::backtest::BacktestError) -> Self {
        match error {
            crate::rule_engine::backtest::BacktestError::Invalid(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", message)
            }
            crate::rule_engine::backtest::BacktestError::Index(index) => AnalyticsError::Index(index).into(),
        }
    }
}

impl From<RuleError> for ApiError {
    fn from(error: RuleError) -> Self {
        match error {
            RuleError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", error.to_string()),
            RuleError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            RuleError::Store(store) => store.into(),
        }
    }
}

impl From<AlertError> for ApiError {
    fn from(error: AlertError) -> Self {
        match error {
            AlertError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            AlertError::Transition { .. } => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", error.to_string())
            }
            AlertError::Store(store) => store.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_webhook", error.to_string())
            }
            WebhookError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            WebhookError::Store(store) => store.into(),
        }
    }
}

impl From<JourneyError> for ApiError {
    fn from(error: JourneyError) -> Self {
        match error {
            JourneyError::Invalid(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_journey", error.to_string())
            }
            JourneyError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            JourneyError::Store(store) => store.into(),
        }
    }
}

impl From<crate::erasure::ErasureError> for ApiError {
    fn from(error: crate::erasure::ErasureError) -> Self {
        use crate::erasure::ErasureError;
        match error {
            ErasureError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            ErasureError::Store(store) => store.into(),
            ErasureError::Index(IndexError::Store(store)) => store.into(),
            ErasureError::Index(stopped) => {
                tracing::error!(error = %stopped, "the index stopped during an erasure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "index_unavailable",
                    "the customer's rows are erased but the event index stopped; restart Wayline to rebuild it",
                )
            }
        }
    }
}

impl From<crate::saved_funnels::SavedFunnelError> for ApiError {
    fn from(error: crate::saved_funnels::SavedFunnelError) -> Self {
        use crate::saved_funnels::SavedFunnelError;
        match error {
            SavedFunnelError::Store(store) => store.into(),
            SavedFunnelError::Corrupt { .. } => {
                tracing::error!(error = %error, "a saved funnel could not be read");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "corrupt",
                    "the saved funnel could not be read; save it again",
                )
            }
            SavedFunnelError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string()),
            other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_funnel", other.to_string()),
        }
    }
}

/// The same refusal as the pages read it: what the sender can fix is a bad request, the rest
/// (already worded for clients, internals logged) a failure to retry. One mapping from domain
/// errors serves the JSON API and the server functions alike.
impl From<ApiError> for app::error::AppError {
    fn from(error: ApiError) -> Self {
        if error.status == StatusCode::SERVICE_UNAVAILABLE {
            app::error::AppError::Unavailable(error.message)
        } else if error.status.is_server_error() {
            app::error::AppError::Store(error.message)
        } else if error.status == StatusCode::FORBIDDEN {
            app::error::AppError::Forbidden(error.message)
        } else {
            app::error::AppError::BadRequest(error.message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({
            "success": false,
            "error": { "code": self.code, "message": self.message },
        }));
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_a_503_with_retry_after_and_internals_stay_hidden() {
        let response = ApiError::from(StoreError::QueueFull).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");

        let full = ApiError::from(StoreError::DiskFull("No space left on device at /secret/path".into()));
        assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.code, "disk_full");
        assert!(!full.message.contains("/secret/path"), "{}", full.message);
        assert_eq!(full.into_response().headers()[header::RETRY_AFTER], "30");

        let internal = ApiError::from(StoreError::WriteFailed("disk I/O error at /secret/path".into()));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.message.contains("/secret/path"), "{}", internal.message);
    }
}
