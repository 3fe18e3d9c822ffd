//! JSON kept as its text: ingestion checks its shape without building a tree, the store
//! writes the text as it came, and only readers that need a value parse it.

use std::collections::HashMap;

use serde_json::{value::RawValue, Value};

/// A JSON value as text, known to be valid JSON.
#[derive(Debug, Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Wraps text that must be valid JSON.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(JsonText)
    }

    /// Serialises a value.
    pub fn from_value(value: &Value) -> Self {
        // Serialising a `Value` cannot fail: its keys are strings.
        JsonText(serde_json::value::to_raw_value(value).unwrap_or_else(|_| null()))
    }

    pub fn from_raw(raw: &RawValue) -> Self {
        JsonText(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The parsed value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// An object's top-level keys with their values' text (see [`value_text`]); keys whose
    /// value is null are left out, and anything but an object has none.
    pub fn top_level_texts(&self) -> Vec<(String, String)> {
        let Ok(object) = serde_json::from_str::<HashMap<String, &RawValue>>(self.0.get()) else {
            return Vec::new();
        };
        object.into_iter().filter_map(|(key, raw)| Some((key, value_text(raw)?))).collect()
    }
}

/// A property value's text as DuckDB's `json_extract_string` gives it, so that values read
/// back from the store and values taken from live events compare equal: strings unquoted,
/// other values as compact JSON text, null as `None`.
pub fn value_text(raw: &RawValue) -> Option<String> {
    match raw.get().as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(raw.get()).ok(),
        _ => serde_json::from_str::<Value>(raw.get()).ok().as_ref().and_then(app::types::property_text),
    }
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

/// Equal when the values are equal, whatever the spacing or key order of the text.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

/// The value of optional JSON text (`Null` when absent).
pub fn value_of(text: &Option<JsonText>) -> Value {
    text.as_ref().map(JsonText::to_value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_kept_and_compared_by_value() {
        let a = JsonText::parse("{ \"b\": 1, \"a\": [true] }".into()).unwrap();
        assert_eq!(a.as_str(), "{ \"b\": 1, \"a\": [true] }");
        assert_eq!(a, JsonText::from_value(&json!({"a": [true], "b": 1})));
        assert_ne!(a, JsonText::from_value(&json!({"a": [false], "b": 1})));
        assert!(JsonText::parse("{oops".into()).is_err());
        assert_eq!(value_of(&None), Value::Null);
    }

    #[test]
    fn top_level_values_are_texts_without_nulls() {
        let props = JsonText::parse(r#"{"channel":"e\"mail","qty":2.50,"vip":true,"gone":null,"tags":[ "a" ]}"#.into());
        let mut texts = props.unwrap().top_level_texts();
        texts.sort();
        let expected = [("channel", "e\"mail"), ("qty", "2.5"), ("tags", "[\"a\"]"), ("vip", "true")];
        assert_eq!(texts, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        assert!(JsonText::parse("[1, 2]".into()).unwrap().top_level_texts().is_empty());
        assert!(JsonText::parse("null".into()).unwrap().top_level_texts().is_empty());
    }
}
