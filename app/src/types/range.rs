//! Date ranges as the pages ask them: the last N days up to now, or whole days chosen on a
//! calendar (UTC), and the period just before a range, to compare with.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The longest range a page may ask for, in days.
pub const MAX_RANGE_DAYS: i64 = 366;

/// A resolved range: `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    /// The range of the same length that ends where this one starts.
    pub fn previous(self) -> Span {
        // Saturates at the earliest date rather than panicking on a range at the edge of time.
        let from = self.from.checked_sub_signed(self.to - self.from).unwrap_or(DateTime::<Utc>::MIN_UTC);
        Span { from, to: self.from }
    }

    /// "1 Nov – 30 Nov 2026" (the end shown is the last day included).
    pub fn label(self) -> String {
        let last = self.to - Duration::microseconds(1);
        let same_year = self.from.format("%Y").to_string() == last.format("%Y").to_string();
        let first = if same_year { self.from.format("%-d %b") } else { self.from.format("%-d %b %Y") };
        if self.from.date_naive() == last.date_naive() {
            return last.format("%-d %b %Y").to_string();
        }
        format!("{first} – {}", last.format("%-d %b %Y"))
    }
}

/// The range a page counts: whole days `from`..=`to` (UTC) when chosen, else the last `days`
/// days up to `now`. Only `from`: from that day until now; only `to`: the `days` days up to
/// the end of that day. Refused, with the fix, when backwards or longer than a year.
pub fn resolve_range(
    days: u32,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Span, String> {
    let start_of = |day: NaiveDate| day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let end = match to {
        Some(day) => start_of(day)
            .and_then(|t| t.checked_add_signed(Duration::days(1)))
            .ok_or("the end date is out of range; pick a date between 1970 and 9999")?,
        None => now,
    };
    let start = match from {
        Some(day) => start_of(day).ok_or("the start date is out of range")?,
        None => end
            .checked_sub_signed(Duration::days(i64::from(days.max(1))))
            .ok_or("the range starts before the earliest date; pick fewer days")?,
    };
    if start >= end {
        return Err(match (from, to) {
            (Some(f), Some(t)) => {
                format!("the range starts ({f}) after it ends ({t}); pick a start on or before the end")
            }
            (Some(f), None) => format!("the start date ({f}) is in the future; pick today or earlier"),
            _ => "the range is empty; pick a start before the end".into(),
        });
    }
    if end - start > Duration::days(MAX_RANGE_DAYS) {
        return Err(format!("the range is longer than {MAX_RANGE_DAYS} days; pick a shorter one"));
    }
    Ok(Span { from: start, to: end })
}

/// A date from an address (`2026-11-30`); anything else is no date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(text: &str) -> Option<NaiveDate> {
        parse_date(text)
    }

    #[test]
    fn a_range_is_the_last_days_or_whole_chosen_days() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 30, 0).unwrap();
        let last_week = resolve_range(7, None, None, now).unwrap();
        assert_eq!(last_week, Span { from: Utc.with_ymd_and_hms(2026, 11, 25, 15, 30, 0).unwrap(), to: now });
        let november = resolve_range(7, day("2026-11-01"), day("2026-11-30"), now).unwrap();
        assert_eq!(november.from, Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        assert_eq!(november.to, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(), "the last day is included");
        assert_eq!(november.label(), "1 Nov – 30 Nov 2026");
        let since = resolve_range(7, day("2026-12-01"), None, now).unwrap();
        assert_eq!((since.from, since.to), (Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(), now));
        let until = resolve_range(3, None, day("2026-11-10"), now).unwrap();
        assert_eq!(until.from, Utc.with_ymd_and_hms(2026, 11, 8, 0, 0, 0).unwrap());
        assert_eq!(resolve_range(7, day("2026-11-05"), day("2026-11-05"), now).unwrap().label(), "5 Nov 2026");
    }

    #[test]
    fn a_wrong_range_says_how_to_fix_it() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 30, 0).unwrap();
        let backwards = resolve_range(7, day("2026-11-30"), day("2026-11-01"), now).unwrap_err();
        assert!(backwards.contains("on or before the end"), "{backwards}");
        let future = resolve_range(7, day("2027-01-01"), None, now).unwrap_err();
        assert!(future.contains("future"), "{future}");
        let long = resolve_range(7, day("2024-01-01"), day("2026-01-01"), now).unwrap_err();
        assert!(long.contains("366 days"), "{long}");
        assert_eq!(parse_date("30/11/2026"), None);
    }

    #[test]
    fn dates_at_the_edge_of_time_are_refused_not_a_panic() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 15, 30, 0).unwrap();
        let last_day = resolve_range(7, None, Some(NaiveDate::MAX), now).unwrap_err();
        assert!(last_day.contains("end date is out of range"), "{last_day}");
        let first_day = resolve_range(7, None, Some(NaiveDate::MIN), now).unwrap_err();
        assert!(first_day.contains("earliest date"), "{first_day}");
        let edge = Span {
            from: DateTime::<Utc>::MIN_UTC + Duration::days(1),
            to: DateTime::<Utc>::MIN_UTC + Duration::days(3),
        };
        assert_eq!(edge.previous(), Span { from: DateTime::<Utc>::MIN_UTC, to: edge.from });
    }

    #[test]
    fn the_previous_period_has_the_same_length_and_ends_where_the_range_starts() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        let november = resolve_range(7, day("2026-11-01"), day("2026-11-30"), now).unwrap();
        let before = november.previous();
        assert_eq!(before.to, november.from);
        assert_eq!(before.from, Utc.with_ymd_and_hms(2026, 10, 2, 0, 0, 0).unwrap());
        assert_eq!(before.label(), "2 Oct – 31 Oct 2026");
        let span = Span { from: Utc.with_ymd_and_hms(2025, 12, 20, 0, 0, 0).unwrap(), to: now };
        assert_eq!(span.label(), "20 Dec 2025 – 1 Dec 2026");
    }
}
