//! Rules: conditions over one customer's events, or over all customers' (aggregates), that
//! raise an alert — the document the API takes and gives and the rules page edits.

use serde::{Deserialize, Serialize};

use super::steps::StepEvent;

/// Longest window or wait a rule may have.
pub const MAX_SECONDS: i64 = 90 * 86_400;
/// Most steps in a sequence.
pub const MAX_STEPS: usize = 10;
/// Longest playbook, in characters.
pub const MAX_PLAYBOOK_CHARS: usize = 500;

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

pub fn default_min_sample() -> u32 {
    20
}

pub fn default_baseline_windows() -> u32 {
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
    /// What to do when it fires, for whoever picks the alert up ("call within the hour, offer
    /// free shipping"); the rules page shows it under the rule's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    /// Holds the alert back when the customer did one of these events shortly before the
    /// condition was met (not "cart abandoned" for someone who bought an hour ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<Suppression>,
    /// Only customers who identified themselves (a user id: someone the team can contact);
    /// anonymous visitors raise nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identified_only: bool,
    /// What acting on the alert is meant to bring about; its outcomes are measured against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    /// The percent of customers (0 to [`MAX_HOLDOUT_PERCENT`]) whose alerts are recorded but
    /// not acted on — no webhook, not in the inbox — to compare the goal rate against. Drawn
    /// per customer and rule, and stable: the same customer is always in or always out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub holdout_percent: u8,
}

/// Most of a rule's customers that may be held out.
pub const MAX_HOLDOUT_PERCENT: u8 = 50;

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// The event a rule's alert should lead to, and how long after the alert it may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub event: String,
    pub within_seconds: i64,
}

/// Events that hold a rule's alert back when the customer did one of them in the
/// `within_seconds` up to the moment the condition was met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    pub events: Vec<String>,
    pub within_seconds: i64,
}

fn enabled() -> bool {
    true
}

pub fn default_cooldown() -> i64 {
    3_600
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
    pub fn check(&self) -> Result<(), String> {
        let invalid = |m: String| Err(m);
        if self.id.is_empty() || !self.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return invalid(format!("id {:?} must be letters, digits, '-' or '_', e.g. cart-abandoned", self.id));
        }
        if self.name.trim().is_empty() {
            return invalid("the rule needs a name, e.g. \"Cart abandoned for an hour\"".into());
        }
        if let Some(length) = self.playbook.as_ref().map(|p| p.chars().count()).filter(|n| *n > MAX_PLAYBOOK_CHARS) {
            return invalid(format!(
                "the playbook is {length} characters long; shorten it to {MAX_PLAYBOOK_CHARS} or fewer"
            ));
        }
        if !(0..=MAX_SECONDS).contains(&self.cooldown_seconds) {
            return invalid(format!("cooldown_seconds must be 0 to {MAX_SECONDS}"));
        }
        let seconds = |what: &str, s: i64| {
            if (1..=MAX_SECONDS).contains(&s) {
                Ok(())
            } else {
                Err(format!("{what} must be 1 to {MAX_SECONDS} seconds (90 days), got {s}"))
            }
        };
        let events = |what: &str, list: &[String]| -> Result<(), String> {
            if list.is_empty() {
                return Err(format!("{what} needs at least one event"));
            }
            for text in list {
                StepEvent::parse(text).map_err(|e| format!("{what}: {e}"))?;
            }
            Ok(())
        };
        if self.identified_only && self.condition.is_aggregate() {
            return invalid(
                "identified_only picks which customers may raise an alert; an aggregate rule is about all of them, \
                 so leave it out"
                    .into(),
            );
        }
        if let Some(goal) = &self.goal {
            if self.condition.is_aggregate() {
                return invalid(
                    "a goal is reached (or not) by the customer an alert is about; an aggregate rule is about all \
                     of them, so leave it out"
                        .into(),
                );
            }
            let name = goal.event.trim();
            if name.is_empty() || name.contains(['[', ']', '|', ',']) {
                return invalid(format!(
                    "goal.event must be one event name, e.g. \"purchase_completed\", got {:?}",
                    goal.event
                ));
            }
            seconds("goal.within_seconds", goal.within_seconds)?;
        }
        if self.holdout_percent > MAX_HOLDOUT_PERCENT {
            return invalid(format!(
                "holdout_percent must be 0 to {MAX_HOLDOUT_PERCENT}, got {}",
                self.holdout_percent
            ));
        }
        if self.holdout_percent > 0 && self.goal.is_none() {
            return invalid(
                "a holdout is compared on a goal: add goal {\"event\": \"purchase_completed\", \"within_seconds\": 259200}, \
                 or set holdout_percent to 0"
                    .into(),
            );
        }
        if let Some(suppression) = &self.suppressed_by {
            if self.condition.is_aggregate() {
                return invalid(
                    "suppressed_by holds back alerts about one customer; an aggregate rule is about all of them, \
                     so leave it out"
                        .into(),
                );
            }
            events("suppressed_by.events", &suppression.events)?;
            seconds("suppressed_by.within_seconds", suppression.within_seconds)?;
        }
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
}

impl Condition {
    /// Every type of condition: its `type` on the wire and what it fires on, in the order the
    /// rules page offers them.
    pub const KINDS: [(&'static str, &'static str); 8] = [
        ("count", "N of an event within a time"),
        ("sequence", "Steps in order within a time"),
        ("absence", "An event not followed by another"),
        ("inactivity", "No activity for a time"),
        ("off_path", "Leaving the journey's expected path"),
        ("conversion", "All customers: a step's conversion crosses a threshold"),
        ("volume", "All customers: an event's count crosses a threshold"),
        ("volume_dip", "All customers: an event's count dips below its baseline"),
    ];

