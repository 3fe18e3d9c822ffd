//! Rules: conditions over one customer's events, or over all customers' (aggregates), that
//! raise an alert. Stored in DuckDB as the same JSON document the API takes and gives; the
//! live engine (`live/`) evaluates them as events stream in.

use std::{collections::HashMap, sync::RwLock};

use duckdb::params;
use serde::{Deserialize, Serialize};

use crate::{
    analytics::funnel::StepEvent,
    store::{sql, Micros, Store, StoreError},
};

/// Longest window or wait a rule may have.
pub const MAX_SECONDS: i64 = 90 * 86_400;
/// Most steps in a sequence.
pub const MAX_STEPS: usize = 10;
/// Most rules kept: each is evaluated on every event.
pub const MAX_RULES: usize = 200;
/// Longest rule document (JSON), name and message included.
pub const MAX_RULE_BYTES: usize = 16 * 1024;

/// What a rule looks for. Events are written as funnel steps are: `name` or
/// `name[key=value;key=value]`; a list means any of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The steps in order within `within_seconds` of the first (others may come between),
    /// and, if `then_absent` is set, none of its events for its time after the last step.
    Sequence {
        steps: Vec<String>,
        within_seconds: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then_absent: Option<Absent>,
    },
    /// At least `count` of `event` within `within_seconds` (e.g. 3 product views in 5 minutes).
    Count { event: String, count: u32, within_seconds: i64 },
    /// `after`, then none of `missing` within `within_seconds` (a cart abandoned for an hour).
    Absence { after: String, missing: Vec<String>, within_seconds: i64 },
    /// No event at all from the customer for `for_seconds` after their last one.
    Inactivity { for_seconds: i64 },
    /// A stage change that the journey's expected path does not have (a skipped stage, a
    /// step back, an unexpected jump).
    OffPath { journey: String },
    /// Aggregate: of the customers whose first `from` in the last `window_seconds` started
    /// them (counted once their `within_seconds` to convert has run out), the share that did
    /// `to` crossing below `below_percent` or above `above_percent`, once at least
    /// `min_sample` customers started.
    Conversion {
        from: String,
        to: String,
        within_seconds: i64,
        window_seconds: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below_percent: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above_percent: Option<f64>,
        #[serde(default = "default_min_sample")]
        min_sample: u32,
    },
    /// Aggregate: the event's count over the last `window_seconds` crossing above `above` or
    /// below `below`.
    Volume {
        event: String,
        window_seconds: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below: Option<u64>,
    },
    /// Aggregate: the event's count over the last `window_seconds` at least `drop_percent`
    /// below its baseline, the average of the `baseline_windows` windows before, when the
    /// baseline is at least `min_baseline`.
    VolumeDip {
        event: String,
        window_seconds: i64,
        #[serde(default = "default_baseline_windows")]
        baseline_windows: u32,
        drop_percent: f64,
        #[serde(default = "default_min_sample")]
        min_baseline: u32,
    },
}

fn default_min_sample() -> u32 {
    20
}

fn default_baseline_windows() -> u32 {
    24
}

/// Events that must not happen for a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Absent {
    pub events: Vec<String>,
    pub for_seconds: i64,
}

/// A rule as stored and exchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Short stable id (letters, digits, `-`, `_`), e.g. `cart-abandoned`; taken from the
    /// path when the body leaves it out.
    #[serde(default)]
    pub id: String,
    /// What a CS manager reads in the alert list.
    pub name: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    pub condition: Condition,
    /// After an alert for a customer, further alerts of this rule for the same customer are
    /// held back this long, so one condition does not raise a storm (default one hour).
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: i64,
}

fn enabled() -> bool {
    true
}

