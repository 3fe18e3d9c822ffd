//! Outgoing webhooks: every new alert is sent to each enabled webhook, as the alert's JSON or
//! as a Slack incoming-webhook message, retried with exponential back-off; every attempt is
//! logged, and an alert whose last attempt failed stays in the log as a dead letter. Retries
//! that a stop cut short resume at the next start. Destinations are checked against SSRF
//! (see [`destination`]).

pub mod destination;

use std::{collections::HashMap, sync::RwLock, time::Duration};

use chrono::Utc;
use duckdb::params;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;

use crate::{
    alerts::{Alert, Alerts},
    store::{sql, Micros, Store, StoreError},
    telemetry::Cause,
};

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `{"type": "alert", "alert": {...}}`
    #[default]
    Json,
    /// `{"text": "..."}`, what Slack's incoming webhooks take.
    Slack,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Taken from the path when the body leaves it out.
    #[serde(default)]
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// One logged attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub alert_id: i64,
    pub attempt: i32,
    /// `delivered`, `retrying` or `dead`.
    pub outcome: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub attempted_at: chrono::DateTime<Utc>,
}

/// Retries: the first after `first_delay`, each next twice as late, `attempts` in all.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts over about 4 minutes (1 s, 2 s, 4 s … 64 s apart).
    fn default() -> Self {
        RetryPolicy { attempts: 8, first_delay: Duration::from_secs(1) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook is not valid: {0}")]
    Invalid(String),
    #[error("no webhook with id {0:?}; list them with GET /api/v1/webhooks")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The webhooks, cached in memory, and their delivery.
pub struct Webhooks {
    store: Store,
    cache: RwLock<HashMap<String, Webhook>>,
    retry: RetryPolicy,
    /// Webhooks may reach loopback and private addresses (`--allow-private-webhooks`).
    allow_private: bool,
    /// Delivery attempts by outcome, for `/metrics`.
    metrics: crate::metrics::AlertMetrics,
}

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many webhooks, each URL at most this long.
pub const MAX_WEBHOOKS: usize = 50;
const MAX_URL_BYTES: usize = 2048;

impl Webhooks {
    pub async fn load(
        store: Store,
        retry: RetryPolicy,
        allow_private: bool,
        metrics: crate::metrics::AlertMetrics,
    ) -> Result<Self, WebhookError> {
        let all: Vec<Webhook> = store
            .read(|conn| {
                let mut stmt = conn.prepare(sql::WEBHOOKS_SELECT_ALL)?;
                let rows = stmt.query_map([], |r| {
                    let format: String = r.get(2)?;
                    Ok(Webhook {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        format: if format == "slack" { Format::Slack } else { Format::Json },
                        enabled: r.get(3)?,
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        let cache = RwLock::new(all.into_iter().map(|w| (w.id.clone(), w)).collect());
        Ok(Webhooks { store, cache, retry, allow_private, metrics })
    }

    pub fn list(&self) -> Vec<Webhook> {
        let mut all: Vec<Webhook> = self.cache.read().map(|c| c.values().cloned().collect()).unwrap_or_default();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub async fn save(&self, webhook: Webhook) -> Result<(), WebhookError> {
        if webhook.id.is_empty() || !webhook.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(WebhookError::Invalid(format!("id {:?} must be letters, digits, '-' or '_'", webhook.id)));
        }
        if webhook.url.len() > MAX_URL_BYTES {
            return Err(WebhookError::Invalid(format!("the url is longer than {MAX_URL_BYTES} bytes; shorten it")));
        }
        let is_new = !self.cache.read().map(|c| c.contains_key(&webhook.id)).unwrap_or(false);
        if is_new && self.list().len() >= MAX_WEBHOOKS {
            return Err(WebhookError::Invalid(format!(
                "there are already {MAX_WEBHOOKS} webhooks, the most Wayline keeps; delete one first"
            )));
        }
        destination::check(&webhook.url, self.allow_private).await.map_err(WebhookError::Invalid)?;
        let row = webhook.clone();
        let now = self.store.clock().now();
        self.store
            .change(move |conn| {
                conn.execute(
                    sql::WEBHOOKS_UPSERT,
                    params![row.id, row.url, row.format.as_str(), row.enabled, Micros::of(now)],
                )?;
                Ok(())
            })
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(webhook.id.clone(), webhook);
        }
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<(), WebhookError> {
        if !self.cache.read().map(|c| c.contains_key(id)).unwrap_or(false) {
            return Err(WebhookError::NotFound(id.to_string()));
        }
        let owned = id.to_string();
        self.store
            .change(move |conn| {
                conn.execute(sql::WEBHOOKS_DELETE, params![owned])?;
                Ok(())
            })
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(id);
        }
        Ok(())
    }

    /// The delivery log of a webhook, newest first, optionally one outcome (`dead`: the
    /// dead letters).
    pub async fn deliveries(
        &self,
        id: &str,
        outcome: Option<String>,
        limit: usize,
    ) -> Result<Vec<Delivery>, WebhookError> {
        if !self.cache.read().map(|c| c.contains_key(id)).unwrap_or(false) {
            return Err(WebhookError::NotFound(id.to_string()));
        }
        let id = id.to_string();
        Ok(self
            .store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::WEBHOOKS_SELECT_DELIVERIES)?;
                let rows = stmt.query_map(params![id, outcome, limit.clamp(1, 1000) as i64], |r| {
                    Ok(Delivery {
                        alert_id: r.get(0)?,
                        attempt: r.get(1)?,
                        outcome: r.get(2)?,
                        status_code: r.get(3)?,
                        error: r.get(4)?,
                        attempted_at: chrono::DateTime::from_timestamp_micros(r.get(5)?).unwrap_or_default(),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?)
    }

    /// Resumes the retries a stop cut short, then sends every new alert to every enabled
    /// webhook until the alert feed closes.
    pub async fn run(self: std::sync::Arc<Self>, alerts: Alerts) {
        let mut changes = alerts.subscribe();
        if let Err(e) = self.resume(&alerts).await {
            tracing::error!(error = %e, "could not resume the webhook retries");
        }
        loop {
            match changes.recv().await {
                // A change of an existing alert (acknowledged, resolved) is not sent.
                Ok(change) if change.value.created_at != change.value.updated_at => {}
                Ok(change) => {
                    for webhook in self.list().into_iter().filter(|w| w.enabled) {
                        tokio::spawn(self.clone().deliver(webhook, change.value.clone(), 1, change.cause.clone()));
                    }
                }
                Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "webhooks fell behind the alert feed"),
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Deliveries whose last logged attempt was to be retried go on from the next attempt.
    async fn resume(self: &std::sync::Arc<Self>, alerts: &Alerts) -> Result<(), WebhookError> {
        let pending: Vec<(String, i64, i32)> = self
            .store
            .read(|conn| {
                let mut stmt = conn.prepare(sql::WEBHOOKS_PENDING_RETRIES)?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        let webhooks: HashMap<String, Webhook> =
            self.list().into_iter().filter(|w| w.enabled).map(|w| (w.id.clone(), w)).collect();
        for (webhook_id, alert_id, last_attempt) in pending {
            let (Some(webhook), Ok(alert)) = (webhooks.get(&webhook_id), alerts.get(alert_id).await) else { continue };
            tracing::info!(webhook = %webhook_id, alert = alert_id, "resuming a webhook delivery");
            tokio::spawn(self.clone().deliver(webhook.clone(), alert, last_attempt.max(0) as u32 + 1, Cause::none()));
        }
        Ok(())
    }

    /// Tries from attempt `first` until delivered or out of attempts, logging each attempt;
    /// attempt n > 1 waits `first_delay × 2ⁿ⁻²` before it. Each attempt continues the trace of
    /// the alert's `cause` (see [`crate::telemetry`]), and tells the receiver so.
    async fn deliver(self: std::sync::Arc<Self>, webhook: Webhook, alert: Alert, first: u32, cause: Cause) {
        let body = payload(webhook.format, &alert);
        for attempt in first.max(1)..=self.retry.attempts.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.retry.first_delay * 2u32.saturating_pow(attempt - 2)).await;
                // Erased (or deleted by retention) meanwhile: its customer is not sent again.
                if !self.alert_exists(alert.id).await {
                    return;
                }
            }
            let span = crate::path_span!(
                &cause,
                "webhook.attempt",
                webhook = %webhook.id,
                attempt,
                http.response.status_code = tracing::field::Empty,
                outcome = tracing::field::Empty,
            );
            let traceparent = crate::telemetry::traceparent(&span);
            let (status, error) = self.attempt(&webhook.url, &body, traceparent).instrument(span.clone()).await;
            let last = attempt == self.retry.attempts.max(1);
            let outcome = match (&error, last) {
                (None, _) => "delivered",
                (Some(_), false) => "retrying",
                (Some(_), true) => "dead",
            };
            span.record("outcome", outcome);
            if let Some(status) = status {
                span.record("http.response.status_code", status);
            }
            drop(span);
            self.metrics.deliveries.get_or_create(&crate::metrics::OutcomeLabel { outcome }).inc();
            self.log(&webhook.id, alert.id, attempt as i32, outcome, status, error.clone()).await;
            if error.is_none() || last {
                return;
            }
        }
    }

    async fn alert_exists(&self, id: i64) -> bool {
        let counted = self
            .store
            .read(move |conn| Ok(conn.query_row(sql::ALERTS_EXISTS, params![id], |row| row.get::<_, i64>(0))?));
        // A store that cannot answer stops the retries rather than sending what may be erased.
        counted.await.is_ok_and(|n| n > 0)
    }

    /// One attempt: the URL checked again (its name may now resolve elsewhere), then sent to
    /// the checked address. The status code, and what went wrong if anything.
    async fn attempt(&self, url: &str, body: &Value, traceparent: Option<String>) -> (Option<i32>, Option<String>) {
        let destination = match destination::check(url, self.allow_private).await {
            Ok(destination) => destination,
            Err(refused) => return (None, Some(refused)),
        };
        let client = match destination::client_for(&destination, ATTEMPT_TIMEOUT) {
            Ok(client) => client,
            Err(e) => return (None, Some(format!("could not build the HTTP client: {e}"))),
        };
        let mut request = client.post(destination.url).json(body);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16() as i32), None),
            Ok(r) if r.status().is_redirection() => (
                Some(r.status().as_u16() as i32),
                Some(format!("the receiver answered {} (redirects are not followed; give the final URL)", r.status())),
            ),
            Ok(r) => (Some(r.status().as_u16() as i32), Some(format!("the receiver answered {}", r.status()))),
            Err(e) => (None, Some(format!("could not reach the receiver: {e}"))),
        }
    }

    async fn log(
        &self,
        webhook: &str,
        alert: i64,
        attempt: i32,
        outcome: &str,
        status: Option<i32>,
        error: Option<String>,
    ) {
        let (webhook, outcome) = (webhook.to_string(), outcome.to_string());
        let now = self.store.clock().now();
        let logged = self
            .store
            .change(move |conn| {
                conn.execute(
                    sql::WEBHOOKS_LOG_DELIVERY,
                    params![webhook, alert, attempt, outcome, status, error, Micros::of(now)],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = logged {
            tracing::error!(error = %e, "could not log a webhook delivery");
        }
    }
}

/// The body a webhook receives.
pub fn payload(format: Format, alert: &Alert) -> Value {
    match format {
        Format::Json => json!({ "type": "alert", "alert": alert }),
        // Aggregate rules' alerts are about all customers and name none.
        Format::Slack if alert.customer_id.is_empty() => {
            json!({ "text": format!("*{}*: {}", alert.rule_name, alert.message) })
        }
        Format::Slack => json!({
            "text": format!("*{}*: customer `{}` — {}", alert.rule_name, alert.customer_id, alert.message)
        }),
    }
}
