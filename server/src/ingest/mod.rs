//! Ingestion: turns request bodies in Segment's format into events for the store. Accepted
//! events and refused ones (as dead letters with their reason) are written in the same
//! commit, so the sender's answer always matches what is on disk.

pub mod segment;

use serde_json::{Map, Value};

use crate::store::{NewDeadLetter, NewEvent, Store, StoreError, WriteReceipt};
pub use segment::{Arrival, CallType, Rejection};

/// Size limits, as Segment's HTTP API has them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_event_bytes: usize,
    pub max_batch_bytes: usize,
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_event_bytes: 32 * 1024,
            max_batch_bytes: 500 * 1024,
            max_batch_events: 2_500,
        }
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

/// Why a whole request was refused (its dead letter is already stored).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the body is not valid JSON: {message} (line {line}, column {column}); check the payload's syntax")]
    InvalidJson {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotABatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ingestion service.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    limits: Limits,
}

impl Ingestor {
    pub fn new(store: Store, limits: Limits) -> Self {
        Ingestor { store, limits }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Validates `body`, stores what is good and dead-letters what is not, in one commit.
    pub async fn ingest(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        arrival: Arrival,
    ) -> Result<IngestOutcome, IngestError> {
        let (events, rejected, refusal) = match self.validate(endpoint, body, &arrival) {
            Ok((events, rejected)) => (events, rejected, None),
            Err((rejection, error)) => (
                Vec::new(),
                vec![RejectedItem {
                    index: None,
                    rejection,
                }],
                Some(error),
            ),
        };
        let dead_letters = rejected
            .iter()
            .map(|item| self.dead_letter(&arrival, item, body, endpoint))
            .collect();
        let receipt = self.store.write(events, dead_letters).await?;
        match refusal {
            Some(error) => Err(error),
            None => Ok(IngestOutcome { receipt, rejected }),
        }
    }

    /// Splits a body into accepted events and refused items, or refuses it whole.
    fn validate(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        arrival: &Arrival,
    ) -> Result<(Vec<NewEvent>, Vec<RejectedItem>), (Rejection, IngestError)> {
        let limit = match endpoint {
            Endpoint::Single(_) => self.limits.max_event_bytes,
            Endpoint::Batch => self.limits.max_batch_bytes,
        };
        if body.len() > limit {
            let message = format!(
                "the body is {} bytes, over the {limit}-byte limit for this endpoint; split it into smaller batches",
                body.len()
            );
            return Err((
                Rejection {
                    code: "too_large",
                    message: message.clone(),
                },
                IngestError::TooLarge(message),
            ));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            let error = IngestError::InvalidJson {
                message: json_error_text(&e),
                line: e.line(),
                column: e.column(),
            };
            (
                Rejection {
                    code: "invalid_json",
                    message: error.to_string(),
                },
                error,
            )
        })?;
        match endpoint {
            Endpoint::Single(kind) => {
                Ok(match segment::parse_message(Some(kind), &value, arrival) {
                    Ok(event) => (vec![event], Vec::new()),
                    Err(rejection) => (
                        Vec::new(),
                        vec![RejectedItem {
                            index: None,
                            rejection,
                        }],
                    ),
                })
            }
            Endpoint::Batch => self.validate_batch(value, arrival),
        }
    }

    fn validate_batch(
        &self,
        value: Value,
        arrival: &Arrival,
    ) -> Result<(Vec<NewEvent>, Vec<RejectedItem>), (Rejection, IngestError)> {
        let refuse = |code: &'static str, message: String, error: fn(String) -> IngestError| {
            Err((
                Rejection {
                    code,
                    message: message.clone(),
                },
                error(message),
            ))
        };
        let Value::Object(mut envelope) = value else {
            return refuse(
                "not_a_batch",
                "a batch must be a JSON object {\"batch\": [...]}".into(),
                IngestError::NotABatch,
            );
        };
        let Some(Value::Array(items)) = envelope.remove("batch") else {
            return refuse(
                "not_a_batch",
                "the body has no \"batch\" array; send {\"batch\": [{…}, …]}".into(),
                IngestError::NotABatch,
            );
        };
        if items.len() > self.limits.max_batch_events {
            let message = format!(
                "the batch has {} messages, over the limit of {}; split it into smaller batches",
                items.len(),
                self.limits.max_batch_events
            );
            return refuse("too_many_messages", message, IngestError::TooLarge);
        }
        let shared_context = envelope.remove("context");
        let shared_sent_at = envelope.remove("sentAt");
        let mut events = Vec::with_capacity(items.len());
        let mut rejected = Vec::new();
        for (index, mut item) in items.into_iter().enumerate() {
            inherit_batch_fields(&mut item, shared_context.as_ref(), shared_sent_at.as_ref());
            let size = serde_json::to_vec(&item).map(|b| b.len()).unwrap_or(0);
            let parsed = if size > self.limits.max_event_bytes {
                Err(Rejection {
                    code: "too_large",
                    message: format!(
                        "the message is {size} bytes, over the {}-byte limit per event; trim its properties",
                        self.limits.max_event_bytes
                    ),
                })
            } else {
                segment::parse_message(None, &item, arrival)
            };
            match parsed {
                Ok(event) => events.push(event),
                Err(rejection) => rejected.push(RejectedItem {
                    index: Some(index),
                    rejection,
                }),
            }
        }
        Ok((events, rejected))
    }

    fn dead_letter(
        &self,
        arrival: &Arrival,
        item: &RejectedItem,
        body: &[u8],
        endpoint: Endpoint,
    ) -> NewDeadLetter {
        // A refused batch item is kept as itself, so that it can be replayed alone.
        let payload = match (item.index, endpoint) {
            (Some(index), Endpoint::Batch) => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("batch")
                        .and_then(|b| b.get(index))
                        .map(Value::to_string)
                })
                .unwrap_or_default(),
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        NewDeadLetter {
            source_id: Some(arrival.source_id.clone()),
            received_at: arrival.received_at,
            reason_code: item.rejection.code.to_string(),
            reason: item.rejection.message.clone(),
            payload: truncate(payload, self.limits.max_event_bytes),
        }
    }
}

/// Batch-level `context` is merged into each item's (the item's own keys win); batch-level
/// `sentAt` applies to items that have none.
fn inherit_batch_fields(item: &mut Value, context: Option<&Value>, sent_at: Option<&Value>) {
    let Value::Object(fields) = item else { return };
    if let Some(Value::Object(shared)) = context {
        let mut merged: Map<String, Value> = shared.clone();
        if let Some(Value::Object(own)) = fields.get("context") {
            merged.extend(own.clone());
        }
        fields.insert("context".into(), Value::Object(merged));
    }
    if let Some(sent_at) = sent_at {
        fields.entry("sentAt").or_insert_with(|| sent_at.clone());
    }
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
    use serde_json::json;

    #[test]
    fn batch_context_is_merged_under_the_items_own() {
        let mut item = json!({"context": {"ip": "own"}, "sentAt": "2026-01-01T00:00:00Z"});
        inherit_batch_fields(
            &mut item,
            Some(&json!({"ip": "shared", "locale": "de"})),
            Some(&json!("x")),
        );
        assert_eq!(item["context"], json!({"ip": "own", "locale": "de"}));
        assert_eq!(item["sentAt"], json!("2026-01-01T00:00:00Z"));
        let mut bare = json!({});
        inherit_batch_fields(&mut bare, None, Some(&json!("2026-01-02T00:00:00Z")));
        assert_eq!(bare["sentAt"], json!("2026-01-02T00:00:00Z"));
    }

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
