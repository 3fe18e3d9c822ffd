//! Rules (for customer-success managers): every rule with a switch, and an editor for each
//! rule type of the live engine. The editor is a form of plain fields; [`RuleForm::to_rule`]
//! turns it into the rule document the server validates (its refusal names the fix).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde_json::{json, Value};

use crate::{
    auth::Role,
    format::duration,
    server_fns::{delete_rule, list_rules, save_rule},
    types::RuleView,
    WithRole,
};

/// Rule types: id, label, what it fires on.
pub const TYPES: [(&str, &str); 8] = [
    ("count", "N of an event within a time"),
    ("sequence", "Steps in order within a time"),
    ("absence", "An event not followed by another"),
    ("inactivity", "No activity for a time"),
    ("off_path", "Leaving the journey's expected path"),
    ("conversion", "All customers: a step's conversion crosses a threshold"),
    ("volume", "All customers: an event's count crosses a threshold"),
    ("volume_dip", "All customers: an event's count dips below its baseline"),
];

/// The editor's fields, as typed; which ones matter depends on `kind`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleForm {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub cooldown_seconds: String,
    pub kind: String,
    /// count, volume, volume_dip: the event; absence: `after`; conversion: `from`.
    pub event: String,
    /// sequence: the steps; absence: the missing events (comma-separated).
    pub events: String,
    /// conversion: `to`.
    pub to: String,
    pub count: String,
    pub within_seconds: String,
    pub window_seconds: String,
    /// sequence: then none of these for `absent_seconds`.
    pub absent_events: String,
    pub absent_seconds: String,
    pub journey: String,
    pub below: String,
    pub above: String,
    pub min_sample: String,
    pub baseline_windows: String,
    pub drop_percent: String,
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

impl RuleForm {
    /// A new rule of the most common kind.
    pub fn new_rule() -> Self {
        RuleForm {
            enabled: true,
            cooldown_seconds: "3600".into(),
            kind: "count".into(),
            journey: "default".into(),
            ..Default::default()
        }
    }

    /// The form for an existing rule.
    pub fn from_rule(rule: &RuleView) -> Self {
        let c = &rule.condition;
        let field = |key: &str| text_of(&c[key]);
        let kind = field("type");
        let (event, events) = match kind.as_str() {
            "sequence" => (String::new(), field("steps")),
            "absence" => (field("after"), field("missing")),
            "conversion" => (field("from"), String::new()),
            _ => (field("event"), String::new()),
        };
        let (below, above) = match kind.as_str() {
            "conversion" => (field("below_percent"), field("above_percent")),
            _ => (field("below"), field("above")),
        };
        RuleForm {
            id: rule.id.clone(),
            name: rule.name.clone(),
            enabled: rule.enabled,
            cooldown_seconds: rule.cooldown_seconds.to_string(),
            event,
            events,
            to: field("to"),
            count: field("count"),
            within_seconds: if kind == "inactivity" { field("for_seconds") } else { field("within_seconds") },
            window_seconds: field("window_seconds"),
            absent_events: text_of(&c["then_absent"]["events"]),
            absent_seconds: text_of(&c["then_absent"]["for_seconds"]),
            journey: field("journey"),
            below,
            above,
            min_sample: if kind == "volume_dip" { field("min_baseline") } else { field("min_sample") },
            baseline_windows: field("baseline_windows"),
            drop_percent: field("drop_percent"),
            kind,
        }
    }

