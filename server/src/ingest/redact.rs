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
        if self == IpPolicy::Full || !text.as_str().contains("\"ip\"") {
            return Some(text);
        }
        let Value::Object(mut fields) = text.to_value() else { return Some(text) };
        let kept = match (self, fields.get("ip").and_then(Value::as_str).and_then(|ip| ip.trim().parse().ok())) {
            (IpPolicy::Truncated, Some(address)) => Some(Value::String(truncated(address).to_string())),
            _ => None,
        };
        match kept {
            Some(network) => fields.insert("ip".into(), network),
            None => fields.remove("ip"),
        };
        Some(JsonText::from_value(&Value::Object(fields)))
    }
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
