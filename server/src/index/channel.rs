//! An event's channel: where its visitor came from, named the way marketers name it ("paid
//! search", "email", "organic social", …), derived as the event is indexed and kept as the
//! index's channel column. An event carries attribution when it has a campaign
//! (`context.campaign`, from UTM tags) or a referrer from another site. The rules follow the
//! default channel grouping of the big analytics products, simplified. A customer's channel is
//! their first touch ([`first_touch`]), which the index keeps for each customer; questions by
//! channel are in `analytics::channels`.

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    columns::{PropertyColumn, NONE},
    Entry,
};
use serde_json::value::RawValue;

/// The channel of customers none of whose events carries attribution.
pub const DIRECT: &str = "direct";

/// What an event says about where its visitor came from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Attribution<'a> {
    /// `utm_source`: `google`, `newsletter`, …
    pub source: Option<&'a str>,
    /// `utm_medium`: `cpc`, `email`, `paid_social`, …
    pub medium: Option<&'a str>,
    /// The page that linked here.
    pub referrer: Option<&'a str>,
    /// The page itself (a referrer on the same site is navigation, not attribution).
    pub page_url: Option<&'a str>,
}

const SEARCH_ENGINES: &[&str] = &["google", "bing", "duckduckgo", "yahoo", "baidu", "yandex", "ecosia", "qwant"];
const SOCIAL_SITES: &[&str] = &[
    "facebook",
    "instagram",
    "twitter",
    "t.co",
    "x.com",
    "linkedin",
    "lnkd.in",
    "reddit",
    "pinterest",
    "youtube",
    "tiktok",
    "threads.net",
    "mastodon",
];

/// The channel an event's attribution names, or `None` when it names none.
pub fn classify(a: &Attribution<'_>) -> Option<&'static str> {
    let lower = |s: Option<&str>| s.map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let (source, medium) = (lower(a.source), lower(a.medium));
    if source.is_some() || medium.is_some() {
        let medium = medium.unwrap_or_default();
        let source = source.unwrap_or_default();
        let social_source = is_one_of(&source, SOCIAL_SITES);
        let channel = match medium.as_str() {
            m if m.contains("social") && (m.contains("paid") || m.contains("ads")) => "paid social",
            "cpc" | "ppc" | "paid" | "paidsearch" | "paid_search" | "paid-search" | "sem" if social_source => {
                "paid social"
            }
            "cpc" | "ppc" | "paidsearch" | "paid_search" | "paid-search" | "sem" => "paid search",
            m if m.contains("email") || m.contains("e-mail") || m == "newsletter" => "email",
            "display" | "banner" | "cpm" | "interstitial" => "display",
            "affiliate" | "affiliates" => "affiliate",
            "social" | "social-network" | "social_network" | "sm" => "organic social",
            "organic" if is_one_of(&source, SEARCH_ENGINES) => "organic search",
            "referral" => "referral",
            _ if source == "newsletter" || source.contains("email") => "email",
            _ => "other campaign",
        };
        return Some(channel);
    }
    let referrer = host(a.referrer?)?;
    if a.page_url.and_then(host).is_some_and(|own| own == referrer) {
        return None;
    }
    Some(if is_one_of(&referrer, SEARCH_ENGINES) {
        "organic search"
    } else if is_one_of(&referrer, SOCIAL_SITES) {
        "organic social"
    } else {
        "referral"
    })
}

/// The parts of a Segment `context` (or page call `properties`) that name a source. Read
/// into borrowed text, not a JSON tree: the index does this for every event it applies.
/// Each part is read on its own, so one of an unexpected shape does not hide the others (as
/// DuckDB's `json_extract` reads them when the column is first built).
#[derive(Debug, Default, Deserialize)]
struct SourceParts<'a> {
    #[serde(borrow, default)]
    campaign: Option<&'a RawValue>,
    #[serde(borrow, default)]
    page: Option<&'a RawValue>,
    /// A page call's own `properties.referrer`.
    #[serde(borrow, default)]
    referrer: Option<&'a RawValue>,
}

/// A part as `T`, or its default when it is missing or of another shape.
fn part<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    raw.and_then(|r| serde_json::from_str(r.get()).ok()).unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
struct Campaign<'a> {
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(borrow, default)]
    medium: Option<&'a RawValue>,
}

#[derive(Debug, Default, Deserialize)]
struct Page<'a> {
    #[serde(borrow, default)]
    referrer: Option<&'a RawValue>,
    #[serde(borrow, default)]
    url: Option<&'a RawValue>,
}

/// A part that should be text (a number or an object is none).
fn text(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    part(raw)
}

/// The channel id (in the index's channel column) of the first of a customer's `events`
/// (in time order) with attribution; [`NONE`] for direct.
pub fn first_touch(events: &[Entry], column: &PropertyColumn) -> u32 {
    events.iter().map(|e| column.get(e.seq())).find(|&id| id != NONE).unwrap_or(NONE)
}

/// Reads the parts, or none when the text is not a JSON object.
fn parts(json: Option<&str>) -> SourceParts<'_> {
    json.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// The channel of an event from its context and properties (JSON object text), as