    /// The rule document; a number that is not one is named with its field.
    pub fn to_rule(&self) -> Result<RuleView, String> {
        let number = |label: &str, text: &str| -> Result<Option<f64>, String> {
            let t = text.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>().map(Some).map_err(|_| format!("{label} must be a number, got {t:?}"))
        };
        let required = |label: &str, text: &str| -> Result<f64, String> {
            number(label, text)?.ok_or_else(|| format!("{label} is needed"))
        };
        let int = |v: f64| json!(v.round() as i64);
        let optional = |v: Option<f64>| v.map_or(Value::Null, |v| json!(v));
        let condition = match self.kind.as_str() {
            "count" => json!({ "type": "count", "event": self.event.trim(),
                "count": int(required("Count", &self.count)?), "within_seconds": int(required("Within", &self.within_seconds)?) }),
            "sequence" => {
                let mut c = json!({ "type": "sequence", "steps": list(&self.events),
                    "within_seconds": int(required("Within", &self.within_seconds)?) });
                if !list(&self.absent_events).is_empty() {
                    c["then_absent"] = json!({ "events": list(&self.absent_events),
                        "for_seconds": int(required("Then none for", &self.absent_seconds)?) });
                }
                c
            }
            "absence" => json!({ "type": "absence", "after": self.event.trim(), "missing": list(&self.events),
                "within_seconds": int(required("Within", &self.within_seconds)?) }),
            "inactivity" => json!({ "type": "inactivity", "for_seconds": int(required("For", &self.within_seconds)?) }),
            "off_path" => json!({ "type": "off_path", "journey": self.journey.trim() }),
            "conversion" => json!({ "type": "conversion", "from": self.event.trim(), "to": self.to.trim(),
                "within_seconds": int(required("Within", &self.within_seconds)?),
                "window_seconds": int(required("Over the last", &self.window_seconds)?),
                "below_percent": optional(number("Below %", &self.below)?),
                "above_percent": optional(number("Above %", &self.above)?),
                "min_sample": int(number("Minimum sample", &self.min_sample)?.unwrap_or(20.0)) }),
            "volume" => json!({ "type": "volume", "event": self.event.trim(),
                "window_seconds": int(required("Over the last", &self.window_seconds)?),
                "below": number("Below", &self.below)?.map_or(Value::Null, int),
                "above": number("Above", &self.above)?.map_or(Value::Null, int) }),
            "volume_dip" => json!({ "type": "volume_dip", "event": self.event.trim(),
                "window_seconds": int(required("Over the last", &self.window_seconds)?),
                "baseline_windows": int(number("Baseline windows", &self.baseline_windows)?.unwrap_or(24.0)),
                "drop_percent": required("Drop %", &self.drop_percent)?,
                "min_baseline": int(number("Minimum baseline", &self.min_sample)?.unwrap_or(20.0)) }),
            other => return Err(format!("unknown rule type {other:?}")),
        };
        // Fields left empty are left out, so the server's defaults apply.
        let condition = match condition {
            Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect()),
            other => other,
        };
        Ok(RuleView {
            id: self.id.trim().to_string(),
            name: self.name.trim().to_string(),
            enabled: self.enabled,
            condition,
            cooldown_seconds: number("Cooldown", &self.cooldown_seconds)?.map_or(3_600, |v| v.round() as i64),
        })
    }
}

/// One line saying what a rule watches for.
pub fn summary(rule: &RuleView) -> String {
    let c = &rule.condition;
    let s = |key: &str| text_of(&c[key]);
    let secs = |key: &str| c[key].as_f64().map(duration).unwrap_or_default();
    match s("type").as_str() {
        "count" => format!("{} × {} within {}", s("count"), s("event"), secs("within_seconds")),
        "sequence" => format!("{} within {}", s("steps").replace(", ", " → "), secs("within_seconds")),
        "absence" => format!("{}, then no {} within {}", s("after"), s("missing"), secs("within_seconds")),
        "inactivity" => format!("no activity for {}", secs("for_seconds")),
        "off_path" => format!("leaves the {} journey's expected path", s("journey")),
        "conversion" => format!("{} → {} conversion over {}", s("from"), s("to"), secs("window_seconds")),
        "volume" => format!("{} count over {}", s("event"), secs("window_seconds")),
        "volume_dip" => format!("{} dips {}% below its baseline", s("event"), s("drop_percent")),
        other => other.to_string(),
    }
}

