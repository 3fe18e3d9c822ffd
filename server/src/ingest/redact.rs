//! What ingestion keeps out of the database: the write key a body carries (a dead letter
//! stores the body as it came, and whoever reads dead letters must not learn a key), and the
//! client's precise address.

use std::{
    borrow::Cow,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use serde_json::Value;

use crate::store::JsonText;

/// What a removed write key reads as in a stored payload.
pub const REMOVED: &str = "[removed]";

/// `payload` with the value of every `"writeKey": "…"` blanked, found by its text so that a
/// payload refused for broken JSON loses its key too; everything else stays byte for byte,
/// which is what a dead letter is kept for.
pub fn without_write_key(payload: &str) -> Cow<'_, str> {
    const NAME: &str = "\"writeKey\"";
    if !payload.contains(NAME) {
        return Cow::Borrowed(payload);
    }
    let mut out = String::with_capacity(payload.len());
    let mut rest = payload;
    while let Some(at) = rest.find(NAME) {
        let after_name = at + NAME.len();
        out.push_str(&rest[..after_name]);
        rest = &rest[after_name..];
        let gap = rest.len() - rest.trim_start().len();
        let Some(after_colon) = rest[gap..].strip_prefix(':') else { continue };
        let value_gap = after_colon.len() - after_colon.trim_start().len();
        let Some(value) = after_colon[value_gap..].strip_prefix('"') else { continue };
        out.push_str(&rest[..gap + 1 + value_gap + 1]);
        out.push_str(REMOVED);
        rest = match closing_quote(value) {
            Some(end) => &value[end..],
            None => "",
        };
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The byte offset of the quote that ends a JSON string body (escapes skipped).
fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// How much of a client address (`context.ip`) is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IpPolicy {
    /// As sent.
    Full,
    /// The network only: IPv4 to /24, IPv6 to /48, enough for a country, not for a household.
    #[default]
    Truncated,
    /// Not at all.
    None,
}

impl IpPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "full" => Some(IpPolicy::Full),
            "truncated" | "truncate" => Some(IpPolicy::Truncated),
            "none" | "off" => Some(IpPolicy::None),
            _ => None,
        }
    }

    /// The event's context with its `ip` stored as this policy says. An address that cannot
    /// be read cannot be truncated, so under `Truncated` it is dropped.
    pub fn apply(self, context: Option<JsonText>) -> Option<JsonText> {
        let text = context?;
        // Cheap for the many contexts with no address; an escaped key (`"i\u0070"`) is
        // looked at too.
        if self == IpPolicy::Full || !(text.as_str().contains("ip") || text.as_str().contains('\\')) {
            return Some(text);
        }
        let mut value = text.to_value();
        match self.apply_to(&mut value) {
            true => Some(JsonText::from_value(&value)),
            false => Some(text),
        }
    }

    /// Applies the policy to a context object's `ip`; true when it changed anything.
    fn apply_to(self, context: &mut Value) -> bool {
        let Some(fields) = context.as_object_mut().filter(|f| self != IpPolicy::Full && f.contains_key("ip")) else {
            return false;
        };
        let address = fields.get("ip").and_then(Value::as_str).and_then(|ip| ip.trim().parse().ok());
        match (self, address) {
            (IpPolicy::Truncated, Some(address)) => {
                fields.insert("ip".into(), Value::String(truncated(address).to_string()));
            }
            _ => {
                fields.remove("ip");
            }
        }
        true
    }
}

/// A refused payload as its dead letter keeps it: without the write key, and with the
/// context's address as the policy says (the message's own and a batch's and each item's).
/// JSON is changed as parsed, so escaped key names are caught; text that is not JSON only
/// loses its write keys, found by their text.
pub fn dead_letter_payload(text: &str, ip: IpPolicy) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return without_write_key(text).into_owned();
    };
    if scrub(&mut value, ip) {
        value.to_string()
    } else {
        text.to_string()
    }
}

