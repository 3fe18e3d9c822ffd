//! Ingestion: turns request bodies in Segment's format into events for the store. Accepted
//! events and refused ones (as dead letters with their reason) are written in the same
//! commit, so the sender's answer always matches what is on disk.

pub mod rate;
pub mod redact;
pub mod segment;

use std::{net::IpAddr, sync::Arc};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{value::RawValue, Map, Value};

use crate::{
    metrics::IngestMetrics,
    sources::Sources,
    store::{NewDeadLetter, Store, StoreError, WriteReceipt},
};
pub use rate::{IngestThrottle, RateLimits};
pub use redact::IpPolicy;
pub use segment::{Arrival, CallType, Inherited, Rejection};

/// Size limits, as Segment's HTTP API has them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_event_bytes: usize,
    pub max_batch_bytes: usize,
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_event_bytes: 32 * 1024, max_batch_bytes: 500 * 1024, max_batch_events: 2_500 }
    }
}

/// How ingestion treats what it is sent: sizes, rates, and how much of an address it keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestPolicy {
    pub limits: Limits,
    pub rates: RateLimits,
    pub ip: IpPolicy,
}

impl IngestPolicy {
    /// No rate limits (tests and tools that write as fast as they can).
    pub fn unthrottled() -> Self {
        IngestPolicy { rates: RateLimits::OFF, ..IngestPolicy::default() }
    }
}

/// Which endpoint a body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/track`, `/v1/page`, …: one message of the named type.
    Single(CallType),
    /// `/v1/batch` and `/v1/import`: `{"batch": [...]}`.
    Batch,
}

/// A message that was refused, and which one in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedItem {
    pub index: Option<usize>,
    pub rejection: Rejection,
}

/// What became of a request's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestOutcome {
    pub receipt: WriteReceipt,
    pub rejected: Vec<RejectedItem>,
}

/// Why a whole request was refused. Unless it was unauthenticated, its dead letter is stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the body is not valid JSON: {message} (line {line}, column {column}); check the payload's syntax")]
    InvalidJson { message: String, line: usize, column: usize },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotABatch(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("too many requests from this {what}; retry in {retry_after} s, or send fewer, larger batches")]
    RateLimited { what: &'static str, retry_after: u64 },
    #[error("no dead letter {0}; list them with GET /api/v1/dead-letters")]
    UnknownDeadLetter(i64),
    #[error("dead letter {id} was already replayed at {at}")]
    AlreadyReplayed { id: i64, at: DateTime<Utc> },
    #[error("{}", .0.message)]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// A short code naming why, as `/metrics` labels a refused request.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::InvalidJson { .. } => "invalid_json",
            IngestError::TooLarge(_) => "too_large",
            IngestError::NotABatch(_) => "not_a_batch",
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::UnknownDeadLetter(_) => "unknown_dead_letter",
            IngestError::AlreadyReplayed { .. } => "already_replayed",
            IngestError::Rejected(rejection) => rejection.code,
            IngestError::Store(StoreError::DiskFull(_)) => "disk_full",
            IngestError::Store(StoreError::QueueFull) => "write_queue_full",
            IngestError::Store(_) => "store_failed",
        }
    }
}

/// A request body split into messages, before they are validated.
pub struct ParsedBody<'a> {
    /// The write key sent in the body, if any.
    pub write_key: Option<String>,
    items: Vec<Item<'a>>,
    /// Batch-level `context`, merged into every message.
    context: Option<Map<String, Value>>,
    /// Batch-level `sentAt`.
    sent_at: Option<Value>,
}

/// Only the write key of a single message; the rest is skipped without building anything.
#[derive(Deserialize)]
struct WriteKeyOnly {
    #[serde(default, rename = "writeKey")]
    write_key: Option<String>,
}

/// One message of a body: its text (parsed, and kept for its dead letter) and whether it
/// is already refused for its size.
struct Item<'a> {
    index: Option<usize>,
    raw: &'a str,
    too_large: Option<Rejection>,
}

