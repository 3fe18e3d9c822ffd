//! JSON kept as its text: ingestion checks its shape without building a tree, the store
//! writes the text as it came, and only readers that need a value parse it.

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
}
