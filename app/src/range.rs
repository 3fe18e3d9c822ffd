//! The date-range fields every analytics page shares: whole days picked on a calendar (UTC)
//! beside the page's "last N days", and "compare with the previous period", all in the
//! address so that a range is shareable.

use chrono::NaiveDate;
use leptos::prelude::*;

use crate::types::parse_date;

/// A range picked on the calendar, and whether to compare with the period before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PickedDates {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub compare: bool,
}

impl PickedDates {
    /// From the address: `from=2026-11-01&to=2026-11-30&compare=1`.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        PickedDates {
            from: get("from").as_deref().and_then(parse_date),
            to: get("to").as_deref().and_then(parse_date),
            compare: get("compare").is_some_and(|c| c == "1"),
        }
    }

    /// The address's part for these dates (empty when none), each starting with `&`.
    pub fn query(&self) -> String {
        let mut query = String::new();
        if let Some(from) = self.from {
            query.push_str(&format!("&from={from}"));
        }
        if let Some(to) = self.to {
            query.push_str(&format!("&to={to}"));
        }
        if self.compare {
            query.push_str("&compare=1");
        }
        query
    }
}

/// Two calendar fields and, if `compare` is offered, the comparison switch.
#[component]
pub fn RangeFields(dates: PickedDates, #[prop(default = true)] offer_compare: bool) -> impl IntoView {
    let text = |day: Option<NaiveDate>| day.map(|d| d.to_string()).unwrap_or_default();
    view! {
        <fieldset class="range-fields">
            <legend>"Or pick days (UTC)"</legend>
            <label>
                "From "
                <input type="date" name="from" value=text(dates.from) data-testid="range-from" />
            </label>
            <label>
                "To "
                <input type="date" name="to" value=text(dates.to) data-testid="range-to" />
            </label>
            {offer_compare.then(|| view! {
                <label class="check">
                    <input type="checkbox" name="compare" value="1" checked=dates.compare data-testid="range-compare" />
                    " Compare with the period before"
                </label>
            })}
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_dates_round_trip_through_the_address() {
        let dates = PickedDates { from: parse_date("2026-11-01"), to: parse_date("2026-11-30"), compare: true };
        let query = dates.query();
        assert_eq!(query, "&from=2026-11-01&to=2026-11-30&compare=1");
        let pairs: Vec<(&str, &str)> =
            query.trim_start_matches('&').split('&').map(|kv| kv.split_once('=').unwrap()).collect();
        let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string());
        assert_eq!(PickedDates::from_query(get), dates);
        assert_eq!(PickedDates::default().query(), "", "nothing picked, nothing added");
        let odd = PickedDates::from_query(|k| (k == "from").then(|| "yesterday".to_string()));
        assert_eq!(odd, PickedDates::default(), "a date that is not one is ignored");
    }
}
