//! Rules (for customer-success managers): every rule with a switch, and an editor for each
//! rule type of the rule engine. The editor edits a [`Rule`] and its [`Condition`] directly:
//! each field of the form reads and writes one field of the condition ([`FIELDS`]), so the
//! rule the server validates (its refusal names the fix) is the one on screen.

use std::{collections::BTreeMap, str::FromStr};

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    auth::Role,
    format::{parse_span, span},
    server_fns::{backtest_rule, delete_rule, list_rules, load_rule_outcomes, save_rule},
    types::{
        default_cooldown, Absent, BacktestResult, Condition, Goal, OutcomeVerdict, Rule, Suppression,
        MAX_HOLDOUT_PERCENT,
    },
    WithRole,
};

/// Days of history "Try" replays.
const BACKTEST_DAYS: u32 = 30;

/// What a rule would have raised over the last days: alerts per day as bars, the customers,
/// the goal rate, and the newest alerts with the events that met the rule.
#[component]
fn Tried(result: BacktestResult) -> impl IntoView {
    let busiest = result.per_day.iter().map(|d| d.alerts).max().unwrap_or(0).max(1);
    let per_day = result.per_day.len().max(1);
    let (width, height) = (600.0, 80.0);
    let bar = width / per_day as f64;
    let bars = result
        .per_day
        .iter()
        .enumerate()
        .map(|(i, day)| {
            let h = (day.alerts as f64 / busiest as f64 * (height - 4.0)).max(if day.alerts > 0 { 2.0 } else { 0.0 });
            let label = format!("{}: {}", day.day.format("%b %d"), crate::format::counted(day.alerts, "alert", "alerts"));
            view! {
                <rect x=format!("{:.1}", i as f64 * bar + 1.0) y=format!("{:.1}", height - h) width=format!("{:.1}", (bar - 2.0).max(1.0)) height=format!("{h:.1}") class="bar">
                    <title>{label}</title>
                </rect>
            }
        })
        .collect_view();
    let goal = result.goal.clone().map(|g| {
        let rate = g.rate.map_or_else(|| "—".to_string(), crate::format::percent);
        format!(
            "Of the {} alerts whose goal window ended, {} reached the goal ({rate}) — without any action taken: the baseline a holdout compares with.",
            crate::format::count(g.alerts),
            crate::format::count(g.reached)
        )
    });
    let sample = result
        .sample
        .iter()
        .map(|alert| {
            let events = alert.triggering.iter().filter_map(|e| e.event.clone()).collect::<Vec<_>>().join(" → ");
            view! {
                <tr>
                    <td><a href=format!("/customers/{}", crate::pages::journey_map::encode(&alert.customer_id))>{alert.customer_id.clone()}</a></td>
                    <td>{alert.occurred_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                    <td>{alert.message.clone()}</td>
                    <td>{events}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="wide tried" data-testid="tried">
            <p data-testid="tried-summary">
                <strong>{format!(
                    "Would have raised {} for {} over the last {} days",
                    crate::format::counted(result.alerts, "alert", "alerts"),
                    crate::format::counted(result.customers, "customer", "customers"),
                    result.per_day.len().saturating_sub(1).max(1)
                )}</strong>
                " (nothing was raised)."
            </p>
            <svg viewBox=format!("0 0 {width} {height}") class="tried-days" role="img" aria-label="Alerts per day">{bars}</svg>
            {goal.map(|g| view! { <p class="map-legend" data-testid="tried-goal">{g}</p> })}
            {(!result.sample.is_empty()).then(|| view! {
                <table class="event-table">
                    <thead><tr><th scope="col">"customer"</th><th scope="col">"met at"</th><th scope="col">"why"</th><th scope="col">"events"</th></tr></thead>
                    <tbody>{sample}</tbody>
                </table>
            })}
        </div>
    }
}

/// Whether acting on a rule's alerts helped, read when the list is drawn: the verdict in a
/// sentence, with the goal rate of the treated and the held-out customers.
#[component]
fn Outcome(id: String) -> impl IntoView {
    let outcome = Resource::new(move || id.clone(), load_rule_outcomes);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                outcome.await.ok().map(|o| {
                    let class = match o.verdict {
                        OutcomeVerdict::Helped => "notice",
                        OutcomeVerdict::Hurt => "error-state",
                        _ => "map-legend",
                    };
                    let rates = |g: &crate::types::GroupOutcome| match g.rate {
                        Some(rate) => format!("{} of {}", crate::format::percent(rate), crate::format::count(g.alerts)),
                        None => "none yet".to_string(),
                    };
                    let figures = format!(
                        "Reached the goal: treated {}, held out {}; {} still inside their window.",
                        rates(&o.treated),
                        rates(&o.holdout),
                        crate::format::count(o.pending)
                    );
                    view! {
                        <p class=class data-testid="rule-outcome" data-verdict=format!("{:?}", o.verdict)>{o.summary}</p>
                        <p class="map-legend">{figures}</p>
                    }
                })
            })}
        </Transition>
    }
}