    /// The condition's `type` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::Count { .. } => "count",
            Condition::Sequence { .. } => "sequence",
            Condition::Absence { .. } => "absence",
            Condition::Inactivity { .. } => "inactivity",
            Condition::OffPath { .. } => "off_path",
            Condition::Conversion { .. } => "conversion",
            Condition::Volume { .. } => "volume",
            Condition::VolumeDip { .. } => "volume_dip",
        }
    }

    /// A condition of type `kind` to start editing from, keeping this one's event and times
    /// where the new type has them; `None` for a type that does not exist.
    pub fn switched_to(&self, kind: &str) -> Option<Condition> {
        let event = match self {
            Condition::Count { event, .. } | Condition::Volume { event, .. } | Condition::VolumeDip { event, .. } => {
                event.clone()
            }
            Condition::Absence { after, .. } => after.clone(),
            Condition::Conversion { from, .. } => from.clone(),
            Condition::Sequence { steps, .. } => steps.first().cloned().unwrap_or_default(),
            Condition::Inactivity { .. } | Condition::OffPath { .. } => String::new(),
        };
        let within_seconds = match self {
            Condition::Count { within_seconds, .. }
            | Condition::Sequence { within_seconds, .. }
            | Condition::Absence { within_seconds, .. }
            | Condition::Conversion { within_seconds, .. } => *within_seconds,
            Condition::Inactivity { for_seconds } => *for_seconds,
            _ => 3_600,
        };
        let window_seconds = match self {
            Condition::Conversion { window_seconds, .. }
            | Condition::Volume { window_seconds, .. }
            | Condition::VolumeDip { window_seconds, .. } => *window_seconds,
            _ => 3_600,
        };
        Some(match kind {
            "count" => Condition::Count { event, count: 3, within_seconds },
            "sequence" => Condition::Sequence {
                steps: vec![event].into_iter().filter(|e| !e.is_empty()).collect(),
                within_seconds,
                then_absent: None,
            },
            "absence" => Condition::Absence { after: event, missing: Vec::new(), within_seconds },
            "inactivity" => Condition::Inactivity { for_seconds: within_seconds },
            "off_path" => Condition::OffPath { journey: "default".into() },
            "conversion" => Condition::Conversion {
                from: event,
                to: String::new(),
                within_seconds,
                window_seconds,
                below_percent: None,
                above_percent: None,
                min_sample: default_min_sample(),
            },
            "volume" => Condition::Volume { event, window_seconds, above: None, below: None },
            "volume_dip" => Condition::VolumeDip {
                event,
                window_seconds,
                baseline_windows: default_baseline_windows(),
                drop_percent: 50.0,
                min_baseline: default_min_sample(),
            },
            _ => return None,
        })
    }
}

/// How one group of a rule's alerts fared against its goal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupOutcome {
    /// Alerts whose goal window has ended.
    pub alerts: u64,
    /// Of those, the ones whose customer did the goal event within the window.
    pub reached: u64,
    pub rate: Option<f64>,
    /// Median seconds from the alert to the goal, over those who reached it.
    pub median_seconds_to_goal: Option<f64>,
}

/// The verdict's kind (the sentence says it in words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeVerdict {
    /// The rule has no goal to measure against.
    NoGoal,
    /// Too few alerts have finished their goal window in one of the groups to judge.
    TooFew,
    /// The treated group reached the goal more often, beyond chance (the interval is above 0).
    Helped,
    /// The treated group reached it less often, beyond chance.
    Hurt,
    /// The interval spans 0: no difference can be told from chance yet.
    NoClearEffect,
}

/// Did acting on a rule's alerts help? Treated (alerts acted on: sent to webhooks and the
/// inbox) against held out (recorded only), over the alerts whose goal window has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcomes {
    pub rule_id: String,
    pub goal: Option<Goal>,
    pub holdout_percent: u8,
    pub treated: GroupOutcome,
    pub holdout: GroupOutcome,
    /// Of the treated alerts, those a person acknowledged or resolved.
    pub acted_on: u64,
    /// Alerts whose goal window is still open (not counted yet).
    pub pending: u64,
    /// Treated rate minus holdout rate, in percentage points, with its 95 % interval.
    pub lift_points: Option<f64>,
    pub lift_interval: Option<(f64, f64)>,
    pub verdict: OutcomeVerdict,
    /// The verdict in plain language, figures included.
    pub summary: String,
}

/// Most days a backtest replays.
pub const MAX_BACKTEST_DAYS: u32 = 90;
/// Alerts a backtest shows as examples.
pub const BACKTEST_SAMPLE: usize = 20;

/// "Try on history": a rule (saved or not) and how many days back to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestRequest {
    pub rule: Rule,
    #[serde(default = "default_backtest_days")]
    pub days: u32,
}

pub fn default_backtest_days() -> u32 {
    30
}

/// Alerts the rule would have raised on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestDay {
    pub day: chrono::DateTime<chrono::Utc>,
    pub alerts: u64,
}

/// One alert the rule would have raised, as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestAlert {
    pub customer_id: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub message: String,
    pub triggering: Vec<super::AlertEvent>,
}

/// What a rule would have raised over the replayed days: nothing is raised by a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    pub rule_id: String,
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    pub alerts: u64,
    /// Customers with at least one alert.
    pub customers: u64,
    /// Every day of the range, oldest first (days without alerts included, at 0).
    pub per_day: Vec<BacktestDay>,
    /// The newest alerts, at most [`BACKTEST_SAMPLE`].
    pub sample: Vec<BacktestAlert>,
    /// With a goal: of the alerts whose goal window ended inside the range, how many
    /// customers reached it.
    pub goal: Option<GroupOutcome>,
}
