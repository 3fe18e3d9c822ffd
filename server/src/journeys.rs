//! Journeys: named maps of stages, each a set of event names (optionally with property
//! conditions), with the expected path between stages. Stored in DuckDB as the same JSON document the API imports and exports.

use std::{collections::HashMap, sync::RwLock};

pub use app::types::{Journey, Stage};

use crate::store::{Store, StoreError};

/// The journey every install starts with.
pub const DEFAULT_JOURNEY: &str = "default";
/// Most journeys kept.
pub const MAX_JOURNEYS: usize = 50;
/// Longest journey document (JSON).
pub const MAX_JOURNEY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    #[error("the journey is not valid: {0}")]
    Invalid(String),
    #[error("no journey named {0:?}; list them with GET /api/v1/journeys")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The journey most shops walk through, named with the events the demo and the first-party
/// snippet send.
pub fn default_journey() -> Journey {
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
            &["Order confirmation", "order_shipped", "review_submitted", "order_returned", "support_ticket_created"],
        ),
        stage("Retention", &["logged_in", "repeat_purchase", "loyalty_joined"]),
    ];
    let expected_path = stages.windows(2).map(|w| (w[0].name.clone(), w[1].name.clone())).collect();
    Journey { name: DEFAULT_JOURNEY.into(), stages, expected_path }
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
            journeys.save(default_journey()).await?;
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
        journey.check().map_err(JourneyError::Invalid)?;
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
        let journey = default_journey();
        journey.check().unwrap();
        let names: Vec<&str> = journey.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["Discovery", "Engagement", "Conversion", "Post-purchase", "Retention"]);
        assert_eq!(journey.stage_of("added_to_cart"), Some(2));
        assert_eq!(journey.stage_of("support_ticket_created"), Some(3));
        assert_eq!(journey.stage_of("unknown"), None);
        assert_eq!(journey.expected_path[0], ("Discovery".to_string(), "Engagement".to_string()));
    }

    #[test]
    fn invalid_journeys_say_what_to_change() {
        let mut twice = default_journey();
        twice.stages[1].events.push("added_to_cart".into());
        assert!(twice.check().unwrap_err().to_string().contains("belongs to one stage"));
        let mut stray = default_journey();
        stray.expected_path.push(("Discovery".into(), "Nowhere".into()));
        assert!(stray.check().unwrap_err().to_string().contains("\"Nowhere\""));
        let empty = Journey { name: "x".into(), stages: vec![], expected_path: vec![] };
        assert!(empty.check().is_err());
    }

    #[test]
    fn a_stage_can_claim_an_event_by_its_properties() {
        let mut journey = default_journey();
        // Pricing page views are Conversion, other page views stay in Discovery.
        journey.stages[2].events.push("page_viewed[path=/pricing]".into());
        journey.check().unwrap();
        let pricing = serde_json::json!({ "path": "/pricing" });
        let home = serde_json::json!({ "path": "/" });
        assert_eq!(journey.stage_of_event("page_viewed", &pricing), Some(2));
        assert_eq!(journey.stage_of_event("page_viewed", &home), Some(0));
        assert_eq!(journey.stage_of_event("page_viewed", &serde_json::Value::Null), Some(0));
        assert_eq!(journey.condition_properties(), vec!["path".to_string()]);
        let mut broken = default_journey();
        broken.stages[2].events.push("page_viewed[path".into());
        assert!(broken.check().unwrap_err().to_string().contains("without closing"));
    }

    #[tokio::test]
    async fn journeys_are_stored_and_reloaded() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let journeys = Journeys::load(store.clone()).await.unwrap();
        let mut mine = default_journey();
        mine.name = "b2b".into();
        mine.stages.truncate(2);
        mine.expected_path.truncate(1);
        journeys.save(mine.clone()).await.unwrap();
        let reloaded = Journeys::load(store).await.unwrap();
        assert_eq!(reloaded.list().iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), vec!["b2b", "default"]);
        assert_eq!(reloaded.get("b2b"), Some(mine));
    }
}