/// A new rule of the most common kind.
pub fn new_rule() -> Rule {
    Rule {
        id: String::new(),
        name: String::new(),
        enabled: true,
        condition: Condition::Count { event: String::new(), count: 3, within_seconds: 300 },
        cooldown_seconds: default_cooldown(),
        playbook: None,
        suppressed_by: None,
        identified_only: false,
        goal: None,
        holdout_percent: 0,
    }
}

/// One field of the editor: its label, a hint, and how it reads and writes the condition.
pub struct Field {
    pub label: &'static str,
    pub hint: &'static str,
    /// The field's text for this condition; `None` when this type of condition has no such field.
    pub read: fn(&Condition) -> Option<String>,
    /// Sets the field from what was typed; the error names the field and what it wants.
    pub write: fn(&mut Condition, &str) -> Result<(), String>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A number typed into `label`.
fn number<T: FromStr>(label: &str, text: &str) -> Result<T, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{label} is needed"));
    }
    t.parse().map_err(|_| format!("{label} must be a number, got {t:?}"))
}

/// A number typed into `label`, or none when left empty.
fn optional<T: FromStr>(label: &str, text: &str) -> Result<Option<T>, String> {
    if text.trim().is_empty() {
        Ok(None)
    } else {
        number(label, text).map(Some)
    }
}

/// Whether the field named `label` holds event names (and so offers the names seen).
fn picks_events(label: &str) -> bool {
    matches!(label, "Event" | "Events (comma-separated)" | "To" | "Then none of (comma-separated)")
}

/// A time typed into `label`, with its unit ([`parse_span`]).
fn time(label: &str, text: &str) -> Result<i64, String> {
    if text.trim().is_empty() {
        return Err(format!("{label} is needed"));
    }
    parse_span(text).map_err(|e| format!("{label}: {e}"))
}

fn shown<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(T::to_string).unwrap_or_default()
}

