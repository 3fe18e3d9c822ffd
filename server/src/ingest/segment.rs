//! Segment's HTTP Tracking API message format: parsing one message into a [`NewEvent`],
//! with a reason that names the problem and the fix when it cannot be accepted.
//! Pure functions; no I/O.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{value::RawValue, Map, Value};

use crate::store::{value_of, JsonText, NewEvent};

/// Segment's call types, as `type` in the body or the last segment of `/v1/<type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl CallType {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "track" => CallType::Track,
            "page" => CallType::Page,
            "screen" => CallType::Screen,
            "identify" => CallType::Identify,
            "group" => CallType::Group,
            "alias" => CallType::Alias,
            _ => return None,
        })
    }

    /// The endpoint name, long (`/v1/track`) or the one-letter form Segment's browser
    /// library (analytics-next) posts to (`/v1/t`).
    pub fn from_path(segment: &str) -> Option<Self> {
        Some(match segment {
            "t" => CallType::Track,
            "p" => CallType::Page,
            "s" => CallType::Screen,
            "i" => CallType::Identify,
            "g" => CallType::Group,
            "a" => CallType::Alias,
            other => return Self::parse(other),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Identify => "identify",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }
}

/// Why a message was refused: a stable code for machines and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Rejection { code, message: message.into() }
    }
}

/// Events dated further ahead than this are refused as a broken client clock.
pub const MAX_FUTURE: Duration = Duration::hours(24);

/// Where and when a message arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub source_id: String,
    pub received_at: DateTime<Utc>,
}

/// What a batch hands down to each of its messages.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inherited<'a> {
    /// Batch-level `context`, merged under each message's own.
    pub context: Option<&'a Map<String, Value>>,
    /// Batch-level `sentAt`, for messages without their own.
    pub sent_at: Option<&'a Value>,
}

/// Top-level keys whose values are small scalars, parsed as values; `properties`, `traits`
/// and `context` stay text (checked to be objects, never turned into trees).
const SCALAR_KEYS: &[&str] = &[
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "event",
    "name",
    "previousId",
    "groupId",
    "timestamp",
    "originalTimestamp",
    "sentAt",
];

/// Turns one Segment message (its JSON text) into an event to store.
///
/// `path_type` is the call type named by the endpoint (`/v1/track`); `None` for batch items,
/// which must carry their own `type`.
pub fn parse_message(
    path_type: Option<CallType>,
    raw: &str,
    inherited: Inherited<'_>,
    arrival: &Arrival,
) -> Result<NewEvent, Rejection> {
    let top: HashMap<String, &RawValue> =
        serde_json::from_str(raw).map_err(|_| match serde_json::from_str::<Value>(raw) {
            Ok(value) => Rejection::new(
                "not_an_object",
                format!(
                    "each message must be a JSON object, got {}; send {{\"type\": \"track\", \"event\": …}}",
                    kind_of(&value)
                ),
            ),
            Err(e) => Rejection::new("invalid_json", format!("the message is not valid JSON: {e}")),
        })?;
    let mut fields = Map::new();
    for key in SCALAR_KEYS {
        if let Some(value) = top.get(*key) {
            let value: Value = serde_json::from_str(value.get()).unwrap_or(Value::Null);
            fields.insert((*key).to_string(), value);
        }
    }
    if let Some(sent_at) = inherited.sent_at {
        fields.entry("sentAt").or_insert_with(|| sent_at.clone());
    }
    let fields = &fields;

    let kind = call_type(path_type, fields)?;
    let user_id = identity(fields, "userId")?;
    let anonymous_id = identity(fields, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(Rejection::new(
            "missing_identity",
            "the message has neither userId nor anonymousId; set at least one of them",
        ));
    }

    let name = match kind {
        CallType::Track => Some(required_text(
            fields,
            "event",
            "track calls need the event name, e.g. \"event\": \"Order Completed\"",
        )?),
        CallType::Page | CallType::Screen => optional_text(fields, "name")?,
        CallType::Identify | CallType::Group | CallType::Alias => None,
    };
    let mut properties = object_text(&top, "properties")?;
    let mut traits = object_text(&top, "traits")?;
    let mut context = object_text(&top, "context")?;
    if let Some(shared) = inherited.context {
        let mut merged = shared.clone();
        if let Value::Object(own) = value_of(&context) {
            merged.extend(own);
        }
        context = Some(JsonText::from_value(&Value::Object(merged)));
    }
    match kind {
        CallType::Alias => {
            let previous =
                required_text(fields, "previousId", "alias calls need previousId, the id being merged into userId")?;
            properties = Some(with_field(value_of(&properties), "previousId", previous));
        }
        CallType::Group => {
            let group =
                required_text(fields, "groupId", "group calls need groupId, the account the customer belongs to")?;
            traits = Some(with_field(value_of(&traits), "groupId", group));
        }
        _ => {}
    }

    let timestamp = time_field(fields, "timestamp")?;
    let original_timestamp = time_field(fields, "originalTimestamp")?.or(timestamp);
    let sent_at = time_field(fields, "sentAt")?;
    let corrected = corrected_timestamp(arrival.received_at, original_timestamp, sent_at);
    if corrected - arrival.received_at > MAX_FUTURE {
        return Err(Rejection::new(
            "timestamp_in_future",
            format!(
                "the event is dated {corrected}, more than 24 h after it was received; check the sender's clock or send sentAt so Wayline can correct it"
            ),
        ));
    }

    let message_id = match optional_text(fields, "messageId")? {
        Some(id) => id,
        None => format!("wayline-{}", uuid::Uuid::new_v4()),
    };

    Ok(NewEvent {
        message_id,
        source_id: arrival.source_id.clone(),
        kind: kind.as_str().to_string(),
        name,
        anonymous_id,
        user_id,
        timestamp: corrected,
        original_timestamp,
        sent_at,
        received_at: arrival.received_at,
        properties,
        traits,
        context,
    })
}