fn default_cooldown() -> i64 {
    3_600
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule is not valid: {0}")]
    Invalid(String),
    #[error("no rule with id {0:?}; list them with GET /api/v1/rules")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Condition {
    /// Every event pattern the condition names, parsed.
    pub fn patterns(&self) -> Vec<StepEvent> {
        let texts: Vec<&String> = match self {
            Condition::Sequence { steps, then_absent, .. } => {
                steps.iter().chain(then_absent.iter().flat_map(|a| &a.events)).collect()
            }
            Condition::Count { event, .. } => vec![event],
            Condition::Absence { after, missing, .. } => std::iter::once(after).chain(missing).collect(),
            Condition::Inactivity { .. } | Condition::OffPath { .. } => Vec::new(),
            Condition::Conversion { from, to, .. } => vec![from, to],
            Condition::Volume { event, .. } | Condition::VolumeDip { event, .. } => vec![event],
        };
        texts.into_iter().filter_map(|t| StepEvent::parse(t).ok()).collect()
    }

    /// Whether the condition is about all customers at once rather than each one.
    pub fn is_aggregate(&self) -> bool {
        matches!(self, Condition::Conversion { .. } | Condition::Volume { .. } | Condition::VolumeDip { .. })
    }
}

impl Rule {
    /// Checks that the rule can be evaluated; the error names what to change.
    pub fn validate(&self) -> Result<(), RuleError> {
        let invalid = |m: String| Err(RuleError::Invalid(m));
        if self.id.is_empty() || !self.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return invalid(format!("id {:?} must be letters, digits, '-' or '_', e.g. cart-abandoned", self.id));
        }
        if self.name.trim().is_empty() {
            return invalid("the rule needs a name, e.g. \"Cart abandoned for an hour\"".into());
        }
        if !(0..=MAX_SECONDS).contains(&self.cooldown_seconds) {
            return invalid(format!("cooldown_seconds must be 0 to {MAX_SECONDS}"));
        }
        let seconds = |what: &str, s: i64| {
            if (1..=MAX_SECONDS).contains(&s) {
                Ok(())
            } else {
                Err(RuleError::Invalid(format!("{what} must be 1 to {MAX_SECONDS} seconds (90 days), got {s}")))
            }
        };
        let events = |what: &str, list: &[String]| -> Result<(), RuleError> {
            if list.is_empty() {
                return Err(RuleError::Invalid(format!("{what} needs at least one event")));
            }
            for text in list {
                StepEvent::parse(text).map_err(|e| RuleError::Invalid(format!("{what}: {e}")))?;
            }
            Ok(())
        };
        match &self.condition {
            Condition::Sequence { steps, within_seconds, then_absent } => {
                if !(2..=MAX_STEPS).contains(&steps.len()) && then_absent.is_none() {
                    return invalid(format!(
                        "a sequence needs 2 to {MAX_STEPS} steps (or one step and then_absent), got {}",
                        steps.len()
                    ));
                }
                events("steps", steps)?;
                seconds("within_seconds", *within_seconds)?;
                if let Some(absent) = then_absent {
                    events("then_absent.events", &absent.events)?;
                    seconds("then_absent.for_seconds", absent.for_seconds)?;
                }
            }
            Condition::Count { event, count, within_seconds } => {
                events("event", std::slice::from_ref(event))?;
                if !(2..=10_000).contains(count) {
                    return invalid(format!("count must be 2 to 10000, got {count}"));
                }
                seconds("within_seconds", *within_seconds)?;
            }
            Condition::Absence { after, missing, within_seconds } => {
                events("after", std::slice::from_ref(after))?;
                events("missing", missing)?;
                seconds("within_seconds", *within_seconds)?;
            }
            Condition::Inactivity { for_seconds } => seconds("for_seconds", *for_seconds)?,
            Condition::OffPath { journey } => {
                if journey.trim().is_empty() {
                    return invalid(
                        "off_path needs the journey whose expected path to follow, e.g. \"default\"".into(),
                    );
                }
            }
            Condition::Conversion {
                from, to, within_seconds, window_seconds, below_percent, above_percent, ..
            } => {
                events("from", std::slice::from_ref(from))?;
                events("to", std::slice::from_ref(to))?;
                seconds("within_seconds", *within_seconds)?;
                seconds("window_seconds", *window_seconds)?;
                let percents = [*below_percent, *above_percent];
                if percents.iter().all(Option::is_none) {
                    return invalid("a conversion rule needs below_percent or above_percent, e.g. 20".into());
                }
                if percents.iter().flatten().any(|p| !(0.0..=100.0).contains(p)) {
                    return invalid("below_percent and above_percent are percentages, 0 to 100".into());
                }
            }
            Condition::Volume { event, window_seconds, above, below } => {
                events("event", std::slice::from_ref(event))?;
                seconds("window_seconds", *window_seconds)?;
                if above.is_none() && below.is_none() {
                    return invalid("a volume rule needs above or below, e.g. \"below\": 10".into());
                }
            }
            Condition::VolumeDip { event, window_seconds, baseline_windows, drop_percent, .. } => {
                events("event", std::slice::from_ref(event))?;
                seconds("window_seconds", *window_seconds)?;
                if !(1..=1_000).contains(baseline_windows) {
                    return invalid(format!("baseline_windows must be 1 to 1000, got {baseline_windows}"));
                }
                if !(*drop_percent > 0.0 && *drop_percent <= 100.0) {
                    return invalid(format!("drop_percent must be above 0 and at most 100, got {drop_percent}"));
                }
            }
        }
        Ok(())
    }

    /// Rules a new install starts with, disabled, as examples to switch on or copy.
    pub fn examples() -> Vec<Rule> {
        let rule = |id: &str, name: &str, condition: Condition| Rule {
            id: id.into(),
            name: name.into(),
            enabled: false,
            condition,
            cooldown_seconds: default_cooldown(),
        };
        vec![
            rule(
                "payment-trouble",
                "Payment failed, opened a ticket and went quiet",
                Condition::Sequence {
                    steps: vec!["payment_failed".into(), "support_ticket_created".into()],
                    within_seconds: 86_400,
                    then_absent: Some(Absent { events: vec!["purchase_completed".into()], for_seconds: 3 * 86_400 }),
                },
            ),
            rule(
                "high-intent",
                "High intent: 3 product views in 5 minutes",
                Condition::Count { event: "product_viewed".into(), count: 3, within_seconds: 300 },
            ),
            rule(
                "cart-abandoned",
                "Cart abandoned for an hour",
                Condition::Absence {
                    after: "added_to_cart".into(),
                    missing: vec!["purchase_completed".into()],
                    within_seconds: 3_600,
                },
            ),
            rule("gone-quiet", "No activity for 14 days", Condition::Inactivity { for_seconds: 14 * 86_400 }),
            rule("off-path", "Left the expected journey", Condition::OffPath { journey: "default".into() }),
            rule(
                "checkout-conversion-low",
                "Checkout conversion below 30 % over the last 6 hours",
                Condition::Conversion {
                    from: "checkout_started".into(),
                    to: "purchase_completed".into(),
                    within_seconds: 3_600,
                    window_seconds: 6 * 3_600,
                    below_percent: Some(30.0),
                    above_percent: None,
                    min_sample: default_min_sample(),
                },
            ),
            rule(
                "purchases-dip",
                "Purchases in the last hour half of the day's hourly average",
                Condition::VolumeDip {
                    event: "purchase_completed".into(),
                    window_seconds: 3_600,
                    baseline_windows: default_baseline_windows(),
                    drop_percent: 50.0,
                    min_baseline: default_min_sample(),
                },
            ),
        ]
    }
}

