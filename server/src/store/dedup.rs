//! Remembers which `messageId`s each source sent in the last days, so that a retried or
//! replayed message is acknowledged but not stored twice. Rebuilt from the store at start-up,
//! so it survives restarts.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::{hashed_key::hashed_key, memory::hash_table_bytes};

/// How long a message id is remembered.
pub const DEDUP_WINDOW: Duration = Duration::days(7);

/// 128 bits of hash per (source, message id) ([`hashed_key`]).
type Key = u128;

fn key(source_id: &str, message_id: &str) -> Key {
    hashed_key(&(source_id, message_id))
}

/// Message ids bucketed by the day they arrived; whole buckets expire.
#[derive(Default)]
pub struct Deduper {
    /// Hashed again with the standard, randomly keyed hasher, though the keys are hashes
    /// already: [`hashed_key`]'s keys are fixed, so a sender could choose message ids whose
    /// keys pile up in one corner of a table that hashed them cheaply (Fx).
    days: VecDeque<(i64, HashSet<Key>)>,
}

fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

impl Deduper {
    /// Records the id as seen at `at`; false if it was already seen within the window.
    pub fn insert(&mut self, source_id: &str, message_id: &str, at: DateTime<Utc>) -> bool {
        let key = key(source_id, message_id);
        let day = day_of(at);
        // The other days are asked; the day's own table answers as it inserts (one probe).
        if self.days.iter().any(|(d, keys)| *d != day && keys.contains(&key)) {
            return false;
        }
        match self.days.iter_mut().find(|(d, _)| *d == day) {
            Some((_, keys)) => {
                if !keys.insert(key) {
                    return false;
                }
            }
            None => {
                self.days.push_back((day, HashSet::from([key])));
                self.days.make_contiguous().sort_by_key(|(d, _)| *d);
            }
        }
        self.expire(at);
        true
    }

    /// Takes in what another memory holds, each id under its own day: the ids the writer
    /// remembered while this memory was being read back from the store.
    pub fn absorb(&mut self, other: Deduper) {
        for (day, keys) in other.days {
            match self.days.iter_mut().find(|(d, _)| *d == day) {
                Some((_, mine)) => mine.extend(keys),
                None => {
                    self.days.push_back((day, keys));
                    self.days.make_contiguous().sort_by_key(|(d, _)| *d);
                }
            }
        }
    }

    /// Forgets an id again (its write was rolled back).
    pub fn forget(&mut self, source_id: &str, message_id: &str) {
        let key = key(source_id, message_id);
        for (_, keys) in self.days.iter_mut() {
            keys.remove(&key);
        }
    }

    fn expire(&mut self, now: DateTime<Utc>) {
        // One extra day, so that an id is kept for at least the full window.
        let oldest = day_of(now - DEDUP_WINDOW) - 1;
        while self.days.front().is_some_and(|(d, _)| *d < oldest) {
            self.days.pop_front();
        }
    }

    /// How many ids are remembered.
    pub(super) fn len(&self) -> usize {
        self.days.iter().map(|(_, keys)| keys.len()).sum()
    }

    /// The heap the remembered ids take (each day's table). It grows with the traffic of the
    /// last seven days, by design.
    pub(super) fn approximate_bytes(&self) -> usize {
        self.days.iter().map(|(_, keys)| hash_table_bytes(keys.capacity(), std::mem::size_of::<Key>())).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_repeated_id_is_a_duplicate_per_source() {
        let mut d = Deduper::default();
        assert!(d.insert("s1", "m1", at("2026-11-01T10:00:00Z")));
        assert!(!d.insert("s1", "m1", at("2026-11-03T10:00:00Z")));
        assert!(d.insert("s2", "m1", at("2026-11-03T10:00:00Z")), "another source may reuse an id");
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn ids_are_remembered_for_seven_days_then_forgotten() {
        let mut d = Deduper::default();
        d.insert("s", "old", at("2026-11-01T10:00:00Z"));
        assert!(!d.insert("s", "old", at("2026-11-08T09:00:00Z")), "still within 7 days");
        d.insert("s", "other", at("2026-11-10T12:00:00Z"));
        assert!(d.insert("s", "old", at("2026-11-10T12:00:00Z")), "forgotten after the window");
    }

    #[test]
    fn an_absorbed_memory_keeps_each_id_under_its_own_day() {
        let mut read_back = Deduper::default();
        read_back.insert("s", "old", at("2026-11-01T10:00:00Z"));
        let mut meanwhile = Deduper::default();
        meanwhile.insert("s", "same-day", at("2026-11-01T11:00:00Z"));
        meanwhile.insert("s", "next-day", at("2026-11-02T10:00:00Z"));
        read_back.absorb(meanwhile);
        assert_eq!(read_back.len(), 3);
        for id in ["old", "same-day", "next-day"] {
            assert!(!read_back.insert("s", id, at("2026-11-08T09:00:00Z")), "{id} is remembered");
        }
        // The window keeps one extra day: on 11-10 the ids of 11-01 are forgotten, those of 11-02 not.
        read_back.insert("s", "later", at("2026-11-10T12:00:00Z"));
        assert!(read_back.insert("s", "same-day", at("2026-11-10T12:00:00Z")));
        assert!(!read_back.insert("s", "next-day", at("2026-11-10T12:00:00Z")));
    }

    #[test]
    fn a_forgotten_id_can_be_stored_again() {
        let mut d = Deduper::default();
        let now = at("2026-11-01T10:00:00Z");
        d.insert("s", "m", now);
        d.forget("s", "m");
        assert!(d.insert("s", "m", now));
    }
}
