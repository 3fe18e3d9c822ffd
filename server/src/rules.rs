//! Rules: conditions over one customer's events, or over all customers' (aggregates), that
//! raise an alert. Stored in DuckDB as the same JSON document the API takes and gives; the
//! rule engine (`rule_engine/`) evaluates them as events stream in.

use std::{collections::HashMap, sync::RwLock};

use app::types::{default_baseline_windows, default_cooldown, default_min_sample};
pub use app::types::{Absent, Condition, Rule, Suppression};
use duckdb::params;

use crate::store::{sql, Micros, Store, StoreError};

/// Most rules kept: each is evaluated on every event.
pub const MAX_RULES: usize = 200;
/// Longest rule document (JSON), name and message included.
pub const MAX_RULE_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule is not valid: {0}")]
    Invalid(String),
    #[error("no rule with id {0:?}; list them with GET /api/v1/rules")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `customer_id` falls in `rule_id`'s holdout of `percent` percent: a draw from the
/// SHA-256 of the two ids, so the same customer is always in or always out of one rule's
/// holdout, across restarts and releases, and the draws of different rules are independent.
pub fn in_holdout(rule_id: &str, customer_id: &str, percent: u8) -> bool {
    use sha2::{Digest, Sha256};
    if percent == 0 {
        return false;
    }
    let digest = Sha256::new().chain_update(rule_id).chain_update([0u8]).chain_update(customer_id).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % 10_000 < u64::from(percent.min(100)) * 100
}

