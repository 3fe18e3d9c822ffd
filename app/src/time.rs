//! Showing times in the viewer's time zone without breaking hydration: the server renders
//! UTC (it cannot know the viewer's zone), and the browser switches to local time once hydrated.

use chrono::{DateTime, Local, Utc};
use leptos::prelude::*;

/// True once the app runs in the browser.
#[derive(Clone, Copy)]
pub struct Hydrated(pub ReadSignal<bool>);

/// Provides [`Hydrated`]; effects only run in the browser, so it flips there and only there.
pub fn provide_hydration_flag() {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    provide_context(Hydrated(hydrated));
}

/// Clock time of `at`: local once hydrated, UTC (marked) before.
pub fn clock_time(at: DateTime<Utc>, local: bool) -> String {
    if local {
        at.with_timezone(&Local).format("%H:%M:%S").to_string()
    } else {
        at.format("%H:%M:%S UTC").to_string()
    }
}

/// Date and clock time of `at` to the minute ("2026-12-01 14:05"): local once hydrated, UTC
/// (marked) before. For lists that span days.
pub fn moment(at: DateTime<Utc>, local: bool) -> String {
    if local {
        at.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// [`moment`] with the time zone it is in: "2026-12-01 14:05 (UTC+01:00)" once hydrated,
/// "2026-12-01 13:05 UTC" before.
pub fn moment_in_zone(at: DateTime<Utc>, local: bool) -> String {
    if local {
        at.with_timezone(&Local).format("%Y-%m-%d %H:%M (UTC%:z)").to_string()
    } else {
        moment(at, false)
    }
}

/// "3 s ago", "2 min ago", "1 h ago" for a duration in seconds.
pub fn ago(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_before_hydration_is_marked() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T19:05:07Z").unwrap().to_utc();
        assert_eq!(clock_time(at, false), "19:05:07 UTC");
    }

    #[test]
    fn a_moment_has_the_date_and_the_minute() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T19:05:07Z").unwrap().to_utc();
        assert_eq!(moment(at, false), "2026-11-23 19:05 UTC");
    }

    #[test]
    fn ago_picks_the_largest_whole_unit() {
        assert_eq!(ago(-4), "0 s ago");
        assert_eq!(ago(59), "59 s ago");
        assert_eq!(ago(125), "2 min ago");
        assert_eq!(ago(7_200), "2 h ago");
        assert_eq!(ago(200_000), "2 d ago");
    }
}
