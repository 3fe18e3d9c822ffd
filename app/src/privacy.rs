//! Personal data in what customers send: which traits and properties hold it (`pii_keys`),
//! and how it reads for someone who may not see it (a viewer). The server masks every answer
//! it gives a viewer with these functions, on pages, in the JSON API, in SSE frames and so in
//! exports, which are made from those answers.

use serde_json::Value;

use crate::{
    auth::Role,
    types::{
        AlertInbox, CustomerCard, CustomerHistory, CustomerLists, CustomerMatch, DataHealth, FunnelAnswer, LiveEvent,
    },
};

/// Trait and property names that hold personal data unless configured otherwise.
pub const DEFAULT_PII_KEYS: [&str; 7] = ["email", "phone", "name", "first_name", "last_name", "address", "ip"];

/// What a masked value reads as besides its first character (and an email's domain).
const HIDDEN: &str = "•••";

/// The names of traits and properties whose values are personal, compared without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiKeys(Vec<String>);

impl Default for PiiKeys {
    fn default() -> Self {
        PiiKeys::new(DEFAULT_PII_KEYS)
    }
}

impl PiiKeys {
    pub fn new<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> Self {
        PiiKeys(keys.into_iter().map(|k| k.as_ref().trim().to_lowercase()).filter(|k| !k.is_empty()).collect())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|k| k.eq_ignore_ascii_case(key.trim()))
    }

    pub fn keys(&self) -> &[String] {
        &self.0
    }
}

/// True when `role` may see personal data unmasked (analysts and admins).
pub fn sees_personal_data(role: Role) -> bool {
    role.includes(Role::Analyst)
}

/// A value as a viewer reads it: its first character, then dots; an email keeps its domain
/// (`a•••@example.com`), which tells a support team which company without telling who.
pub fn mask_text(text: &str) -> String {
    let first: String = text.chars().take(1).collect();
    match text.rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => format!("{first}{HIDDEN}@{domain}"),
        _ => format!("{first}{HIDDEN}"),
    }
}

/// Masks, anywhere in `value`, the values of the object fields named in `keys` (a personal
/// field holding an object or a list is masked through and through).
pub fn mask_json(value: &mut Value, keys: &PiiKeys) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if keys.contains(key) {
                    mask_all(field);
                } else {
                    mask_json(field, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask_json(item, keys)),
        _ => {}
    }
}

/// The fields of an answer that carry what customers sent, where personal data can be.
const SENT_DATA_FIELDS: [&str; 3] = ["properties", "traits", "context"];

/// Masks the personal fields inside every `properties`, `traits` and `context` object of an
/// answer of any shape (a timeline, an SSE frame), leaving its own fields (an event's `name`)
/// alone.
pub fn mask_sent_data(value: &mut Value, keys: &PiiKeys) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if SENT_DATA_FIELDS.contains(&key.as_str()) {
                    mask_json(field, keys);
                } else {
                    mask_sent_data(field, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask_sent_data(item, keys)),
        _ => {}
    }
}

fn mask_all(value: &mut Value) {
    match value {
        Value::String(text) => *text = mask_text(text),
        Value::Number(number) => *value = Value::String(mask_text(&number.to_string())),
        Value::Object(fields) => fields.values_mut().for_each(mask_all),
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        Value::Null | Value::Bool(_) => {}
    }
}

/// Why a viewer may not ask a question that filters or holds on a personal property: a step
/// `signed_up[email=ada@example.com]` would tell them whose email it is. `None` when the
/// question names none. `steps` are texts of steps (`a[k=v;k2=v]|b`), `held` a held property.
pub fn personal_filter<'a>(
    steps: impl IntoIterator<Item = &'a str>,
    held: Option<&str>,
    keys: &PiiKeys,
) -> Option<String> {
    let mut named = steps.into_iter().flat_map(filter_keys).chain(held.map(|h| h.trim().to_string()));
    let named = named.find(|key| keys.contains(key))?;
    Some(format!(
        "{named:?} holds personal data, which your role sees masked, so it cannot filter or hold a question; ask an analyst"
    ))
}

/// The property names a step text filters on: `a[k=v;k2=v]|b[k3=v]` → k, k2, k3.
fn filter_keys(text: &str) -> Vec<String> {
    text.split('[')
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .flat_map(|inside| inside.split(';'))
        .filter_map(|condition| condition.split(['=', '!', '<', '>']).next())
        .map(|key| key.trim().to_string())
        .filter(|key| !key.is_empty())
        .collect()
}

/// An answer that can hold personal data, and how a viewer reads it.
pub trait Masked {
    fn mask(&mut self, keys: &PiiKeys);
}

impl<T: Masked> Masked for Vec<T> {
    fn mask(&mut self, keys: &PiiKeys) {
        self.iter_mut().for_each(|item| item.mask(keys));
    }
}

impl Masked for LiveEvent {
    fn mask(&mut self, keys: &PiiKeys) {
        mask_json(&mut self.properties, keys);
    }
}

impl Masked for CustomerHistory {
    fn mask(&mut self, keys: &PiiKeys) {
        if let Some(card) = &mut self.card {
            card.mask(keys);
        }
        for session in &mut self.timeline.sessions {
            for event in &mut session.events {
                mask_json(&mut event.properties, keys);
            }
        }
    }
}

impl Masked for CustomerMatch {
    fn mask(&mut self, keys: &PiiKeys) {
        if let Some(text) = &self.traits {
            let mut traits: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            mask_json(&mut traits, keys);
            self.traits = Some(traits.to_string());
        }
    }
}

impl Masked for CustomerCard {
    fn mask(&mut self, keys: &PiiKeys) {
        for (key, value) in [("name", &mut self.name), ("email", &mut self.email)] {
            if keys.contains(key) {
                *value = value.as_deref().map(mask_text);
            }
        }
    }
}