/// Corrects the client clock as Segment does: the time between the event and its sending,
/// both by the client's clock, is taken back from the server's receipt time.
pub fn corrected_timestamp(
    received_at: DateTime<Utc>,
    original_timestamp: Option<DateTime<Utc>>,
    sent_at: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    match (original_timestamp, sent_at) {
        (Some(original), Some(sent)) => received_at - (sent - original),
        (Some(original), None) => original,
        (None, _) => received_at,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn call_type(path_type: Option<CallType>, fields: &Map<String, Value>) -> Result<CallType, Rejection> {
    let named = match fields.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(CallType::parse(name).ok_or_else(|| {
            Rejection::new(
                "unknown_type",
                format!("unknown type \"{name}\"; use one of track, page, screen, identify, group, alias"),
            )
        })?),
        Some(other) => {
            return Err(Rejection::new("unknown_type", format!("type must be a string, got {}", kind_of(other))));
        }
    };
    match (path_type, named) {
        (Some(path), Some(body)) if path != body => Err(Rejection::new(
            "type_mismatch",
            format!(
                "the body says type \"{}\" but was sent to /v1/{}; send it to /v1/{} or /v1/batch",
                body.as_str(),
                path.as_str(),
                body.as_str()
            ),
        )),
        (Some(path), _) => Ok(path),
        (None, Some(body)) => Ok(body),
        (None, None) => Err(Rejection::new(
            "missing_type",
            "batch items need a type (track, page, screen, identify, group or alias)",
        )),
    }
}

/// An id field: strings as they are, numbers as their decimal text (Segment accepts both).
fn identity(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, Rejection> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(Rejection::new("invalid_field", format!("{key} must be a string, got {}", kind_of(other)))),
    }
}

fn optional_text(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, Rejection> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Rejection::new("invalid_field", format!("{key} must be a string, got {}", kind_of(other)))),
    }
}

fn required_text(fields: &Map<String, Value>, key: &str, hint: &str) -> Result<String, Rejection> {
    optional_text(fields, key)?.ok_or_else(|| Rejection::new("missing_field", format!("{key} is missing: {hint}")))
}

/// An object-valued field as text: `{…}` is kept as it came, `null` is absent, anything
/// else is refused with what it was.
fn object_text(top: &HashMap<String, &RawValue>, key: &str) -> Result<Option<JsonText>, Rejection> {
    let Some(raw) = top.get(key) else { return Ok(None) };
    let text = raw.get().trim_start();
    let kind = match text.as_bytes().first() {
        Some(b'{') => return Ok(Some(JsonText::from_raw(raw))),
        Some(b'n') => return Ok(None),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    };
    Err(Rejection::new("invalid_field", format!("{key} must be a JSON object of key/value pairs, got {kind}")))
}

fn with_field(value: Value, key: &str, text: String) -> JsonText {
    let mut map = match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    map.insert(key.to_string(), Value::String(text));
    JsonText::from_value(&Value::Object(map))
}