/// Segment's libraries send them: `context.campaign.source|medium`, `context.page.referrer`
/// (or a page call's `properties.referrer`), `context.page.url`.
pub fn of_event(context: Option<&str>, properties: Option<&str>) -> Option<&'static str> {
    // Most events name no source; a substring test spares parsing them.
    let names_one = |text: Option<&str>, keys: &[&str]| text.is_some_and(|t| keys.iter().any(|k| t.contains(k)));
    if !names_one(context, &["\"campaign\"", "\"referrer\""]) && !names_one(properties, &["\"referrer\""]) {
        return None;
    }
    let context = parts(context);
    let properties = parts(properties);
    let campaign: Campaign = part(context.campaign);
    let page: Page = part(context.page);
    let (source, medium) = (text(campaign.source), text(campaign.medium));
    let (referrer, url) = (text(page.referrer).or_else(|| text(properties.referrer)), text(page.url));
    classify(&Attribution {
        source: source.as_deref(),
        medium: medium.as_deref(),
        referrer: referrer.as_deref(),
        page_url: url.as_deref(),
    })
}

/// A URL's host, lower-case, without `www.`.
fn host(url: &str) -> Option<String> {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?.rsplit('@').next()?.split(':').next()?.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    (!host.is_empty()).then_some(host)
}

/// Whether `host_or_source` is one of the named sites: `google` matches `google`,
/// `google.com`, `google.co.uk` and `news.google.com`; a name with a dot matches as a domain.
fn is_one_of(host_or_source: &str, sites: &[&str]) -> bool {
    let labels: Vec<&str> = host_or_source.split('.').collect();
    sites.iter().any(|site| {
        if site.contains('.') {
            host_or_source == *site || host_or_source.ends_with(&format!(".{site}"))
        } else {
            labels.contains(site)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_counted_by_their_first_touch() {
        let mut column = PropertyColumn::default();
        column.set(2, "email");
        column.set(5, "paid search");
        let entry = |seq: i64| Entry::new(seq * 10, seq, 0, false);
        let email_first = [entry(1), entry(2), entry(5)];
        assert_eq!(column.dictionary()[first_touch(&email_first, &column) as usize], "email");
        assert_eq!(first_touch(&[entry(1), entry(3)], &column), NONE, "no attribution: direct");
    }

    fn campaign(source: &str, medium: &str) -> Option<&'static str> {
        classify(&Attribution { source: Some(source), medium: Some(medium), ..Default::default() })
    }

    fn referred(referrer: &str) -> Option<&'static str> {
        classify(&Attribution {
            referrer: Some(referrer),
            page_url: Some("https://shop.example.com/products/1"),
            ..Default::default()
        })
    }

    #[test]
    fn campaigns_are_named_by_their_medium() {
        assert_eq!(campaign("google", "cpc"), Some("paid search"));
        assert_eq!(campaign("facebook", "paid_social"), Some("paid social"));
        assert_eq!(campaign("facebook", "cpc"), Some("paid social"), "paid clicks on a social site");
        assert_eq!(campaign("newsletter", "email"), Some("email"));
        assert_eq!(campaign("newsletter", ""), Some("email"));
        assert_eq!(campaign("partner-network", "affiliate"), Some("affiliate"));
        assert_eq!(campaign("news-site", "display"), Some("display"));
        assert_eq!(campaign("twitter", "social"), Some("organic social"));
        assert_eq!(campaign("podcast", "audio"), Some("other campaign"));
    }

    #[test]
    fn referrers_from_other_sites_are_search_social_or_referral() {
        assert_eq!(referred("https://www.google.com/"), Some("organic search"));
        assert_eq!(referred("https://www.google.co.uk/search?q=shoes"), Some("organic search"));
        assert_eq!(referred("https://duckduckgo.com/"), Some("organic search"));
        assert_eq!(referred("https://l.facebook.com/"), Some("organic social"));
        assert_eq!(referred("https://t.co/abc"), Some("organic social"));
        assert_eq!(referred("https://www.reddit.com/r/BuyItForLife/"), Some("organic social"));
        assert_eq!(referred("https://blog.example.org/best-shoes"), Some("referral"));
        // A page of the shop itself is navigation, and not-quite-Google is not Google.
        assert_eq!(referred("https://shop.example.com/"), None);
        assert_eq!(referred("https://googleish.example/"), Some("referral"));
        assert_eq!(classify(&Attribution::default()), None);
    }

    #[test]
    fn an_event_is_read_from_segment_context_and_page_properties() {
        let tagged = r#"{"campaign":{"source":"google","medium":"cpc"},"page":{"referrer":"https://www.google.com/"}}"#;
        assert_eq!(of_event(Some(tagged), None), Some("paid search"), "the campaign wins over the referrer");
        let page = r#"{"page":{"url":"https://shop.example.com/"}}"#;
        assert_eq!(of_event(Some(page), Some(r#"{"referrer":"https://bing.com/"}"#)), Some("organic search"));
        assert_eq!(of_event(Some(page), None), None);
        assert_eq!(of_event(None, Some("not json")), None);
        // Escaped text is read too, and a field of an unexpected type names no source.
        let escaped = r#"{"page":{"referrer":"https:\/\/www.google.com\/","url":"https://shop.example.com/"}}"#;
        assert_eq!(of_event(Some(escaped), None), Some("organic search"));
        let odd = r#"{"campaign":"summer","page":{"referrer":"https://bing.com/","url":7}}"#;
        assert_eq!(of_event(Some(odd), None), Some("organic search"), "the referrer still counts");
    }
}
