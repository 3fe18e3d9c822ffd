//! Who customers are at a glance (the inbox's and the customers list's cards) and what each
//! alerted customer did after their alert: read from the event index (channel, first and
//! last seen, stage) and from their identify traits in the store (name, email).

use app::types::{AlertFollowUp, CustomerCard, Journey};
use chrono::DateTime;

use super::{Analytics, AnalyticsError};
use crate::index::{channel::DIRECT, columns::NONE, stage::StageClassifier, Column, Entry, IndexData};

/// An alert whose follow-up is asked for: its id, customer and when its condition was met (µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerted {
    pub alert_id: i64,
    pub customer_id: String,
    pub occurred_us: i64,
}

impl Analytics {
    /// A card for each customer of `ids` the index knows, in the order asked.
    pub async fn customer_cards(
        &self,
        journey: &Journey,
        ids: Vec<String>,
    ) -> Result<Vec<CustomerCard>, AnalyticsError> {
        self.materialise_stage_columns(journey, true).await?;
        let journey_for_read = journey.clone();
        let mut cards = self
            .index
            .answer(move |data| {
                let classifier = classifier(data, &journey_for_read);
                ids.iter().filter_map(|id| card(data, &journey_for_read, &classifier, id)).collect::<Vec<_>>()
            })
            .await?;
        let known: Vec<String> = cards.iter().map(|c| c.customer_id.clone()).collect();
        for traits in self.store.customer_traits(&known).await? {
            if let Some(card) = cards.iter_mut().find(|c| c.customer_id == traits.customer_id) {
                (card.name, card.email) = (traits.name, traits.email);
            }
        }
        Ok(cards)
    }

    /// What each alerted customer did after their alert (alerts of unknown customers, such as
    /// aggregate rules', are left out).
    pub async fn follow_ups(
        &self,
        journey: &Journey,
        alerted: Vec<Alerted>,
    ) -> Result<Vec<AlertFollowUp>, AnalyticsError> {
        self.materialise_stage_columns(journey, false).await?;
        let journey = journey.clone();
        Ok(self
            .index
            .answer(move |data| {
                let classifier = classifier(data, &journey);
                alerted
                    .iter()
                    .filter_map(|a| {
                        let customer = data.customer(&a.customer_id)?;
                        let (before, after) = split_at(&customer.events, a.occurred_us);
                        let stage_of = |e: &Entry| classifier.stage(e);
                        let then = before.iter().rev().find_map(stage_of);
                        let furthest = after.iter().filter_map(stage_of).max();
                        let moved_on_to =
                            furthest.filter(|&f| then.is_none_or(|t| f > t)).map(|f| journey.stages[f].name.clone());
                        Some(AlertFollowUp {
                            alert_id: a.alert_id,
                            events_since: after.len() as u64,
                            moved_on_to,
                            goal: None,
                        })
                    })
                    .collect()
            })
            .await?)
    }

    /// The ids of the `limit` customers seen last, and of the `limit` with the most events
    /// since `since_us` (ties by id), most first.
    pub async fn recent_and_most_active(
        &self,
        limit: usize,
        since_us: i64,
    ) -> Result<(Vec<String>, Vec<String>), AnalyticsError> {
        Ok(self
            .index
            .answer(move |data| {
                let mut recent: Vec<(i64, &str)> = Vec::new();
                let mut active: Vec<(usize, &str)> = Vec::new();
                for customer in data.customers() {
                    let Some(last) = customer.events.last() else { continue };
                    recent.push((last.at_us, &customer.id));
                    let lately = customer.events.len() - customer.events.partition_point(|e| e.at_us < since_us);
                    if lately > 0 {
                        active.push((lately, &customer.id));
                    }
                }
                (most_first(recent, limit), most_first(active, limit))
            })
            .await?)
    }

    async fn materialise_stage_columns(&self, journey: &Journey, channel: bool) -> Result<(), AnalyticsError> {
        let mut columns: Vec<Column> = journey.condition_properties().into_iter().map(Column::Property).collect();
        if channel {
            columns.push(Column::Channel);
        }
        if !columns.is_empty() {
            self.index.materialise(&self.store, columns).await?;
        }
        Ok(())
    }
}

/// The ids of the `limit` largest keys, most first (ties by id).
fn most_first<K: Ord>(mut list: Vec<(K, &str)>, limit: usize) -> Vec<String> {
    list.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    list.into_iter().take(limit).map(|(_, id)| id.to_string()).collect()
}

fn classifier<'a>(data: &'a IndexData, journey: &'a Journey) -> StageClassifier<'a> {
    let names: Vec<&str> = (0..data.names_len() as u32).map(|id| data.name(id)).collect();
    StageClassifier::new(journey, &names, |key| data.property(key))
}

/// A customer's events up to `at_us` (inclusive) and after it.
fn split_at(events: &[Entry], at_us: i64) -> (&[Entry], &[Entry]) {
    events.split_at(events.partition_point(|e| e.at_us <= at_us))
}

fn card(data: &IndexData, journey: &Journey, classifier: &StageClassifier<'_>, id: &str) -> Option<CustomerCard> {
    let customer = data.customer(id)?;
    let time = |e: Option<&Entry>| e.and_then(|e| DateTime::from_timestamp_micros(e.at_us));
    let channel = data.channels().map(|column| match customer.first_touch() {
        NONE => DIRECT.to_string(),
        touch => column.dictionary()[touch as usize].clone(),
    });
    let stage = customer.events.iter().rev().find_map(|e| classifier.stage(e)).map(|s| journey.stages[s].name.clone());
    Some(CustomerCard {
        customer_id: customer.id.to_string(),
        name: None,
        email: None,
        channel,
        first_seen: time(customer.events.first()),
        last_seen: time(customer.events.last()),
        events: customer.events.len() as u64,
        stage,
    })
}