impl Masked for CustomerLists {
    fn mask(&mut self, keys: &PiiKeys) {
        self.recent.mask(keys);
        self.most_active.mask(keys);
    }
}

impl Masked for AlertInbox {
    fn mask(&mut self, keys: &PiiKeys) {
        self.customers.mask(keys);
    }
}

impl Masked for DataHealth {
    /// A dead letter is the body as it came: what parses is masked like any event, what does
    /// not is hidden whole, since nobody can tell which of its bytes are personal.
    fn mask(&mut self, keys: &PiiKeys) {
        for dead in &mut self.dead_letters {
            let letter = &mut dead.letter;
            letter.payload = match serde_json::from_str::<Value>(&letter.payload) {
                Ok(mut payload) => {
                    mask_json(&mut payload, keys);
                    payload.to_string()
                }
                Err(_) => format!("({} bytes hidden: they may hold personal data)", letter.payload.len()),
            };
        }
    }
}

/// A funnel broken down by a personal property: each group's value is masked.
pub fn mask_breakdown(view: &mut FunnelAnswer, breakdown: &str, keys: &PiiKeys) {
    if keys.contains(breakdown) {
        for group in &mut view.funnel.breakdown {
            group.value = mask_text(&group.value);
        }
    }
}

/// `answer` as `role` may read it.
pub fn for_role<T: Masked>(mut answer: T, role: Role, keys: &PiiKeys) -> T {
    if !sees_personal_data(role) {
        answer.mask(keys);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_card_shows_a_viewer_only_the_first_letter_and_the_domain() {
        let card = CustomerCard {
            customer_id: "u1".into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            ..Default::default()
        };
        let keys = PiiKeys::default();
        let seen = for_role(card.clone(), Role::Viewer, &keys);
        assert_eq!((seen.name.as_deref(), seen.email.as_deref()), (Some("A•••"), Some("a•••@example.com")));
        assert_eq!(for_role(card.clone(), Role::Analyst, &keys), card, "analysts see it whole");
        let only_email = PiiKeys::new(["email"]);
        assert_eq!(for_role(card, Role::Viewer, &only_email).name.as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn values_keep_a_first_letter_and_an_email_its_domain() {
        assert_eq!(mask_text("ada@example.com"), "a•••@example.com");
        assert_eq!(mask_text("Ada Lovelace"), "A•••");
        assert_eq!(mask_text("Émile"), "É•••");
        assert_eq!(mask_text(""), "•••");
    }

    #[test]
    fn personal_fields_are_masked_at_any_depth_and_others_are_not() {
        let mut value = json!({
            "Email": "ada@example.com",
            "plan": "pro",
            "address": {"street": "1 Main St", "zip": 12345},
            "items": [{"name": "Ada", "sku": "A-1"}],
            "phone": null,
        });
        mask_json(&mut value, &PiiKeys::default());
        assert_eq!(
            value,
            json!({
                "Email": "a•••@example.com",
                "plan": "pro",
                "address": {"street": "1•••", "zip": "1•••"},
                "items": [{"name": "A•••", "sku": "A-1"}],
                "phone": null,
            })
        );
    }

    #[test]
    fn in_a_whole_answer_only_what_customers_sent_is_masked() {
        let mut frame = json!({
            "events": [{"name": "signed_up", "properties": {"name": "Ada", "plan": "pro"}, "context": {"ip": "203.0.113.0"}}],
            "traits": {"email": "ada@example.com"},
        });
        mask_sent_data(&mut frame, &PiiKeys::default());
        assert_eq!(
            frame,
            json!({
                "events": [{"name": "signed_up", "properties": {"name": "A•••", "plan": "pro"}, "context": {"ip": "2•••"}}],
                "traits": {"email": "a•••@example.com"},
            })
        );
    }

    #[test]
    fn a_question_filtering_on_a_personal_property_is_named() {
        let keys = PiiKeys::default();
        let refused = personal_filter(["signed_up[plan=pro;email=ada@example.com]|x,y", ""], None, &keys).unwrap();
        assert!(refused.contains("\"email\""), "{refused}");
        assert!(personal_filter(["view,buy[total>10]", ""], Some("product_id"), &keys).is_none());
        assert!(personal_filter(["view,buy"], Some("email"), &keys).is_some(), "holding the email is refused too");
        assert!(personal_filter(["email,name"], None, &keys).is_none(), "events named like a key are fine");
    }

    #[test]
    fn only_viewers_read_masked_answers() {
        let event = |email: &str| LiveEvent {
            seq: 1,
            message_id: "m1".into(),
            source_id: "web".into(),
            kind: "identify".into(),
            name: None,
            anonymous_id: None,
            user_id: Some("u1".into()),
            timestamp: chrono::DateTime::UNIX_EPOCH,
            received_at: chrono::DateTime::UNIX_EPOCH,
            properties: json!({"email": email}),
            came_from: None,
        };
        let keys = PiiKeys::default();
        assert_eq!(
            for_role(vec![event("ada@example.com")], Role::Viewer, &keys)[0].properties["email"],
            "a•••@example.com"
        );
        assert_eq!(
            for_role(vec![event("ada@example.com")], Role::Analyst, &keys)[0].properties["email"],
            "ada@example.com"
        );
        let search = CustomerMatch { customer_id: "u1".into(), traits: Some(r#"{"email":"ada@example.com"}"#.into()) };
        assert_eq!(for_role(search, Role::Viewer, &keys).traits.as_deref(), Some(r#"{"email":"a•••@example.com"}"#));
        let custom = PiiKeys::new(["iban"]);
        assert!(custom.contains("IBAN") && !custom.contains("email"));
    }
}