fn time_field(fields: &Map<String, Value>, key: &str) -> Result<Option<DateTime<Utc>>, Rejection> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text).map(|t| Some(t.to_utc())).map_err(|e| {
            Rejection::new(
                "invalid_timestamp",
                format!("{key} \"{text}\" is not an ISO-8601 date-time ({e}); send e.g. \"2026-11-23T19:05:00.000Z\""),
            )
        }),
        Some(other) => Err(Rejection::new(
            "invalid_timestamp",
            format!("{key} must be an ISO-8601 string, got {}", kind_of(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arrival() -> Arrival {
        Arrival { source_id: "src".into(), received_at: at("2026-11-23T12:00:00Z") }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn parse(path: Option<CallType>, message: &Value) -> Result<NewEvent, Rejection> {
        parse_message(path, &message.to_string(), Inherited::default(), &arrival())
    }

    fn reject(path: Option<CallType>, message: Value) -> &'static str {
        parse(path, &message).unwrap_err().code
    }

    #[test]
    fn a_track_call_keeps_its_fields() {
        let message = json!({
            "messageId": "m-1", "anonymousId": "a-1", "event": "Product Viewed",
            "properties": {"sku": "A-1"}, "context": {"ip": "1.2.3.4"},
            "timestamp": "2026-11-23T11:59:00Z"
        });
        let event = parse(Some(CallType::Track), &message).unwrap();
        assert_eq!(event.message_id, "m-1");
        assert_eq!(event.kind, "track");
        assert_eq!(event.name.as_deref(), Some("Product Viewed"));
        assert_eq!(event.anonymous_id.as_deref(), Some("a-1"));
        assert_eq!(event.user_id, None);
        assert_eq!(value_of(&event.properties), json!({"sku": "A-1"}));
        assert_eq!(event.timestamp, at("2026-11-23T11:59:00Z"));
        assert_eq!(event.source_id, "src");
    }

    #[test]
    fn numeric_user_ids_become_text_and_missing_message_ids_are_generated() {
        let event = parse(Some(CallType::Identify), &json!({"userId": 42})).unwrap();
        assert_eq!(event.user_id.as_deref(), Some("42"));
        assert!(event.message_id.starts_with("wayline-"));
        assert_eq!(event.timestamp, arrival().received_at);
    }

    #[test]
    fn clock_skew_is_corrected_from_sent_at() {
        // The client clock runs 10 minutes fast: it says it sent at 12:10 an event from 12:09.
        let message = json!({
            "userId": "u", "event": "x",
            "timestamp": "2026-11-23T12:09:00Z", "sentAt": "2026-11-23T12:10:00Z"
        });
        let event = parse(Some(CallType::Track), &message).unwrap();
        assert_eq!(event.timestamp, at("2026-11-23T11:59:00Z"));
        assert_eq!(event.original_timestamp, Some(at("2026-11-23T12:09:00Z")));
    }

    #[test]
    fn each_malformed_shape_has_its_reason() {
        assert_eq!(reject(Some(CallType::Track), json!([1])), "not_an_object");
        assert_eq!(reject(Some(CallType::Track), json!({"event": "x"})), "missing_identity");
        assert_eq!(reject(Some(CallType::Track), json!({"userId": "u"})), "missing_field");
        assert_eq!(reject(Some(CallType::Track), json!({"userId": {}, "event": "x"})), "invalid_field");
        assert_eq!(
            reject(Some(CallType::Track), json!({"userId": "u", "event": "x", "properties": [1]})),
            "invalid_field"
        );
        assert_eq!(
            reject(Some(CallType::Track), json!({"userId": "u", "event": "x", "timestamp": "yesterday"})),
            "invalid_timestamp"
        );
        assert_eq!(
            reject(Some(CallType::Track), json!({"userId": "u", "event": "x", "type": "page"})),
            "type_mismatch"
        );
        assert_eq!(reject(None, json!({"userId": "u", "event": "x"})), "missing_type");
        assert_eq!(reject(None, json!({"userId": "u", "type": "purchase"})), "unknown_type");
        assert_eq!(reject(Some(CallType::Alias), json!({"userId": "u"})), "missing_field");
        assert_eq!(reject(Some(CallType::Group), json!({"userId": "u"})), "missing_field");
    }

    #[test]
    fn events_more_than_a_day_ahead_are_refused_but_a_day_is_allowed() {
        let at_limit = json!({"userId": "u", "event": "x", "timestamp": "2026-11-24T12:00:00Z"});
        assert!(parse(Some(CallType::Track), &at_limit).is_ok());
        let beyond = json!({"userId": "u", "event": "x", "timestamp": "2026-11-24T12:00:01Z"});
        assert_eq!(reject(Some(CallType::Track), beyond), "timestamp_in_future");
    }

    #[test]
    fn alias_and_group_keep_their_target_ids() {
        let alias = parse(Some(CallType::Alias), &json!({"userId": "u", "previousId": "a"})).unwrap();
        assert_eq!(value_of(&alias.properties), json!({"previousId": "a"}));
        let group = parse(None, &json!({"type": "group", "userId": "u", "groupId": "g"})).unwrap();
        assert_eq!(value_of(&group.traits), json!({"groupId": "g"}));
    }

    #[test]
    fn object_fields_are_kept_as_sent_and_batch_context_merges_under_the_messages_own() {
        let text = r#"{"userId":"u","event":"x","properties":{ "b": 1,  "a": 2 },"context":{"ip":"own"}}"#;
        let shared = json!({"ip": "shared", "locale": "de"});
        let inherited = Inherited { context: shared.as_object(), sent_at: None };
        let event = parse_message(Some(CallType::Track), text, inherited, &arrival()).unwrap();
        assert_eq!(event.properties.as_ref().map(JsonText::as_str), Some(r#"{ "b": 1,  "a": 2 }"#));
        assert_eq!(value_of(&event.context), json!({"ip": "own", "locale": "de"}));
        let no_traits = r#"{"userId":"u","event":"x","traits":null}"#;
        assert_eq!(
            parse_message(Some(CallType::Track), no_traits, Inherited::default(), &arrival()).unwrap().traits,
            None
        );
    }
}