#[component]
pub fn RulesPage() -> impl IntoView {
    let query = use_query_map();
    let editing = move || query.read().get("edit").filter(|e| !e.is_empty());
    let version = RwSignal::new(0u32);
    let rules = Resource::new(move || version.get(), |_| list_rules());
    let save = Action::new(|rule: &RuleView| save_rule(rule.clone()));
    let remove = Action::new(|id: &String| delete_rule(id.clone()));
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(()))) || matches!(remove.value().get(), Some(Ok(()))) {
            version.update(|v| *v += 1);
        }
    });
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
                    <p class="lede">"What the live engine watches for. Alerts go to the " <a href="/alerts">"inbox"</a> "."</p>
                </div>
                <div class="toolbar">
                    <WithRole at_least=Role::Analyst>
                        <a class="button" href="/rules?edit=new" data-testid="new-rule">"New rule"</a>
                    </WithRole>
                </div>
            </header>
            {move || error().map(|e| view! { <p class="error-state" role="alert" data-testid="rule-error">{e}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading rules…"</p> }>
                {move || Suspend::new(async move {
                    match rules.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(list) => {
                            let editor = editing().map(|id| {
                                let form = if id == "new" {
                                    RuleForm::new_rule()
                                } else {
                                    list.iter().find(|r| r.id == id).map(RuleForm::from_rule).unwrap_or_else(RuleForm::new_rule)
                                };
                                view! { <Editor form save /> }
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
                                            let flipped = RuleView { enabled: !rule.enabled, ..rule.clone() };
                                            let id = rule.id.clone();
                                            let enabled = rule.enabled;
                                            let edit_href = format!("/rules?edit={}", rule.id);
                                            view! {
                                                <tr data-rule=rule.id.clone()>
                                                    <td><strong>{rule.name.clone()}</strong><br /><code class="customer">{rule.id.clone()}</code></td>
                                                    <td>{summary(&rule)}</td>
                                                    <td class="num">{duration(rule.cooldown_seconds as f64)}</td>
                                                    <td>
                                                        <WithRole at_least=Role::Analyst otherwise=move || if enabled { "On" } else { "Off" }>
                                                            <button
                                                                class="button"
                                                                aria-pressed=enabled.to_string()
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
                                                            <a href=edit_href.clone()>"Edit"</a>
                                                            " "
                                                            <button class="link-button" on:click={
                                                                let id = id.clone();
                                                                move |_| { remove.dispatch(id.clone()); }
                                                            }>"Delete"</button>
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

/// The editor: the fields of the chosen type.
#[component]
fn Editor(form: RuleForm, save: Action<RuleView, Result<(), crate::error::AppError>>) -> impl IntoView {
    let is_new = form.id.is_empty();
    let state = RwSignal::new(form);
    let local_error = RwSignal::new(None::<String>);
    let kind = move || state.with(|f| f.kind.clone());
    // A text input bound to one field of the form.
    let field = move |label: &'static str,
                      hint: &'static str,
                      get: fn(&RuleForm) -> &String,
                      set: fn(&mut RuleForm, String)| {
        view! {
            <label>
                {label}
                <input
                    prop:value=move || state.with(|f| get(f).clone())
                    on:input=move |ev| state.update(|f| set(f, event_target_value(&ev)))
                    placeholder=hint
                    data-field=label
                />
            </label>
        }
    };
    let shows = move |kinds: &'static [&'static str]| move || kinds.contains(&kind().as_str());
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);
    view! {
        <form
            class="builder rule-editor"
            data-testid="rule-editor"
            data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
            on:submit=move |ev| {
                ev.prevent_default();
                match state.with_untracked(RuleForm::to_rule) {
                    Ok(rule) => {
                        local_error.set(None);
                        save.dispatch(rule);
                    }
                    Err(e) => local_error.set(Some(e)),
                }
            }
        >
            <h2 class="wide">{if is_new { "New rule" } else { "Edit rule" }}</h2>
            {field("Id", "e.g. cart-abandoned", |f| &f.id, |f, v| f.id = v)}
            {field("Name", "what the inbox shows", |f| &f.name, |f, v| f.name = v)}
            <label>
                "Type"
                <select
                    on:change=move |ev| state.update(|f| f.kind = event_target_value(&ev))
                    prop:value=kind
                    data-field="Type"
                >
                    {TYPES.iter().map(|(id, label)| view! { <option value=*id>{*label}</option> }).collect_view()}
                </select>
            </label>
            <Show when=shows(&["count", "volume", "volume_dip", "absence", "conversion"])>
                {field("Event", "e.g. product_viewed or name[key=value]", |f| &f.event, |f, v| f.event = v)}
            </Show>
            <Show when=shows(&["sequence", "absence"])>
                {field("Events (comma-separated)", "sequence: the steps; absence: the missing events", |f| &f.events, |f, v| f.events = v)}
            </Show>
            <Show when=shows(&["conversion"])>
                {field("To", "e.g. purchase_completed", |f| &f.to, |f, v| f.to = v)}
            </Show>
            <Show when=shows(&["count"])>
                {field("Count", "e.g. 3", |f| &f.count, |f, v| f.count = v)}
            </Show>
            <Show when=shows(&["count", "sequence", "absence", "inactivity", "conversion"])>
                {field("Within (seconds)", "e.g. 300 for 5 minutes", |f| &f.within_seconds, |f, v| f.within_seconds = v)}
            </Show>
            <Show when=shows(&["conversion", "volume", "volume_dip"])>
                {field("Over the last (seconds)", "e.g. 3600", |f| &f.window_seconds, |f, v| f.window_seconds = v)}
            </Show>
            <Show when=shows(&["sequence"])>
                {field("Then none of (comma-separated)", "optional", |f| &f.absent_events, |f, v| f.absent_events = v)}
                {field("Then none for (seconds)", "e.g. 259200 for 3 days", |f| &f.absent_seconds, |f, v| f.absent_seconds = v)}
            </Show>
            <Show when=shows(&["off_path"])>
                {field("Journey", "default", |f| &f.journey, |f, v| f.journey = v)}
            </Show>
            <Show when=shows(&["conversion", "volume"])>
                {field("Below", "alert under this", |f| &f.below, |f, v| f.below = v)}
                {field("Above", "alert over this", |f| &f.above, |f, v| f.above = v)}
            </Show>
            <Show when=shows(&["conversion", "volume_dip"])>
                {field("Minimum sample", "default 20", |f| &f.min_sample, |f, v| f.min_sample = v)}
            </Show>
            <Show when=shows(&["volume_dip"])>
                {field("Drop %", "e.g. 50", |f| &f.drop_percent, |f, v| f.drop_percent = v)}
                {field("Baseline windows", "default 24", |f| &f.baseline_windows, |f, v| f.baseline_windows = v)}
            </Show>
            {field("Cooldown (seconds)", "default 3600", |f| &f.cooldown_seconds, |f, v| f.cooldown_seconds = v)}
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || state.with(|f| f.enabled)
                    on:change=move |ev| state.update(|f| f.enabled = event_target_checked(&ev))
                />
                " On"
            </label>
            <WithRole at_least=Role::Analyst>
                <button class="button" type="submit" data-testid="save-rule">"Save rule"</button>
            </WithRole>
            <a href="/rules">"Close"</a>
            {move || local_error.get().map(|e| view! { <p class="error-state wide" role="alert">{e}</p> })}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(condition: Value) {
        let rule = RuleView { id: "r".into(), name: "R".into(), enabled: true, condition, cooldown_seconds: 60 };
        assert_eq!(RuleForm::from_rule(&rule).to_rule().unwrap(), rule);
    }

    #[test]
    fn every_rule_type_round_trips_through_the_form() {
        round_trip(json!({ "type": "count", "event": "product_viewed", "count": 3, "within_seconds": 300 }));
        round_trip(
            json!({ "type": "sequence", "steps": ["payment_failed", "support_ticket_created"], "within_seconds": 86400,
            "then_absent": { "events": ["purchase_completed"], "for_seconds": 259200 } }),
        );
        round_trip(json!({ "type": "sequence", "steps": ["a", "b"], "within_seconds": 60 }));
        round_trip(
            json!({ "type": "absence", "after": "added_to_cart", "missing": ["purchase_completed"], "within_seconds": 3600 }),
        );
        round_trip(json!({ "type": "inactivity", "for_seconds": 1209600 }));
        round_trip(json!({ "type": "off_path", "journey": "default" }));
        round_trip(json!({ "type": "conversion", "from": "checkout_started", "to": "purchase_completed",
            "within_seconds": 3600, "window_seconds": 21600, "below_percent": 30.0, "min_sample": 20 }));
        round_trip(json!({ "type": "volume", "event": "search", "window_seconds": 60, "above": 100 }));
        round_trip(json!({ "type": "volume_dip", "event": "purchase_completed", "window_seconds": 3600,
            "baseline_windows": 24, "drop_percent": 50.0, "min_baseline": 20 }));
    }

    #[test]
    fn a_number_that_is_not_one_is_named() {
        let form = RuleForm {
            kind: "count".into(),
            count: "three".into(),
            within_seconds: "60".into(),
            ..RuleForm::new_rule()
        };
        assert_eq!(form.to_rule().unwrap_err(), "Count must be a number, got \"three\"");
        let form = RuleForm { kind: "count".into(), count: "3".into(), ..RuleForm::new_rule() };
        assert_eq!(form.to_rule().unwrap_err(), "Within is needed");
    }

    #[test]
    fn summaries_say_what_a_rule_watches() {
        let rule = |condition: Value| RuleView {
            id: "r".into(),
            name: "R".into(),
            enabled: true,
            condition,
            cooldown_seconds: 0,
        };
        assert_eq!(
            summary(&rule(json!({ "type": "count", "event": "product_viewed", "count": 3, "within_seconds": 300 }))),
            "3 × product_viewed within 5 min"
        );
        assert_eq!(
            summary(&rule(json!({ "type": "sequence", "steps": ["a", "b"], "within_seconds": 7200 }))),
            "a → b within 2.0 h"
        );
    }
}