/// The condition fields the editor offers, each shown for the types that have it.
pub const FIELDS: [Field; 13] = [
    Field {
        label: "Event",
        hint: "e.g. product_viewed or name[key=value]",
        read: |c| match c {
            Condition::Count { event, .. } | Condition::Volume { event, .. } | Condition::VolumeDip { event, .. } => {
                Some(event.clone())
            }
            Condition::Absence { after, .. } => Some(after.clone()),
            Condition::Conversion { from, .. } => Some(from.clone()),
            _ => None,
        },
        write: |c, text| {
            match c {
                Condition::Count { event, .. }
                | Condition::Volume { event, .. }
                | Condition::VolumeDip { event, .. }
                | Condition::Absence { after: event, .. }
                | Condition::Conversion { from: event, .. } => *event = text.trim().to_string(),
                _ => {}
            }
            Ok(())
        },
    },
    Field {
        label: "Events (comma-separated)",
        hint: "sequence: the steps; absence: the missing events",
        read: |c| match c {
            Condition::Sequence { steps: events, .. } | Condition::Absence { missing: events, .. } => {
                Some(events.join(", "))
            }
            _ => None,
        },
        write: |c, text| {
            if let Condition::Sequence { steps: events, .. } | Condition::Absence { missing: events, .. } = c {
                *events = list(text);
            }
            Ok(())
        },
    },
    Field {
        label: "To",
        hint: "e.g. purchase_completed",
        read: |c| match c {
            Condition::Conversion { to, .. } => Some(to.clone()),
            _ => None,
        },
        write: |c, text| {
            if let Condition::Conversion { to, .. } = c {
                *to = text.trim().to_string();
            }
            Ok(())
        },
    },
    Field {
        label: "Count",
        hint: "e.g. 3",
        read: |c| match c {
            Condition::Count { count, .. } => Some(count.to_string()),
            _ => None,
        },
        write: |c, text| {
            if let Condition::Count { count, .. } = c {
                *count = number("Count", text)?;
            }
            Ok(())
        },
    },
    Field {
        label: "Within",
        hint: "e.g. 5 min, 1 h, 3 d",
        read: |c| match c {
            Condition::Count { within_seconds, .. }
            | Condition::Sequence { within_seconds, .. }
            | Condition::Absence { within_seconds, .. }
            | Condition::Conversion { within_seconds, .. }
            | Condition::Inactivity { for_seconds: within_seconds } => Some(span(*within_seconds)),
            _ => None,
        },
        write: |c, text| {
            match c {
                Condition::Count { within_seconds, .. }
                | Condition::Sequence { within_seconds, .. }
                | Condition::Absence { within_seconds, .. }
                | Condition::Conversion { within_seconds, .. }
                | Condition::Inactivity { for_seconds: within_seconds } => *within_seconds = time("Within", text)?,
                _ => {}
            }
            Ok(())
        },
    },
    Field {
        label: "Over the last",
        hint: "e.g. 1 h, 6 h, 1 d",
        read: |c| match c {
            Condition::Conversion { window_seconds, .. }
            | Condition::Volume { window_seconds, .. }
            | Condition::VolumeDip { window_seconds, .. } => Some(span(*window_seconds)),
            _ => None,
        },
        write: |c, text| {
            match c {
                Condition::Conversion { window_seconds, .. }
                | Condition::Volume { window_seconds, .. }
                | Condition::VolumeDip { window_seconds, .. } => *window_seconds = time("Over the last", text)?,
                _ => {}
            }
            Ok(())
        },
    },
    Field {
        label: "Then none of (comma-separated)",
        hint: "optional",
        read: |c| match c {
            Condition::Sequence { then_absent, .. } => {
                Some(then_absent.as_ref().map(|a| a.events.join(", ")).unwrap_or_default())
            }
            _ => None,
        },
        write: |c, text| {
            if let Condition::Sequence { then_absent, .. } = c {
                let for_seconds = then_absent.as_ref().map_or(0, |a| a.for_seconds);
                let events = list(text);
                *then_absent = (!events.is_empty()).then_some(Absent { events, for_seconds });
            }
            Ok(())
        },
    },
    Field {
        label: "Then none for",
        hint: "e.g. 3 d",
        read: |c| match c {
            Condition::Sequence { then_absent, .. } => {
                Some(then_absent.as_ref().map(|a| span(a.for_seconds)).unwrap_or_default())
            }
            _ => None,
        },
        write: |c, text| {
            if let Condition::Sequence { then_absent: Some(absent), .. } = c {
                absent.for_seconds = time("Then none for", text)?;
            }
            Ok(())
        },
    },
    Field {
        label: "Journey",
        hint: "default",
        read: |c| match c {
            Condition::OffPath { journey } => Some(journey.clone()),
            _ => None,
        },
        write: |c, text| {
            if let Condition::OffPath { journey } = c {
                *journey = text.trim().to_string();
            }
            Ok(())
        },
    },
    Field {
        label: "Below",
        hint: "alert under this",
        read: |c| match c {
            Condition::Conversion { below_percent, .. } => Some(shown(below_percent)),
            Condition::Volume { below, .. } => Some(shown(below)),
            _ => None,
        },
        write: |c, text| {
            match c {
                Condition::Conversion { below_percent, .. } => *below_percent = optional("Below", text)?,
                Condition::Volume { below, .. } => *below = optional("Below", text)?,
                _ => {}
            }
            Ok(())
        },
    },
    Field {
        label: "Above",
        hint: "alert over this",
        read: |c| match c {
            Condition::Conversion { above_percent, .. } => Some(shown(above_percent)),
            Condition::Volume { above, .. } => Some(shown(above)),
            _ => None,
        },
        write: |c, text| {
            match c {
                Condition::Conversion { above_percent, .. } => *above_percent = optional("Above", text)?,
                Condition::Volume { above, .. } => *above = optional("Above", text)?,
                _ => {}
            }
            Ok(())
        },
    },
    Field {
        label: "Minimum sample",
        hint: "default 20",
        read: |c| match c {
            Condition::Conversion { min_sample, .. } | Condition::VolumeDip { min_baseline: min_sample, .. } => {
                Some(min_sample.to_string())
            }
            _ => None,
        },
        write: |c, text| {
            if let Condition::Conversion { min_sample, .. } | Condition::VolumeDip { min_baseline: min_sample, .. } = c
            {
                *min_sample = optional("Minimum sample", text)?.unwrap_or_else(crate::types::default_min_sample);
            }
            Ok(())
        },
    },
    Field {
        label: "Drop %",
        hint: "e.g. 50",
        read: |c| match c {
            Condition::VolumeDip { drop_percent, .. } => Some(drop_percent.to_string()),
            _ => None,
        },
        write: |c, text| {
            if let Condition::VolumeDip { drop_percent, .. } = c {
                *drop_percent = number("Drop %", text)?;
            }
            Ok(())
        },
    },
];

