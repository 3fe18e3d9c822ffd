//! Step events: how every question names the events it counts — funnels' steps, journeys'
//! stages and rules' conditions all write an event as `name` or `name[key=value;key=value]`.

use serde::{Deserialize, Serialize};

/// An event that counts as a step: its name, and property values it must carry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepEvent {
    pub name: String,
    /// `(property, value)` pairs; a value matches a string property exactly, and other
    /// properties when it parses as an equal JSON value (`price=19.99`, `first=true`).
    pub filters: Vec<(String, String)>,
}

/// What the store has seen, for pickers to offer: event names (track events and page
/// names), property keys, channels and the journey's stages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub events: Vec<String>,
    pub properties: Vec<String>,
    pub channels: Vec<String>,
    pub stages: Vec<String>,
}

impl Vocabulary {
    /// The event names of `steps` (a comma-separated list of steps, each `a|b` for any of
    /// them) that the store has never seen, in the order written: such a step counts no one.
    /// Nothing while the vocabulary is unknown (empty).
    pub fn unseen_events(&self, steps: &str) -> Vec<String> {
        if self.events.is_empty() {
            return Vec::new();
        }
        let mut unseen: Vec<String> = Vec::new();
        for alternative in steps.split(',').flat_map(|step| step.split('|')) {
            let Ok(step) = StepEvent::parse(alternative) else { continue };
            if !step.name.is_empty() && !self.events.contains(&step.name) && !unseen.contains(&step.name) {
                unseen.push(step.name);
            }
        }
        unseen
    }
}

impl StepEvent {
    pub fn named(name: impl Into<String>) -> Self {
        StepEvent { name: name.into(), filters: Vec::new() }
    }

    /// Parses `name` or `name[key=value;key=value]`; the error names the mistake and the fix.
    pub fn parse(text: &str) -> Result<StepEvent, String> {
        let Some((name, rest)) = text.split_once('[') else { return Ok(StepEvent::named(text.trim())) };
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| format!("step {text:?} opens '[' without closing it; write name[key=value;key=value]"))?;
        let mut filters = Vec::new();
        for pair in inner.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) =
                pair.split_once('=').ok_or_else(|| format!("filter {pair:?} in step {text:?} needs key=value"))?;
            filters.push((check_property_name(key.trim(), "step filter")?, value.trim().to_string()));
        }
        Ok(StepEvent { name: name.trim().to_string(), filters })
    }

    /// Whether an event's properties (a JSON object) pass this step's filters, comparing
    /// values as the property columns hold them ([`property_text`]).
    pub fn matches_properties(&self, properties: &serde_json::Value) -> bool {
        self.filters
            .iter()
            .all(|(key, want)| properties.get(key).and_then(property_text).is_some_and(|have| have == *want))
    }

    /// `name` or `name[key=value;key=value]`.
    pub fn label(&self) -> String {
        if self.filters.is_empty() {
            self.name.clone()
        } else {
            let filters: Vec<String> = self.filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}[{}]", self.name, filters.join(";"))
        }
    }
}

/// A property value as a column holds it: strings as they are, null as none, other values
/// as compact JSON (DuckDB's normal form: 2.50 → 2.5, no spaces).
pub fn property_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Property names go into a JSON path; keep them to plain identifiers.
pub fn check_property_name(name: &str, parameter: &str) -> Result<String, String> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(name.to_string())
    } else {
        Err(format!("{parameter}={name:?} is not a property name; use letters, digits, '_' or '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_never_seen_are_named_once_in_the_order_written() {
        let seen = Vocabulary { events: vec!["product_viewed".into(), "added_to_cart".into()], ..Default::default() };
        let steps = "product_viewed, added_to_kart|added_to_cart, purchase_completed[plan=pro], added_to_kart";
        assert_eq!(seen.unseen_events(steps), vec!["added_to_kart", "purchase_completed"]);
        assert!(seen.unseen_events("product_viewed, added_to_cart").is_empty());
        assert!(Vocabulary::default().unseen_events("anything").is_empty(), "not known yet: no warning");
    }
}