#[derive(Deserialize)]
struct BatchEnvelope<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default, rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(default, rename = "writeKey")]
    write_key: Option<String>,
}

/// A whole-body refusal: the reason for its dead letter and the error for the sender.
pub type Refusal = Box<(Rejection, IngestError)>;

/// The ingestion service.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    sources: Arc<Sources>,
    limits: Limits,
    ip: IpPolicy,
    throttle: Arc<IngestThrottle>,
    metrics: IngestMetrics,
}

impl Ingestor {
    pub fn new(store: Store, sources: Arc<Sources>, policy: IngestPolicy, metrics: IngestMetrics) -> Self {
        Ingestor {
            metrics,
            store,
            sources,
            limits: policy.limits,
            ip: policy.ip,
            throttle: Arc::new(IngestThrottle::new(policy.rates)),
        }
    }

    /// Counts a request from `address` against its rate limit (the HTTP edge calls it before
    /// the body is read).
    pub fn admit(&self, address: IpAddr) -> Result<(), IngestError> {
        self.throttle.admit_address(address).map_err(|retry_after| {
            self.metrics.refuse_request("rate_limited");
            IngestError::RateLimited { what: "address", retry_after }
        })
    }

    /// What ingestion counted since start (events stored, duplicates dropped, refusals), for
    /// data health.
    pub fn counters(&self) -> IngestMetrics {
        self.metrics.clone()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Authenticates, validates, stores what is good and dead-letters what is not, in one
    /// commit. `header_key` is the write key from HTTP Basic auth, if sent.
    pub async fn ingest(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        header_key: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, IngestError> {
        let outcome = self.ingest_uncounted(endpoint, body, header_key, received_at).await;
        match &outcome {
            Ok(IngestOutcome { receipt, rejected }) => {
                let m = &self.metrics;
                m.received.inc_by((receipt.events + receipt.duplicates + rejected.len()) as u64);
                m.stored.inc_by(receipt.events as u64);
                m.duplicates.inc_by(receipt.duplicates as u64);
                for item in rejected {
                    m.refuse(item.rejection.code, 1);
                }
            }
            Err(error) => self.metrics.refuse_request(error.reason()),
        }
        outcome
    }

    async fn ingest_uncounted(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        header_key: Option<&str>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, IngestError> {
        let header_source = header_key.map(|key| self.authenticate(Some(key))).transpose()?;
        let parsed = parse_body(endpoint, body, &self.limits);
        // Without a valid key nothing is stored, not even as a dead letter: anyone could
        // otherwise fill the database.
        let parsed = match (header_source.is_some(), parsed) {
            (false, Err(refusal)) => return Err(refusal.1),
            (_, parsed) => parsed,
        };
        let source_id = match header_source {
            Some(source) => source,
            None => self.authenticate(parsed.as_ref().ok().and_then(|p| p.write_key.as_deref()))?,
        };
        self.throttle
            .admit_source(&source_id)
            .map_err(|retry_after| IngestError::RateLimited { what: "write key", retry_after })?;
        let arrival = Arrival { source_id: source_id.clone(), received_at };
        let call_type = match endpoint {
            Endpoint::Single(kind) => Some(kind.as_str().to_string()),
            Endpoint::Batch => None,
        };
        let letter = |payload: &[u8], rejection: &Rejection| NewDeadLetter {
            source_id: Some(source_id.clone()),
            received_at,
            reason_code: rejection.code.to_string(),
            reason: rejection.message.clone(),
            payload: truncate(
                redact::dead_letter_payload(&String::from_utf8_lossy(payload), self.ip),
                self.limits.max_event_bytes,
            ),
            call_type: call_type.clone(),
        };

        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(refusal) => {
                let (rejection, error) = *refusal;
                self.store.write(Vec::new(), vec![letter(body, &rejection)]).await?;
                return Err(error);
            }
        };
        let mut events = Vec::with_capacity(parsed.items.len());
        let mut rejected = Vec::new();
        let mut dead_letters = Vec::new();
        for message in read_messages(endpoint, &parsed, &arrival, &self.limits) {
            match message.event {
                Ok(mut event) => {
                    event.context = self.ip.apply(event.context);
                    events.push(event)
                }
                Err(rejection) => {
                    dead_letters.push(letter(message.raw.as_bytes(), &rejection));
                    rejected.push(RejectedItem { index: message.index, rejection });
                }
            }
        }
        let receipt = self.store.write(events, dead_letters).await?;
        Ok(IngestOutcome { receipt, rejected })
    }

    /// Re-ingests a dead letter, as stored or as `corrected`, for the source that sent it.
    /// Succeeds only if the message is now valid; the dead letter is then marked replayed.
    pub async fn replay(
        &self,
        id: i64,
        corrected: Option<&[u8]>,
        received_at: DateTime<Utc>,
    ) -> Result<WriteReceipt, IngestError> {
        let dead = self.store.dead_letter(id).await?.ok_or(IngestError::UnknownDeadLetter(id))?;
        if let Some(at) = dead.replayed_at {
            return Err(IngestError::AlreadyReplayed { id, at });
        }
        let payload = match corrected {
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            None => dead.letter.payload,
        };
        let path_type = dead.letter.call_type.as_deref().and_then(CallType::parse);
        // Replayed as if its source sent it again now: a source whose key no longer works
        // (revoked, or the demo key without --demo) cannot have its letters let in.
        let source_id = dead.letter.source_id.filter(|source| self.sources.accepts(source)).ok_or_else(|| {
            IngestError::Unauthorized(format!(
                "dead letter {id} came from a source whose write key is no longer accepted; it cannot be replayed"
            ))
        })?;
        let arrival = Arrival { source_id, received_at };
        let mut event = segment::parse_message(path_type, &payload, Inherited::default(), &arrival)
            .map_err(IngestError::Rejected)?;
        event.context = self.ip.apply(event.context);
        Ok(self.store.write_replay(vec![event], id).await?)
    }

    fn authenticate(&self, key: Option<&str>) -> Result<String, IngestError> {
        let key = key.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
            IngestError::Unauthorized(
                "missing write key: send it as the HTTP Basic user name (empty password) or as \"writeKey\" in the body".into(),
            )
        })?;
        self.sources.authenticate(key).ok_or_else(|| {
            IngestError::Unauthorized(
                "unknown write key: check it, or create one with `wayline source add NAME`".into(),
            )
        })
    }
}

