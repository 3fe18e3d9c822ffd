//! Journeys (named maps of stages) and what the journey map shows of them: customers in each
//! stage now, and where they leave between stages.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::steps::StepEvent;

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

impl Journey {
    /// Checks that the definition can be used; the error names what to change.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the journey needs a name".into());
        }
        if self.stages.is_empty() {
            return Err("the journey needs at least one stage".into());
        }
        let mut owner: HashMap<&str, &str> = HashMap::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.name.trim().is_empty() {
                return Err(format!("stage {} has no name", i + 1));
            }
            if self.stages[..i].iter().any(|s| s.name == stage.name) {
                return Err(format!("two stages are named {:?}; stage names must be unique", stage.name));
            }
            for entry in &stage.events {
                let event = StepEvent::parse(entry).map_err(|e| format!("stage {:?}: {e}", stage.name))?;
                if !event.filters.is_empty() {
                    continue;
                }
                if let Some(other) = owner.insert(entry, &stage.name) {
                    return Err(format!(
                        "event {entry:?} is in both {other:?} and {:?}; an event belongs to one stage (add property conditions, e.g. {entry}[key=value], to tell them apart)",
                        stage.name
                    ));
                }
            }
        }
        for (from, to) in &self.expected_path {
            for name in [from, to] {
                if !self.stages.iter().any(|s| &s.name == name) {
                    return Err(format!("the expected path names {name:?}, which is not a stage of this journey"));
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

/// Active sessions in one stage now (the stage stream's items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageOccupancy {
    pub stage: String,
    pub active_sessions: u64,
    /// Median time the sessions now in the stage have spent in it, in seconds.
    pub median_seconds_in_stage: Option<f64>,
}

/// Customers moving on from one stage to the next over the chosen range, and those who left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropoff {
    pub from_stage: String,
    pub to_stage: String,
    /// Customers with an event of `from_stage` in the range.
    pub reached: u64,
    /// Of those, the ones who did not reach `to_stage` within the window.
    pub left: u64,
    pub left_share: f64,
    pub median_seconds_before_leaving: Option<f64>,
    pub average_seconds_before_leaving: Option<f64>,
}

/// The transition losing the most customers (ties: the larger share), if any lost anyone:
/// the map's "Biggest leak".
pub fn biggest_leak(transitions: &[Dropoff]) -> Option<usize> {
    transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| t.left > 0)
        .max_by(|(_, a), (_, b)| a.left.cmp(&b.left).then(a.left_share.total_cmp(&b.left_share)))
        .map(|(i, _)| i)
}

/// Who reached the biggest leak's first stage and who left there, for one first-touch
/// channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelLeak {
    pub channel: String,
    pub reached: u64,
    pub left: u64,
}

/// A transition split by the customers' first channel, most left first (the map asks for its
/// biggest leak's, after the map itself, so the map never waits for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakByChannel {
    pub from_stage: String,
    pub to_stage: String,
    pub channels: Vec<ChannelLeak>,
}

/// Everything the journey map shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyMap {
    pub journey: Journey,
    /// Every journey's name, for the picker.
    pub journeys: Vec<String>,
    pub transitions: Vec<Dropoff>,
    pub occupancy: Vec<StageOccupancy>,
    /// The range the transitions cover, in days up to now.
    pub days: u32,
    /// The range the transitions cover (the last `days` days, or the days picked).
    pub range: super::Span,
    /// The transitions over the period before, when asked to compare.
    pub previous: Option<PreviousTransitions>,
    /// The channel the counts are narrowed to (customers whose first touch it was), if any.
    pub channel: Option<String>,
    /// The channels that brought customers so far, for the filter (`direct` included).
    pub channels: Vec<String>,
}

/// A journey's transitions over the period before the one shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousTransitions {
    pub range: super::Span,
    pub transitions: Vec<Dropoff>,
}

/// Customers in a stage on one page of the journey map's list.
pub const STAGE_PAGE_SIZE: usize = 50;

/// One page of the customers in a stage now, longest there first, with how many there are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StagePage {
    pub total: u64,
    pub offset: usize,
    pub customers: Vec<StageCustomer>,
}

/// A customer in a stage now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCustomer {
    pub customer_id: String,
    /// Seconds in the stage so far.
    pub seconds_in_stage: f64,
}