/// The editor's fields of the rule itself, kept (with what was typed) when the type changes.
const RULE_FIELDS: [&str; 6] =
    ["Not if they did (comma-separated)", "In the last", "Cooldown", "Goal", "Goal within", "Hold out (%)"];

/// The baseline windows of a volume dip (a field of its own only for that type).
const BASELINE_WINDOWS: Field = Field {
    label: "Baseline windows",
    hint: "default 24",
    read: |c| match c {
        Condition::VolumeDip { baseline_windows, .. } => Some(baseline_windows.to_string()),
        _ => None,
    },
    write: |c, text| {
        if let Condition::VolumeDip { baseline_windows, .. } = c {
            *baseline_windows =
                optional("Baseline windows", text)?.unwrap_or_else(crate::types::default_baseline_windows);
        }
        Ok(())
    },
};

/// `, below X`, `, above Y` or both, for an aggregate rule's summary.
fn thresholds(below: Option<String>, above: Option<String>) -> String {
    let parts: Vec<String> =
        [below.map(|b| format!("below {b}")), above.map(|a| format!("above {a}"))].into_iter().flatten().collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(", {}", parts.join(" or "))
    }
}

/// One line saying what a rule watches for.
pub fn summary(rule: &Rule) -> String {
    let secs = span;
    let unless = rule
        .suppressed_by
        .as_ref()
        .map(|s| format!(", unless {} in the last {}", s.events.join(" or "), span(s.within_seconds)))
        .unwrap_or_default()
        + if rule.identified_only { ", signed-in customers only" } else { "" };
    let watches = match &rule.condition {
        Condition::Count { event, count, within_seconds } => {
            format!("{count} × {event} within {}", secs(*within_seconds))
        }
        Condition::Sequence { steps, within_seconds, .. } => {
            format!("{} within {}", steps.join(" → "), secs(*within_seconds))
        }
        Condition::Absence { after, missing, within_seconds } => {
            format!("{after}, then no {} within {}", missing.join(", "), secs(*within_seconds))
        }
        Condition::Inactivity { for_seconds } => format!("no activity for {}", secs(*for_seconds)),
        Condition::OffPath { journey } => format!("leaves the {journey} journey's expected path"),
        Condition::Conversion { from, to, window_seconds, below_percent, above_percent, .. } => format!(
            "{from} → {to} conversion over {}{}",
            secs(*window_seconds),
            thresholds(below_percent.map(|p| format!("{p} %")), above_percent.map(|p| format!("{p} %")))
        ),
        Condition::Volume { event, window_seconds, below, above } => format!(
            "{event} count over {}{}",
            secs(*window_seconds),
            thresholds(below.map(|n| n.to_string()), above.map(|n| n.to_string()))
        ),
        Condition::VolumeDip { event, drop_percent, .. } => format!("{event} dips {drop_percent}% below its baseline"),
    };
    let goal = rule.goal.as_ref().map_or(String::new(), |g| {
        let held =
            if rule.holdout_percent > 0 { format!(", {} % held out", rule.holdout_percent) } else { String::new() };
        format!("; goal: {} within {}{held}", g.event, span(g.within_seconds))
    });
    format!("{watches}{unless}{goal}")
}