/// Splits a request body into its messages, refusing a body that is not JSON, not a batch or
/// over the limits. Pure (no store, key or clock), as is [`read_messages`]: ingestion is these
/// two, then authentication and the commit.
pub fn parse_body<'a>(endpoint: Endpoint, body: &'a [u8], limits: &Limits) -> Result<ParsedBody<'a>, Refusal> {
    let limit = match endpoint {
        Endpoint::Single(_) => limits.max_event_bytes,
        Endpoint::Batch => limits.max_batch_bytes,
    };
    if body.len() > limit {
        let message = format!(
            "the body is {} bytes, over the {limit}-byte limit for this endpoint; split it into smaller batches",
            body.len()
        );
        return Err(Box::new((
            Rejection { code: "too_large", message: message.clone() },
            IngestError::TooLarge(message),
        )));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        let message =
            format!("the body is not UTF-8 text (invalid byte at offset {}); send JSON as UTF-8", e.valid_up_to());
        Box::new((Rejection { code: "invalid_json", message: message.clone() }, IngestError::NotABatch(message)))
    })?;
    match endpoint {
        Endpoint::Single(_) => {
            // Syntax errors refuse the body; a body of the wrong shape (an array, say) goes
            // on to be refused as a message, with a reason naming what it was.
            let write_key = match serde_json::from_str::<WriteKeyOnly>(text) {
                Ok(only) => only.write_key,
                Err(e) if e.classify() == serde_json::error::Category::Data => None,
                Err(e) => return Err(invalid_json(&e)),
            };
            let item = Item { index: None, raw: text, too_large: None };
            Ok(ParsedBody { write_key, items: vec![item], context: None, sent_at: None })
        }
        Endpoint::Batch => parse_batch(text, limits),
    }
}