/// Removes the write key and applies the address policy in a message or batch; true when it
/// changed anything.
fn scrub(message: &mut Value, ip: IpPolicy) -> bool {
    let Some(fields) = message.as_object_mut() else { return false };
    let mut changed = false;
    if let Some(key) = fields.get_mut("writeKey") {
        *key = Value::String(REMOVED.into());
        changed = true;
    }
    if let Some(context) = fields.get_mut("context") {
        changed |= ip.apply_to(context);
    }
    if let Some(Value::Array(items)) = fields.get_mut("batch") {
        for item in items {
            changed |= scrub(item, ip);
        }
    }
    changed
}

/// The address with its host part zeroed: /24 for IPv4, /48 for IPv6.
pub fn truncated(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_keys_are_removed_from_valid_and_broken_payloads() {
        assert_eq!(
            without_write_key(r#"{"writeKey": "wl_secret", "event": "a"}"#),
            r#"{"writeKey": "[removed]", "event": "a"}"#
        );
        assert_eq!(
            without_write_key(r#"{"batch":[{"event":"x","writeKey":"k\"1"}],"writeKey" :"wl_2"}"#),
            r#"{"batch":[{"event":"x","writeKey":"[removed]"}],"writeKey" :"[removed]"}"#
        );
        // Cut off mid-key: the rest of the key goes too.
        assert_eq!(without_write_key(r#"{"writeKey":"wl_sec"#), r#"{"writeKey":"[removed]"#);
        // Not a string value, or no key at all: unchanged.
        assert_eq!(without_write_key(r#"{"writeKey": 5}"#), r#"{"writeKey": 5}"#);
        assert!(matches!(without_write_key(r#"{"event":"a"}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn a_dead_letter_keeps_no_write_key_even_escaped_and_only_a_truncated_address() {
        let escaped = r#"{"write\u004bey":"wl_secret","userId":"u1","context":{"i\u0070":"203.0.113.77"}}"#;
        let kept = dead_letter_payload(escaped, IpPolicy::Truncated);
        assert!(!kept.contains("wl_secret") && !kept.contains("203.0.113.77"), "{kept}");
        assert!(kept.contains("203.0.113.0"), "{kept}");
        let batch = r#"{"batch":[{"writeKey":"wl_a","context":{"ip":"198.51.100.9"}}],"writeKey":"wl_b"}"#;
        let kept = dead_letter_payload(batch, IpPolicy::None);
        assert!(!kept.contains("wl_a") && !kept.contains("wl_b") && !kept.contains("198.51"), "{kept}");
        // Nothing to change: the text stays as it came.
        assert_eq!(dead_letter_payload(r#"{ "event": "x" }"#, IpPolicy::Truncated), r#"{ "event": "x" }"#);
        assert_eq!(
            dead_letter_payload(r#"{"writeKey":"wl_c" oops"#, IpPolicy::Truncated),
            r#"{"writeKey":"[removed]" oops"#
        );
    }

    #[test]
    fn addresses_are_kept_truncated_by_default_or_not_at_all() {
        let context = |text: &str| Some(JsonText::parse(text.into()).unwrap());
        let ip_of = |kept: Option<JsonText>| kept.unwrap().to_value().get("ip").cloned();
        let sent = r#"{"ip":"203.0.113.77","locale":"de"}"#;
        assert_eq!(ip_of(IpPolicy::Truncated.apply(context(sent))), Some("203.0.113.0".into()));
        assert_eq!(ip_of(IpPolicy::Full.apply(context(sent))), Some("203.0.113.77".into()));
        let dropped = IpPolicy::None.apply(context(sent)).unwrap().to_value();
        assert_eq!(dropped, serde_json::json!({"locale": "de"}));
        assert_eq!(
            ip_of(IpPolicy::Truncated.apply(context(r#"{"ip":"2001:db8:85a3:8d3:1319:8a2e:370:7348"}"#))),
            Some("2001:db8:85a3::".into())
        );
        assert_eq!(ip_of(IpPolicy::Truncated.apply(context(r#"{"ip":"not an address"}"#))), None);
        assert_eq!(IpPolicy::parse("none"), Some(IpPolicy::None));
        assert_eq!(IpPolicy::parse("maybe"), None);
    }
}