#[component]
pub fn RulesPage() -> impl IntoView {
    let query = use_query_map();
    let editing = move || query.read().get("edit").filter(|e| !e.is_empty());
    let save = Action::new(|rule: &Rule| save_rule(rule.clone()));
    let remove = Action::new(|id: &String| delete_rule(id.clone()));
    // Read again after every save and every delete, whichever came last.
    let rules = Resource::new(move || (save.version().get(), remove.version().get()), |_| list_rules());
    // The lists the editor's event fields offer; here, not in the editor, which is drawn again
    // each time the list is read.
    let vocabulary = crate::pick::use_vocabulary();
    let may_edit = use_context::<crate::Me>().is_some_and(|me| me.may(Role::Analyst));
    // What the last save did, in words, until the next change.
    let saved =
        move || matches!(save.value().get(), Some(Ok(()))).then_some("Saved; the rule engine uses it from now on.");
    let error = move || {
        save.value()
            .get()
            .and_then(Result::err)
            .or_else(|| remove.value().get().and_then(Result::err))
            .map(|e| e.to_string())
    };

    view! {
        <Title text="Rules" />
        <section class="page rules-page">
            <header class="page-header">
                <div>
                    <h1>"Rules"</h1>
                    <p class="lede">"What the rule engine watches for. Alerts go to the " <a href="/alerts">"inbox"</a> "."</p>
                </div>
                <div class="toolbar">
                    <WithRole at_least=Role::Analyst>
                        <a class="button" href="/rules?edit=new" data-testid="new-rule">"New rule"</a>
                    </WithRole>
                </div>
            </header>
            {move || error().map(|e| view! { <p class="error-state" role="alert" data-testid="rule-error">{e}</p> })}
            <crate::pick::SeenLists vocabulary />
            {move || saved().map(|note| view! { <p class="notice" role="status" data-testid="rule-saved">{note}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading rules…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) => {
                            // Editing is for analysts and admins; a viewer following an
                            // edit link sees the list.
                            let editor = editing().filter(|_| may_edit).map(|id| {
                                let rule = list.iter().find(|r| r.id == id).cloned().unwrap_or_else(new_rule);
                                view! { <Editor rule save /> }
                            });
                            view! {
                                {editor}
                                <table class="event-table" data-testid="rules">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Rule"</th>
                                            <th scope="col">"Watches for"</th>
                                            <th scope="col">"Cooldown"</th>
                                            <th scope="col">"On"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {list.into_iter().map(|rule| {
                                            let flipped = Rule { enabled: !rule.enabled, ..rule.clone() };
                                            let id = rule.id.clone();
                                            let enabled = rule.enabled;
                                            let edit_href = format!("/rules?edit={}", rule.id);
                                            let armed = RwSignal::new(false);
                                            // Every row's buttons name their rule.
                                            let toggle_label = format!("{} rule “{}”", if enabled { "On" } else { "Off" }, rule.name);
                                            let edit_label = format!("Edit rule “{}”", rule.name);
                                            let delete_label = {
                                                let name = rule.name.clone();
                                                move || format!("{} rule “{name}”", if armed.get() { "Confirm delete" } else { "Delete" })
                                            };
                                            view! {
                                                <tr data-rule=rule.id.clone()>
                                                    <td>
                                                        <strong>{rule.name.clone()}</strong><br /><code class="customer">{rule.id.clone()}</code>
                                                        {rule.playbook.clone().map(|p| view! { <p class="map-legend" data-testid="playbook">{format!("Then: {p}")}</p> })}
                                                        {rule.goal.is_some().then(|| view! { <Outcome id=rule.id.clone() /> })}
                                                    </td>
                                                    <td>{summary(&rule)}</td>
                                                    <td class="num">{span(rule.cooldown_seconds)}</td>
                                                    <td>
                                                        <WithRole at_least=Role::Analyst otherwise=move || if enabled { "On" } else { "Off" }>
                                                            <button
                                                                class="button"
                                                                aria-pressed=enabled.to_string()
                                                                aria-label=toggle_label.clone()
                                                                data-testid="toggle"
                                                                on:click={
                                                                    let flipped = flipped.clone();
                                                                    move |_| { save.dispatch(flipped.clone()); }
                                                                }
                                                            >
                                                                {if enabled { "On" } else { "Off" }}
                                                            </button>
                                                        </WithRole>
                                                    </td>
                                                    <td class="row-actions">
                                                        <WithRole at_least=Role::Analyst>
                                                            <a href=edit_href.clone() aria-label=edit_label.clone()>"Edit"</a>
                                                            " "
                                                            // A delete cannot be undone: the first click asks again.
                                                            <button class="link-button" data-testid="delete" aria-label=delete_label.clone() on:click={
                                                                let id = id.clone();
                                                                move |_| {
                                                                    if armed.get_untracked() {
                                                                        remove.dispatch(id.clone());
                                                                    } else {
                                                                        armed.set(true);
                                                                    }
                                                                }
                                                            }>{move || if armed.get() { "Confirm delete" } else { "Delete" }}</button>
                                                        </WithRole>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

/// The editor: the rule on screen, with the fields of its condition's type.
#[component]
fn Editor(rule: Rule, save: Action<Rule, Result<(), crate::error::AppError>>) -> impl IntoView {
    let is_new = rule.id.is_empty();
    let state = RwSignal::new(rule);
    // What was typed into a field that does not read as its value yet, by the field's label.
    let mistakes = RwSignal::new(BTreeMap::<&'static str, String>::new());
    let local_error = RwSignal::new(None::<String>);
    let tried = Action::new(|rule: &Rule| backtest_rule(rule.clone(), BACKTEST_DAYS));
    let kind = move || state.with(|r| r.condition.kind());
    let typed = move |label: &'static str, outcome: Result<(), String>| {
        mistakes.update(|m| match outcome {
            Ok(()) => {
                m.remove(label);
            }
            Err(e) => {
                m.insert(label, e);
            }
        })
    };
    // A text input bound to one field of the rule (not of its condition).
    let rule_field = move |label: &'static str,
                           hint: &'static str,
                           read: fn(&Rule) -> String,
                           write: fn(&mut Rule, &str) -> Result<(), String>| {
        view! {
            <label>
                {label}
                <input
                    prop:value=state.with_untracked(read)
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        let mut outcome = Ok(());
                        // Untracked, as below: redrawing the condition's inputs would drop text
                        // typed there that does not read as a value yet.
                        state.update_untracked(|r| outcome = write(r, &text));
                        typed(label, outcome);
                    }
                    placeholder=hint
                    data-field=label
                />
            </label>
        }
    };
    // The inputs of the condition's fields, drawn afresh when its type changes.
    let condition_fields = move || {
        let condition = state.with(|r| r.condition.clone());
        FIELDS
            .iter()
            .chain(std::iter::once(&BASELINE_WINDOWS))
            .filter_map(|field| {
                let value = (field.read)(&condition)?;
                let (label, write) = (field.label, field.write);
                Some(view! {
                    <label>
                        {label}
                        <input
                            prop:value=value
                            on:input=move |ev| {
                                let text = event_target_value(&ev);
                                let mut outcome = Ok(());
                                // Untracked: typing must not redraw the inputs being typed in.
                                state.update_untracked(|r| outcome = write(&mut r.condition, &text));
                                typed(label, outcome);
                            }
                            placeholder=field.hint
                            list=picks_events(label).then_some(crate::pick::EVENTS)
                            data-field=label
                        />
                    </label>
                })
            })
            .collect_view()
    };
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    view! {
        <form
            class="builder rule-editor"
            data-testid="rule-editor"
            data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
            on:submit=move |ev| {
                ev.prevent_default();
                if let Some(mistake) = mistakes.with_untracked(|m| m.values().next().cloned()) {
                    local_error.set(Some(mistake));
                    return;
                }
                local_error.set(None);
                save.dispatch(state.get_untracked());
            }
        >
            <h2 class="wide">{if is_new { "New rule" } else { "Edit rule" }}</h2>
            // A saved rule keeps its id: a new id would save a copy beside it.
            <label>
                "Id"
                <input
                    prop:value=state.with_untracked(|r| r.id.clone())
                    readonly=!is_new
                    on:input=move |ev| state.update_untracked(|r| r.id = event_target_value(&ev).trim().to_string())
                    placeholder="e.g. cart-abandoned"
                    data-field="Id"
                />
            </label>
            {rule_field("Name", "what the inbox shows", |r| r.name.clone(), |r, text| {
                r.name = text.trim().to_string();
                Ok(())
            })}
            {rule_field("Playbook", "optional: what to do when it fires", |r| r.playbook.clone().unwrap_or_default(), |r, text| {
                r.playbook = Some(text.trim().to_string()).filter(|p| !p.is_empty());
                Ok(())
            })}
            <label>
                "Type"
                <select
                    on:change=move |ev| {
                        let chosen = event_target_value(&ev);
                        mistakes.update(|m| m.retain(|label, _| RULE_FIELDS.contains(label)));
                        state.update(|r| {
                            if let Some(switched) = r.condition.switched_to(&chosen) {
                                r.condition = switched;
                            }
                        });
                    }
                    prop:value=kind
                    data-field="Type"
                >
                    {Condition::KINDS.iter().map(|(id, label)| view! { <option value=*id>{*label}</option> }).collect_view()}
                </select>
            </label>
            {condition_fields}
            {rule_field("Not if they did (comma-separated)", "optional, e.g. purchase_completed", |r| {
                r.suppressed_by.as_ref().map(|s| s.events.join(", ")).unwrap_or_default()
            }, |r, text| {
                let within_seconds = r.suppressed_by.as_ref().map_or(3_600, |s| s.within_seconds);
                let events = list(text);
                r.suppressed_by = (!events.is_empty()).then_some(Suppression { events, within_seconds });
                Ok(())
            })}
            {rule_field("In the last", "e.g. 1 h", |r| {
                span(r.suppressed_by.as_ref().map_or(3_600, |s| s.within_seconds))
            }, |r, text| {
                let seconds = time("In the last", text)?;
                if let Some(suppression) = r.suppressed_by.as_mut() {
                    suppression.within_seconds = seconds;
                }
                Ok(())
            })}
            {rule_field("Cooldown", "default 1 h", |r| span(r.cooldown_seconds), |r, text| {
                r.cooldown_seconds = if text.trim().is_empty() { default_cooldown() } else { time("Cooldown", text)? };
                Ok(())
            })}
            // What acting on the alert should lead to, and a share held out to compare with.
            {rule_field("Goal", "optional, e.g. purchase_completed", |r| {
                r.goal.as_ref().map(|g| g.event.clone()).unwrap_or_default()
            }, |r, text| {
                let within_seconds = r.goal.as_ref().map_or(3 * 86_400, |g| g.within_seconds);
                let event = text.trim().to_string();
                r.goal = (!event.is_empty()).then_some(Goal { event, within_seconds });
                Ok(())
            })}
            {rule_field("Goal within", "e.g. 3 d", |r| span(r.goal.as_ref().map_or(3 * 86_400, |g| g.within_seconds)), |r, text| {
                let seconds = time("Goal within", text)?;
                if let Some(goal) = r.goal.as_mut() {
                    goal.within_seconds = seconds;
                }
                Ok(())
            })}
            {rule_field("Hold out (%)", "0 to 50: customers whose alerts are only recorded", |r| {
                if r.holdout_percent == 0 { String::new() } else { r.holdout_percent.to_string() }
            }, |r, text| {
                let text = text.trim();
                r.holdout_percent = if text.is_empty() {
                    0
                } else {
                    text.trim_end_matches('%').trim().parse().ok().filter(|p| *p <= MAX_HOLDOUT_PERCENT).ok_or_else(|| {
                        format!("Hold out: {text:?} is not a share; write 0 to {MAX_HOLDOUT_PERCENT}, e.g. 20")
                    })?
                };
                Ok(())
            })}
            <label class="check">
                <input
                    type="checkbox"
                    data-testid="identified-only"
                    prop:checked=move || state.with(|r| r.identified_only)
                    on:change=move |ev| state.update_untracked(|r| r.identified_only = event_target_checked(&ev))
                />
                " Only customers who identified themselves (someone you can contact)"
            </label>
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || state.with(|r| r.enabled)
                    on:change=move |ev| state.update_untracked(|r| r.enabled = event_target_checked(&ev))
                />
                " On"
            </label>
            <WithRole at_least=Role::Analyst>
                <button class="button" type="submit" data-testid="save-rule">"Save rule"</button>
                <button
                    class="button"
                    type="button"
                    data-testid="try-rule"
                    on:click=move |_| {
                        if let Some(mistake) = mistakes.with_untracked(|m| m.values().next().cloned()) {
                            local_error.set(Some(mistake));
                            return;
                        }
                        local_error.set(None);
                        tried.dispatch(state.get_untracked());
                    }
                >
                    {move || if tried.pending().get() { "Trying…" } else { "Try on the last 30 days" }}
                </button>
            </WithRole>
            <a href="/rules">"Close"</a>
            {move || tried.value().get().map(|answer| match answer {
                Ok(result) => view! { <Tried result /> }.into_any(),
                Err(e) => view! { <p class="error-state wide" role="alert" data-testid="try-error">{e.to_string()}</p> }.into_any(),
            })}
            {move || local_error.get().map(|e| view! { <p class="error-state wide" role="alert">{e}</p> })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checkout-to-purchase conversion below 30 % over 6 h.
    fn checkout_conversion() -> Condition {
        Condition::Conversion {
            from: "checkout_started".into(),
            to: "purchase_completed".into(),
            within_seconds: 3_600,
            window_seconds: 21_600,
            below_percent: Some(30.0),
            above_percent: None,
            min_sample: 20,
        }
    }

    fn field(label: &str) -> &'static Field {
        FIELDS.iter().chain(std::iter::once(&BASELINE_WINDOWS)).find(|f| f.label == label).unwrap()
    }

    /// Every field a condition shows, read and written back, leaves it as it was.
    fn round_trip(condition: Condition) {
        let mut edited = condition.clone();
        for f in FIELDS.iter().chain(std::iter::once(&BASELINE_WINDOWS)) {
            if let Some(text) = (f.read)(&condition) {
                (f.write)(&mut edited, &text).unwrap();
            }
        }
        assert_eq!(edited, condition);
    }

    #[test]
    fn every_rule_type_round_trips_through_the_form() {
        let examples = [
            Condition::Count { event: "product_viewed".into(), count: 3, within_seconds: 300 },
            Condition::Sequence {
                steps: vec!["payment_failed".into(), "support_ticket_created".into()],
                within_seconds: 86_400,
                then_absent: Some(Absent { events: vec!["purchase_completed".into()], for_seconds: 259_200 }),
            },
            Condition::Sequence { steps: vec!["a".into(), "b".into()], within_seconds: 60, then_absent: None },
            Condition::Absence {
                after: "added_to_cart".into(),
                missing: vec!["purchase_completed".into()],
                within_seconds: 3_600,
            },
            Condition::Inactivity { for_seconds: 1_209_600 },
            Condition::OffPath { journey: "default".into() },
            checkout_conversion(),
            Condition::Volume { event: "search".into(), window_seconds: 60, above: Some(100), below: None },
            Condition::VolumeDip {
                event: "purchase_completed".into(),
                window_seconds: 3_600,
                baseline_windows: 24,
                drop_percent: 50.0,
                min_baseline: 20,
            },
        ];
        for condition in examples {
            round_trip(condition);
        }
        // Every type the page offers can be switched to, and keeps the event it had.
        let start = Condition::Count { event: "product_viewed".into(), count: 3, within_seconds: 300 };
        for (kind, _) in Condition::KINDS {
            let switched = start.switched_to(kind).unwrap();
            assert_eq!(switched.kind(), kind);
            if let Some(event) = (field("Event").read)(&switched) {
                assert_eq!(event, "product_viewed", "{kind}");
            }
        }
    }

    #[test]
    fn a_number_that_is_not_one_is_named_and_typing_edits_the_condition() {
        let mut condition = Condition::Count { event: "e".into(), count: 3, within_seconds: 60 };
        assert_eq!(
            (field("Count").write)(&mut condition, "three").unwrap_err(),
            "Count must be a number, got \"three\""
        );
        assert_eq!((field("Within").write)(&mut condition, " ").unwrap_err(), "Within is needed");
        assert!((field("Within").write)(&mut condition, "60").unwrap_err().starts_with("Within: \"60\" has no unit"));
        (field("Within").write)(&mut condition, "1 min").unwrap();
        (field("Count").write)(&mut condition, "2").unwrap();
        (field("Event").write)(&mut condition, " product_viewed ").unwrap();
        assert_eq!(condition, Condition::Count { event: "product_viewed".into(), count: 2, within_seconds: 60 });
        // A field of another type leaves the condition alone and is not shown for it.
        assert_eq!((field("Drop %").read)(&condition), None);
        (field("Drop %").write)(&mut condition, "50").unwrap();
        assert_eq!(condition.kind(), "count");
    }

    #[test]
    fn an_optional_threshold_left_empty_is_none() {
        let mut volume = Condition::Volume { event: "e".into(), window_seconds: 60, above: Some(5), below: None };
        (field("Above").write)(&mut volume, "").unwrap();
        (field("Below").write)(&mut volume, "2").unwrap();
        assert_eq!(volume, Condition::Volume { event: "e".into(), window_seconds: 60, above: None, below: Some(2) });
    }

    #[test]
    fn summaries_say_what_a_rule_watches() {
        let rule = |condition: Condition| Rule { condition, cooldown_seconds: 0, ..new_rule() };
        assert_eq!(
            summary(&rule(Condition::Count { event: "product_viewed".into(), count: 3, within_seconds: 300 })),
            "3 × product_viewed within 5 min"
        );
        assert_eq!(
            summary(&rule(Condition::Sequence {
                steps: vec!["a".into(), "b".into()],
                within_seconds: 7_200,
                then_absent: None
            })),
            "a → b within 2 h"
        );
        // Aggregate rules say the threshold they watch.
        assert_eq!(
            summary(&rule(checkout_conversion())),
            "checkout_started → purchase_completed conversion over 6 h, below 30 %"
        );
        let volume = Condition::Volume { event: "search".into(), window_seconds: 60, above: Some(100), below: Some(2) };
        assert_eq!(summary(&rule(volume)), "search count over 1 min, below 2 or above 100");
        let held = Rule {
            suppressed_by: Some(Suppression { events: vec!["purchase_completed".into()], within_seconds: 86_400 }),
            ..rule(Condition::Inactivity { for_seconds: 3_600 })
        };
        assert_eq!(summary(&held), "no activity for 1 h, unless purchase_completed in the last 1 d");
        let measured = Rule {
            goal: Some(Goal { event: "purchase_completed".into(), within_seconds: 3 * 86_400 }),
            holdout_percent: 20,
            ..rule(Condition::Inactivity { for_seconds: 3_600 })
        };
        assert_eq!(summary(&measured), "no activity for 1 h; goal: purchase_completed within 3 d, 20 % held out");
    }
}