/// Rules a new install starts with, disabled, as examples to switch on or copy.
pub fn examples() -> Vec<Rule> {
    let rule = |id: &str, name: &str, condition: Condition| Rule {
        id: id.into(),
        name: name.into(),
        enabled: false,
        condition,
        cooldown_seconds: default_cooldown(),
        playbook: None,
        suppressed_by: None,
        identified_only: false,
        goal: None,
        holdout_percent: 0,
    };
    // Tuned on the demo's traffic to raise a handful an hour each rather than hundreds: a CS
    // manager acts on every alert, so one customer gets one a day, and not after they did
    // what the rule hopes for.
    let once_a_day = |rule: Rule, playbook: &str, suppressed_by: Option<Suppression>| Rule {
        cooldown_seconds: 86_400,
        playbook: Some(playbook.into()),
        suppressed_by,
        ..rule
    };
    let unless = |event: &str, within_seconds: i64| Some(Suppression { events: vec![event.into()], within_seconds });
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
        once_a_day(
            rule(
                "high-intent",
                "High intent: 8 product views in 10 minutes, nothing in the cart",
                Condition::Count { event: "product_viewed".into(), count: 8, within_seconds: 600 },
            ),
            "Offer help choosing (chat or a call) while they are still browsing",
            unless("added_to_cart", 3_600),
        ),
        // A cart worth a call (its third item), of a customer the team can reach: an anonymous
        // cart has nobody to remind. On the demo about one cart in twenty is both.
        Rule {
            identified_only: true,
            ..once_a_day(
                rule(
                    "cart-abandoned",
                    "Full cart (3 items) abandoned for an hour by a signed-in customer",
                    Condition::Absence {
                        after: "added_to_cart[cart_size=3]".into(),
                        missing: vec!["purchase_completed".into()],
                        within_seconds: 3_600,
                    },
                ),
                "Send the cart reminder, then call: three items are worth a conversation",
                unless("purchase_completed", 86_400),
            )
        },
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

/// The stored rules, cached in memory; the rule engine re-reads them when they change.
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
            for example in examples() {
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
        rule.check().map_err(RuleError::Invalid)?;
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
    fn the_holdout_draw_is_stable_close_to_its_share_and_independent_between_rules() {
        let customers: Vec<String> = (0..20_000).map(|i| format!("customer-{i}")).collect();
        let held =
            |rule: &str, percent: u8| -> Vec<bool> { customers.iter().map(|c| in_holdout(rule, c, percent)).collect() };
        let twenty = held("cart", 20);
        let share = twenty.iter().filter(|h| **h).count() as f64 / customers.len() as f64;
        assert!((0.19..=0.21).contains(&share), "{share}");
        assert_eq!(twenty, held("cart", 20), "the same customers every time");
        // A larger holdout keeps everyone the smaller one held (the draw is a threshold).
        assert!(twenty.iter().zip(held("cart", 50)).all(|(small, large)| !small || large));
        // Another rule draws other customers: about 20 % of this one's are in that one's too.
        let both = twenty.iter().zip(held("ticket", 20)).filter(|(a, b)| **a && *b).count() as f64;
        assert!((0.03..=0.05).contains(&(both / customers.len() as f64)), "{both}");
        assert!(held("cart", 0).iter().all(|h| !h));
        // Pinned: the draw must not change between releases, or outcomes would mix groups.
        // (Computed apart from this code, with Python's hashlib: sha256(b"cart\0customer-i"),
        // its first 8 bytes big-endian, modulo 10,000, below 5,000.)
        let pinned = [true, true, false, true, false, true, false, false, false, true, false, true];
        assert_eq!((0..12).map(|i| in_holdout("cart", &format!("customer-{i}"), 50)).collect::<Vec<_>>(), pinned);
    }

    #[test]
    fn the_examples_are_valid_and_round_trip_as_json() {
        for rule in examples() {
            rule.check().unwrap();
            let text = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&text).unwrap(), rule);
        }
        let json = serde_json::json!({
            "id": "cart", "name": "Cart", "condition":
            { "type": "absence", "after": "added_to_cart", "missing": ["purchase_completed"], "within_seconds": 3600 }
        });
        let rule: Rule = serde_json::from_value(json).unwrap();
        assert!(rule.enabled && rule.cooldown_seconds == 3_600 && rule.playbook.is_none(), "defaults apply");
    }

    #[test]
    fn a_playbook_is_kept_with_its_rule_and_a_long_one_refused() {
        let mut rule = examples().remove(2);
        rule.playbook = Some("Call within the hour; offer free shipping".into());
        rule.check().unwrap();
        let text = serde_json::to_string(&rule).unwrap();
        assert!(text.contains(r#""playbook":"Call within the hour; offer free shipping""#), "{text}");
        rule.playbook = Some("x".repeat(501));
        assert_eq!(rule.check().unwrap_err(), "the playbook is 501 characters long; shorten it to 500 or fewer");
    }

    #[test]
    fn invalid_rules_say_what_to_change() {
        let mut rule = examples().remove(2);
        rule.id = "has space".into();
        assert!(rule.check().unwrap_err().to_string().contains("letters, digits"));
        let mut rule = Rule { suppressed_by: None, ..examples().remove(1) };
        rule.condition = Condition::Count { event: "x[a".into(), count: 3, within_seconds: 60 };
        assert!(rule.check().unwrap_err().to_string().contains("without closing"));
        rule.condition = Condition::Count { event: "x".into(), count: 3, within_seconds: 0 };
        assert!(rule.check().unwrap_err().to_string().contains("within_seconds must be 1"));
        rule.condition = Condition::Sequence { steps: vec!["a".into()], within_seconds: 60, then_absent: None };
        assert!(rule.check().unwrap_err().to_string().contains("2 to 10 steps"));
        rule.condition = Condition::Volume { event: "x".into(), window_seconds: 60, above: None, below: None };
        assert!(rule.check().unwrap_err().to_string().contains("needs above or below"));
        let json = serde_json::json!({ "type": "conversion", "from": "a", "to": "b", "within_seconds": 60,
            "window_seconds": 600, "below_percent": 120 });
        rule.condition = serde_json::from_value(json).unwrap();
        assert!(rule.check().unwrap_err().to_string().contains("0 to 100"));
        let mut rule = examples().remove(1);
        rule.suppressed_by = Some(Suppression { events: vec![], within_seconds: 60 });
        assert_eq!(rule.check().unwrap_err(), "suppressed_by.events needs at least one event");
        rule.suppressed_by = Some(Suppression { events: vec!["purchase_completed".into()], within_seconds: 0 });
        assert!(rule.check().unwrap_err().contains("suppressed_by.within_seconds must be 1"));
        let mut aggregate = examples().into_iter().find(|r| r.condition.is_aggregate()).unwrap();
        aggregate.suppressed_by = Some(Suppression { events: vec!["purchase_completed".into()], within_seconds: 60 });
        assert!(aggregate.check().unwrap_err().contains("an aggregate rule is about all of them"));
    }

    #[tokio::test]
    async fn rules_are_stored_changed_and_deleted() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let rules = Rules::load(store.clone()).await.unwrap();
        assert_eq!(rules.list().len(), examples().len(), "examples on first start");
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
