//! Journeys: named maps of stages, each a set of event names (optionally with property
//! conditions), with the expected path between stages. Stored in DuckDB as the same JSON document the API imports and exports.

use std::{collections::HashMap, sync::RwLock};

use serde::{Deserialize, Serialize};

use crate::{
    analytics::funnel::StepEvent,
    store::{Store, StoreError},
};

/// The journey every install starts with.
pub const DEFAULT_JOURNEY: &str = "default";
/// Most journeys kept.
pub const MAX_JOURNEYS: usize = 50;
/// Longest journey document (JSON).
pub const MAX_JOURNEY_BYTES: usize = 64 * 1024;

/// One stage of a journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// Event names (track events, or page/screen names) that put a customer in this stage,
    /// each optionally with property conditions: `page_viewed[path=/pricing]`. An event
    /// whose conditions hold belongs to that stage before any stage listing its bare name.
    pub events: Vec<String>,
}

impl Stage {
    /// The stage's events as step events (entries that do not parse are left out; a saved
    /// journey has none).
    pub fn matchers(&self) -> Vec<StepEvent> {
        self.events.iter().filter_map(|e| StepEvent::parse(e).ok()).collect()
    }
}

/// A journey definition: the importable/exportable document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    pub name: String,
    pub stages: Vec<Stage>,
    /// Expected transitions, as pairs of stage names.
    pub expected_path: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    #[error("the journey is not valid: {0}")]
    Invalid(String),
    #[error("no journey named {0:?}; list them with GET /api/v1/journeys")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Journey {
    /// The journey most shops walk through, named with the events the demo and the
    /// first-party snippet send.
    pub fn default_journey() -> Self {
        let stage = |name: &str, events: &[&str]| Stage {
            name: name.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        };
        let stages = vec![
            stage("Discovery", &["Home", "page_viewed", "products_searched", "ad_clicked"]),
            stage(
                "Engagement",
                &["Category", "Product", "product_list_viewed", "product_viewed", "signed_up", "newsletter_subscribed"],
            ),
            stage(
                "Conversion",
                &[
                    "Cart",
                    "Checkout",
                    "added_to_cart",
                    "removed_from_cart",
                    "cart_viewed",
                    "checkout_started",
                    "payment_info_entered",
                    "payment_failed",
                    "purchase_completed",
                    "subscription_started",
                ],
            ),
            stage(
                "Post-purchase",
                &[
                    "Order confirmation",
                    "order_shipped",
                    "review_submitted",
                    "order_returned",
                    "support_ticket_created",
                ],
            ),
            stage("Retention", &["logged_in", "repeat_purchase", "loyalty_joined"]),
        ];
        let expected_path = stages.windows(2).map(|w| (w[0].name.clone(), w[1].name.clone())).collect();
        Journey { name: DEFAULT_JOURNEY.into(), stages, expected_path }
    }

    /// Checks that the definition can be used; the error names what to change.
    pub fn validate(&self) -> Result<(), JourneyError> {
        let invalid = |m: String| Err(JourneyError::Invalid(m));
        if self.name.trim().is_empty() {
            return invalid("the journey needs a name".into());
        }
        if self.stages.is_empty() {
            return invalid("the journey needs at least one stage".into());
        }
        let mut owner: HashMap<&str, &str> = HashMap::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.name.trim().is_empty() {
                return invalid(format!("stage {} has no name", i + 1));
            }
            if self.stages[..i].iter().any(|s| s.name == stage.name) {
                return invalid(format!("two stages are named {:?}; stage names must be unique", stage.name));
            }
            for entry in &stage.events {
                let event = StepEvent::parse(entry)
                    .map_err(|e| JourneyError::Invalid(format!("stage {:?}: {e}", stage.name)))?;
                if !event.filters.is_empty() {
                    continue;
                }
                if let Some(other) = owner.insert(entry, &stage.name) {
                    return invalid(format!(
                        "event {entry:?} is in both {other:?} and {:?}; an event belongs to one stage (add property conditions, e.g. {entry}[key=value], to tell them apart)",
                        stage.name
                    ));
                }
            }
        }
        for (from, to) in &self.expected_path {
            for name in [from, to] {
                if !self.stages.iter().any(|s| &s.name == name) {
                    return invalid(format!("the expected path names {name:?}, which is not a stage of this journey"));
                }
            }
        }
        Ok(())
    }

    /// Index of the stage an event name belongs to by its bare name.
    pub fn stage_of(&self, event: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.events.iter().any(|e| e == event))
    }

    /// Index of the stage an event belongs to: the first stage whose conditions on this
    /// event name hold for its properties, else the stage listing the bare name.
    pub fn stage_of_event(&self, event: &str, properties: &serde_json::Value) -> Option<usize> {
        let conditioned = |stage: &Stage| {
            stage
                .matchers()
                .iter()
                .any(|m| !m.filters.is_empty() && m.name == event && m.matches_properties(properties))
        };
        self.stages.iter().position(conditioned).or_else(|| self.stage_of(event))
    }

    /// The properties the stages' conditions read.
    pub fn condition_properties(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for matcher in self.stages.iter().flat_map(Stage::matchers) {
            for (key, _) in matcher.filters {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }
}

/// The stored journeys, cached in memory (they change rarely and are read on every update).
pub struct Journeys {
    store: Store,
    cache: RwLock<HashMap<String, Journey>>,
}

impl Journeys {
    /// Loads the stored journeys, storing the default journey on first start.
    pub async fn load(store: Store) -> Result<Self, JourneyError> {
        let mut cache = HashMap::new();
        for (name, definition) in store.journeys().await? {
            match serde_json::from_str::<Journey>(&definition) {
                Ok(journey) => {
                    cache.insert(name, journey);
                }
                Err(e) => {
                    tracing::warn!(journey = %name, error = %e, "skipping a stored journey that no longer parses")
                }
            }
        }
        let journeys = Journeys { store, cache: RwLock::new(cache) };
        if journeys.get(DEFAULT_JOURNEY).is_none() {
            journeys.save(Journey::default_journey()).await?;
        }
        Ok(journeys)
    }

    /// Every journey, by name.
    pub fn list(&self) -> Vec<Journey> {
        let mut all: Vec<Journey> = self.cache.read().map(|c| c.values().cloned().collect()).unwrap_or_default();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn get(&self, name: &str) -> Option<Journey> {
        self.cache.read().ok()?.get(name).cloned()
    }

    /// Validates and stores (creates or replaces) a journey.
    pub async fn save(&self, journey: Journey) -> Result<(), JourneyError> {
        journey.validate()?;
        let definition = serde_json::to_string(&journey).map_err(|e| JourneyError::Invalid(e.to_string()))?;
        if definition.len() > MAX_JOURNEY_BYTES {
            return Err(JourneyError::Invalid(format!(
                "the journey is {} bytes, over the {MAX_JOURNEY_BYTES}-byte limit; use fewer stages or events",
                definition.len()
            )));
        }
        if self.get(&journey.name).is_none() && self.list().len() >= MAX_JOURNEYS {
            return Err(JourneyError::Invalid(format!(
                "there are already {MAX_JOURNEYS} journeys, the most Wayline keeps; replace one instead"
            )));
        }
        self.store.upsert_journey(journey.name.clone(), definition).await?;
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(journey.name.clone(), journey);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    #[test]
    fn the_default_journey_is_valid_and_maps_demo_events() {
        let journey = Journey::default_journey();
        journey.validate().unwrap();
        let names: Vec<&str> = journey.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["Discovery", "Engagement", "Conversion", "Post-purchase", "Retention"]);
        assert_eq!(journey.stage_of("added_to_cart"), Some(2));
        assert_eq!(journey.stage_of("support_ticket_created"), Some(3));
        assert_eq!(journey.stage_of("unknown"), None);
        assert_eq!(journey.expected_path[0], ("Discovery".to_string(), "Engagement".to_string()));
    }

    #[test]
    fn invalid_journeys_say_what_to_change() {
        let mut twice = Journey::default_journey();
        twice.stages[1].events.push("added_to_cart".into());
        assert!(twice.validate().unwrap_err().to_string().contains("belongs to one stage"));
        let mut stray = Journey::default_journey();
        stray.expected_path.push(("Discovery".into(), "Nowhere".into()));
        assert!(stray.validate().unwrap_err().to_string().contains("\"Nowhere\""));
        let empty = Journey { name: "x".into(), stages: vec![], expected_path: vec![] };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn a_stage_can_claim_an_event_by_its_properties() {
        let mut journey = Journey::default_journey();
        // Pricing page views are Conversion, other page views stay in Discovery.
        journey.stages[2].events.push("page_viewed[path=/pricing]".into());
        journey.validate().unwrap();
        let pricing = serde_json::json!({ "path": "/pricing" });
        let home = serde_json::json!({ "path": "/" });
        assert_eq!(journey.stage_of_event("page_viewed", &pricing), Some(2));
        assert_eq!(journey.stage_of_event("page_viewed", &home), Some(0));
        assert_eq!(journey.stage_of_event("page_viewed", &serde_json::Value::Null), Some(0));
        assert_eq!(journey.condition_properties(), vec!["path".to_string()]);
        let mut broken = Journey::default_journey();
        broken.stages[2].events.push("page_viewed[path".into());
        assert!(broken.validate().unwrap_err().to_string().contains("without closing"));
    }

    #[tokio::test]
    async fn journeys_are_stored_and_reloaded() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let journeys = Journeys::load(store.clone()).await.unwrap();
        let mut mine = Journey::default_journey();
        mine.name = "b2b".into();
        mine.stages.truncate(2);
        mine.expected_path.truncate(1);
        journeys.save(mine.clone()).await.unwrap();
        let reloaded = Journeys::load(store).await.unwrap();
        assert_eq!(reloaded.list().iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), vec!["b2b", "default"]);
        assert_eq!(reloaded.get("b2b"), Some(mine));
    }
}