fn parse_batch<'a>(text: &'a str, limits: &Limits) -> Result<ParsedBody<'a>, Refusal> {
    let envelope: BatchEnvelope<'a> = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let message = format!("the body is not a batch ({}); send {{\"batch\": [{{…}}, …]}}", json_error_text(&e));
            Box::new((Rejection { code: "not_a_batch", message: message.clone() }, IngestError::NotABatch(message)))
        }
        _ => invalid_json(&e),
    })?;
    if envelope.batch.len() > limits.max_batch_events {
        let message = format!(
            "the batch has {} messages, over the limit of {}; split it into smaller batches",
            envelope.batch.len(),
            limits.max_batch_events
        );
        return Err(Box::new((
            Rejection { code: "too_many_messages", message: message.clone() },
            IngestError::TooLarge(message),
        )));
    }
    let items = envelope
        .batch
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let raw = raw.get();
            let too_large = (raw.len() > limits.max_event_bytes).then(|| Rejection {
                code: "too_large",
                message: format!(
                    "the message is {} bytes, over the {}-byte limit per event; trim its properties",
                    raw.len(),
                    limits.max_event_bytes
                ),
            });
            Item { index: Some(index), raw, too_large }
        })
        .collect();
    let context = match envelope.context {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    Ok(ParsedBody { write_key: envelope.write_key, items, context, sent_at: envelope.sent_at })
}

/// One message of a parsed body, read: an event to store or the reason it is refused.
pub struct ReadMessage<'a> {
    /// Its place in the batch (`None` for a single message).
    pub index: Option<usize>,
    /// Its text, kept for its dead letter.
    pub raw: &'a str,
    pub event: Result<crate::store::NewEvent, Rejection>,
}

/// Reads every message of `parsed` as arriving at `arrival`, through the endpoint `endpoint`.
pub fn read_messages<'a>(
    endpoint: Endpoint,
    parsed: &ParsedBody<'a>,
    arrival: &Arrival,
    limits: &Limits,
) -> Vec<ReadMessage<'a>> {
    let path_type = match endpoint {
        Endpoint::Single(kind) => Some(kind),
        Endpoint::Batch => None,
    };
    let inherited = Inherited { context: parsed.context.as_ref(), sent_at: parsed.sent_at.as_ref() };
    // The batch's context is merged into each message, so it counts toward each one's size.
    let shared_context_bytes = parsed.context.as_ref().map_or(0, |c| Value::Object(c.clone()).to_string().len());
    parsed
        .items
        .iter()
        .map(|item| {
            let too_large = item.too_large.clone().or_else(|| {
                let merged = item.raw.len() + shared_context_bytes;
                (shared_context_bytes > 0 && merged > limits.max_event_bytes).then(|| Rejection {
                    code: "too_large",
                    message: format!(
                        "the message and the batch's context come to {merged} bytes, over the {}-byte limit per event; send a smaller context",
                        limits.max_event_bytes
                    ),
                })
            });
            let event = match too_large {
                Some(rejection) => Err(rejection),
                None => segment::parse_message(path_type, item.raw, inherited, arrival),
            };
            ReadMessage { index: item.index, raw: item.raw, event }
        })
        .collect()
}

fn invalid_json(error: &serde_json::Error) -> Refusal {
    let error =
        IngestError::InvalidJson { message: json_error_text(error), line: error.line(), column: error.column() };
    Box::new((Rejection { code: "invalid_json", message: error.to_string() }, error))
}

/// serde_json's message without its trailing " at line X column Y" (we report those apart).
fn json_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 5), "abc");
    }

    #[test]
    fn json_errors_lose_their_position_suffix() {
        let error = serde_json::from_str::<Value>("{\"a\":").unwrap_err();
        assert_eq!(json_error_text(&error), "EOF while parsing a value");
    }
}
