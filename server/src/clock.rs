//! The one place the server reads the time of day. Everything that decides by "now" —
//! which message ids are still remembered, which alert anchors are recent, the default range
//! of a question, when a rule's wait has run out — asks a [`Clock`] it was handed, so a test
//! can fix the day it runs on and its answer never depends on the calendar.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current UTC time. Cheap to clone; clones share the same source.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    System,
    /// A time that moves only when told to (tests).
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// The machine's clock: what production runs on.
    pub fn system() -> Self {
        Clock { source: Source::System }
    }

    /// A clock that stands at `at` until [`Clock::advance`] or [`Clock::set`] moves it.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock { source: Source::Manual(Arc::new(Mutex::new(at))) }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.source {
            Source::System => Utc::now(),
            Source::Manual(at) => *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Moves a manual clock forward (or back, with a negative duration); no effect on the
    /// system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(at) = &self.source {
            let mut at = at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *at += by;
        }
    }

    /// Sets a manual clock to `to`; no effect on the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Source::Manual(at) = &self.source {
            *at.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = to;
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_manual_clock_stands_still_until_moved_and_clones_share_it() {
        let clock = Clock::manual(at("2026-11-23T10:00:00Z"));
        let shared = clock.clone();
        assert_eq!(clock.now(), at("2026-11-23T10:00:00Z"));
        clock.advance(Duration::days(8));
        assert_eq!(shared.now(), at("2026-12-01T10:00:00Z"));
        shared.set(at("2030-01-01T00:00:00Z"));
        assert_eq!(clock.now(), at("2030-01-01T00:00:00Z"));
    }

    #[test]
    fn the_system_clock_ignores_manual_moves() {
        let clock = Clock::system();
        clock.set(at("2000-01-01T00:00:00Z"));
        assert!(clock.now() > at("2020-01-01T00:00:00Z"));
    }
}
