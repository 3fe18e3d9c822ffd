//! Retention (for product owners): of the customers who first did something in a week (or a
//! day), how many came back in each one after — the cohort grid as a heatmap and a table, its
//! average curve, and one curve per channel or per value of a property of the starting event.
//! The question is in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    format::{count, percent},
    server_fns::load_retention,
    types::{RetentionAnswer, RetentionCurve, RetentionParams, TrendPeriod},
};

/// The URL's question, with defaults for what is missing or out of range.
pub fn params_from(get: impl Fn(&str) -> Option<String>) -> RetentionParams {
    let defaults = RetentionParams::default();
    RetentionParams {
        start: get("start").unwrap_or_default(),
        returning: get("return").unwrap_or_default(),
        period: get("period").and_then(|p| TrendPeriod::parse(&p)).unwrap_or(defaults.period),
        periods: get("periods")
            .and_then(|p| p.parse().ok())
            .filter(|p| (1..=60).contains(p))
            .unwrap_or(defaults.periods),
        // `by_channel=1` is how links made before property breakdowns asked for channels.
        breakdown: get("breakdown").unwrap_or_else(|| match get("by_channel").as_deref() {
            Some("1") => crate::types::CHANNEL_BREAKDOWN.to_string(),
            _ => String::new(),
        }),
    }
}

/// A share, or a dash while no cohort's period has ended.
fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), percent)
}

#[component]
pub fn RetentionPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| params_from(|key| query.read().get(key)));
    let vocabulary = crate::pick::use_vocabulary();
    let answer = Resource::new(move || params.get(), load_retention);
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);

    view! {
        <Title text="Retention" />
        <section class="page retention-page">
            <header class="page-header">
                <div>
                    <h1>"Retention"</h1>
                    <p class="lede">{move || {
                        let word = params.get().period.as_str();
                        format!("Of the customers who started in a {word}, how many came back in each {word} after?")
                    }}</p>
                </div>
            </header>
            {move || {
                let p = params.get();
                let periods = [4usize, 8, 12, 26];
                view! {
                    <form
                        class="builder"
                        method="get"
                        action="/retention"
                        data-testid="retention-form"
                        data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
                    >
                        <label>
                            "Started with "
                            <input name="start" value=p.start.clone() placeholder="their first event" list=crate::pick::EVENTS data-testid="retention-start" />
                        </label>
                        <label>
                            "Came back with "
                            <input name="return" value=p.returning.clone() placeholder="any event" list=crate::pick::EVENTS data-testid="retention-return" />
                        </label>
                        <crate::pick::SeenLists vocabulary />
                        <label>
                            "By "
                            <select name="period">
                                <option value="week" selected=p.period == TrendPeriod::Week>"week"</option>
                                <option value="day" selected=p.period == TrendPeriod::Day>"day"</option>
                            </select>
                        </label>
                        <label>
                            "Periods "
                            <select name="periods">
                                {periods.iter().map(|n| view! { <option value=n.to_string() selected=*n == p.periods>{n.to_string()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>
                            "A curve per "
                            <input name="breakdown" value=p.breakdown.clone() placeholder="channel, or a property of the start" list=crate::pick::BREAKDOWNS data-testid="retention-breakdown" />
                        </label>
                        <button class="button" type="submit" data-testid="retention-run">"Show retention"</button>
                    </form>
                }
            }}
            <Transition fallback=|| view! { <p class="loading">"Following the cohorts…"</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(answer) if answer.result.cohorts.is_empty() => view! {
                            <p class="empty-note" data-testid="retention-none">
                                "No customer started in these periods. Pick another starting event, or check its name on the Live events page."
                            </p>
                        }
                            .into_any(),
                        Ok(answer) => view! { <Grid answer /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The heatmap, the grid as a table (the figures, for reading and copying), and the curves.
#[component]
fn Grid(answer: RetentionAnswer) -> impl IntoView {
    let result = answer.result;
    let word = result.period.as_str();
    let columns = result.average.shares.len();
    let header = (1..=columns).map(|k| view! { <th scope="col">{format!("{word} {k}")}</th> }).collect_view();
    let rows = result
        .cohorts
        .iter()
        .rev()
        .map(|cohort| {
            let cells = cohort
                .periods
                .iter()
                .map(|cell| {
                    let title = format!("{} of {} came back", count(cell.returned), count(cohort.customers));
                    let class = if cell.complete { "cell" } else { "cell running" };
                    view! { <td class=class title=title>{percent(cell.share)}</td> }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{cohort.start.format("%Y-%m-%d").to_string()}</th>
                    <td class="num">{count(cohort.customers)}</td>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    let curve_row = |curve: &RetentionCurve, label: String| {
        let shares = curve.shares.iter().map(|s| view! { <td>{share(*s)}</td> }).collect_view();
        view! {
            <tr>
                <th scope="row">{label}</th>
                <td class="num">{count(curve.customers)}</td>
                {shares}
            </tr>
        }
    };
    let average = curve_row(&result.average, "average".to_string());
    let breakdown = (!result.breakdown.is_empty()).then(|| {
        let header = (1..=columns).map(|k| view! { <th scope="col">{format!("{word} {k}")}</th> }).collect_view();
        let rows = result.breakdown.iter().map(|c| curve_row(c, c.group.clone())).collect_view();
        let (title, column) = match result.breakdown_by.as_deref().unwrap_or_default() {
            crate::types::CHANNEL_BREAKDOWN => ("By first-touch channel".to_string(), "channel".to_string()),
            property => (format!("By {property} on the starting event"), property.to_string()),
        };
        view! {
            <h2>{title}</h2>
            <table class="event-table retention-breakdown" data-testid="retention-breakdown-table">
                <thead><tr><th scope="col">{column}</th><th scope="col">"customers"</th>{header}</tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    view! {
        <div role="img" aria-label="Retention heatmap: one row per cohort, one column per period after it" inner_html=answer.heatmap_svg></div>
        <p class="muted">"A period still running is shown in brackets on the chart and paler in the table; the average counts only periods that have ended."</p>
        <table class="event-table retention-grid" data-testid="retention-grid">
            <thead><tr><th scope="col">"cohort"</th><th scope="col">"customers"</th>{header}</tr></thead>
            <tbody>{rows}</tbody>
            <tfoot data-testid="retention-average">{average}</tfoot>
        </table>
        {breakdown}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_gives_the_question_and_out_of_range_values_fall_back() {
        let url = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
        };
        let asked = params_from(url(&[
            ("start", "signed_up"),
            ("return", "purchase"),
            ("period", "day"),
            ("periods", "12"),
            ("breakdown", "plan"),
        ]));
        assert_eq!(
            asked,
            RetentionParams {
                start: "signed_up".into(),
                returning: "purchase".into(),
                period: TrendPeriod::Day,
                periods: 12,
                breakdown: "plan".into(),
            }
        );
        assert_eq!(params_from(url(&[("periods", "99"), ("period", "year")])), RetentionParams::default());
        assert_eq!(params_from(url(&[("by_channel", "1")])).breakdown, "$channel", "an older link still works");
    }
}