/// The stored rules, cached in memory; the live engine re-reads them when they change.
pub struct Rules {
    store: Store,
    cache: RwLock<HashMap<String, Rule>>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl Rules {
    /// Loads the stored rules, storing the examples on first start.
    pub async fn load(store: Store) -> Result<Self, RuleError> {
        let stored: Vec<(String, String)> = store
            .read(|conn| {
                let mut stmt = conn.prepare(sql::RULES_SELECT_ALL)?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        let first_start = stored.is_empty();
        let mut cache = HashMap::new();
        for (id, definition) in stored {
            match serde_json::from_str::<Rule>(&definition) {
                Ok(rule) => {
                    cache.insert(id, rule);
                }
                Err(e) => tracing::warn!(rule = %id, error = %e, "skipping a stored rule that no longer parses"),
            }
        }
        let rules = Rules { store, cache: RwLock::new(cache), changed: tokio::sync::watch::channel(0).0 };
        if first_start {
            for example in Rule::examples() {
                rules.save(example).await?;
            }
        }
        Ok(rules)
    }

    /// Every rule, by id.
    pub fn list(&self) -> Vec<Rule> {
        let mut all: Vec<Rule> = self.cache.read().map(|c| c.values().cloned().collect()).unwrap_or_default();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn get(&self, id: &str) -> Option<Rule> {
        self.cache.read().ok()?.get(id).cloned()
    }

    /// Tells when the rules change (the value counts changes).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Validates and stores (creates or replaces) a rule.
    pub async fn save(&self, rule: Rule) -> Result<(), RuleError> {
        rule.validate()?;
        let definition = serde_json::to_string(&rule).map_err(|e| RuleError::Invalid(e.to_string()))?;
        if definition.len() > MAX_RULE_BYTES {
            return Err(RuleError::Invalid(format!(
                "the rule is {} bytes, over the {MAX_RULE_BYTES}-byte limit; shorten its name, message or steps",
                definition.len()
            )));
        }
        if self.get(&rule.id).is_none() && self.list().len() >= MAX_RULES {
            return Err(RuleError::Invalid(format!(
                "there are already {MAX_RULES} rules, the most Wayline evaluates; delete one first"
            )));
        }
        let id = rule.id.clone();
        let now = self.store.clock().now();
        self.store
            .change(move |conn| {
                conn.execute(sql::RULES_UPSERT, params![id, definition, Micros::of(now)])?;
                Ok(())
            })
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(rule.id.clone(), rule);
        }
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    pub async fn delete(&self, id: &str) -> Result<(), RuleError> {
        if self.get(id).is_none() {
            return Err(RuleError::NotFound(id.to_string()));
        }
        let owned = id.to_string();
        self.store
            .change(move |conn| {
                conn.execute(sql::RULES_DELETE, params![owned])?;
                Ok(())
            })
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(id);
        }
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    #[test]
    fn the_examples_are_valid_and_round_trip_as_json() {
        for rule in Rule::examples() {
            rule.validate().unwrap();
            let text = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&text).unwrap(), rule);
        }
        let json = serde_json::json!({
            "id": "cart", "name": "Cart", "condition":
            { "type": "absence", "after": "added_to_cart", "missing": ["purchase_completed"], "within_seconds": 3600 }
        });
        let rule: Rule = serde_json::from_value(json).unwrap();
        assert!(rule.enabled && rule.cooldown_seconds == 3_600, "defaults apply");
    }

    #[test]
    fn invalid_rules_say_what_to_change() {
        let mut rule = Rule::examples().remove(2);
        rule.id = "has space".into();
        assert!(rule.validate().unwrap_err().to_string().contains("letters, digits"));
        let mut rule = Rule::examples().remove(1);
        rule.condition = Condition::Count { event: "x[a".into(), count: 3, within_seconds: 60 };
        assert!(rule.validate().unwrap_err().to_string().contains("without closing"));
        rule.condition = Condition::Count { event: "x".into(), count: 3, within_seconds: 0 };
        assert!(rule.validate().unwrap_err().to_string().contains("within_seconds must be 1"));
        rule.condition = Condition::Sequence { steps: vec!["a".into()], within_seconds: 60, then_absent: None };
        assert!(rule.validate().unwrap_err().to_string().contains("2 to 10 steps"));
        rule.condition = Condition::Volume { event: "x".into(), window_seconds: 60, above: None, below: None };
        assert!(rule.validate().unwrap_err().to_string().contains("needs above or below"));
        let json = serde_json::json!({ "type": "conversion", "from": "a", "to": "b", "within_seconds": 60,
            "window_seconds": 600, "below_percent": 120 });
        rule.condition = serde_json::from_value(json).unwrap();
        assert!(rule.validate().unwrap_err().to_string().contains("0 to 100"));
    }

    #[tokio::test]
    async fn rules_are_stored_changed_and_deleted() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let rules = Rules::load(store.clone()).await.unwrap();
        assert_eq!(rules.list().len(), Rule::examples().len(), "examples on first start");
        let changes = rules.subscribe();
        let mut mine = rules.get("high-intent").unwrap();
        mine.enabled = true;
        rules.save(mine.clone()).await.unwrap();
        rules.delete("gone-quiet").await.unwrap();
        assert!(changes.has_changed().unwrap());
        let reloaded = Rules::load(store).await.unwrap();
        assert_eq!(reloaded.get("high-intent"), Some(mine));
        assert_eq!(reloaded.get("gone-quiet"), None, "a deleted example is not put back");
        assert!(matches!(reloaded.delete("gone-quiet").await, Err(RuleError::NotFound(_))));
    }
}
