//! The rules' pending waits, in deadline order.
//!
//! A rule that waits once per customer (inactivity: "no event for a day") keeps only its
//! latest wait. Each event of a customer starts a new wait from that event; an earlier wait
//! could never fire (the customer was active after its anchor), and keeping it would grow the
//! queue by one entry per event for the whole wait (a day), which is what a soak showed.
//! Waits per anchor (absence, a sequence then an absence) stay one per anchor: each may fire.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

/// A rule waiting for something not to happen until `deadline_us` (event time).
///
/// Ordered and identified by deadline, anchor, rule and customer: one wait per anchor and rule.
#[derive(Debug, Clone)]
pub(super) struct Timer {
    pub deadline_us: i64,
    pub anchor_seq: i64,
    /// Shared with the rule and with the event index's customer: a wait copies no strings.
    pub rule_id: Arc<str>,
    pub customer: Arc<str>,
    /// The events that started the wait (the anchor last).
    pub started_by: Vec<(i64, i64)>,
    pub waits: Waits,
}

impl Timer {
    fn identity(&self) -> (i64, i64, &str, &str) {
        (self.deadline_us, self.anchor_seq, &self.rule_id, &self.customer)
    }
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.identity().cmp(&other.identity())
    }
}

/// Whether a rule's waits replace each other per customer or stand one per anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waits {
    /// Only the latest wait of a customer can fire (inactivity).
    LatestPerCustomer,
    /// Every anchor waits on its own (absence, a sequence then an absence).
    PerAnchor,
}

#[derive(Default)]
pub(super) struct TimerQueue {
    by_deadline: BTreeSet<Timer>,
    /// For rules that keep one wait per customer: (rule, customer) → that wait's deadline and
    /// anchor, to find and replace it.
    latest: HashMap<(Arc<str>, Arc<str>), (i64, i64)>,
}

impl TimerQueue {
    /// Adds a wait; for [`Waits::LatestPerCustomer`], it replaces the customer's earlier wait
    /// (and is itself dropped if a later one is already pending). The same wait added twice
    /// (a restart's re-evaluation) is kept once.
    pub fn push(&mut self, timer: Timer) {
        if timer.waits == Waits::LatestPerCustomer {
            let key = (timer.rule_id.clone(), timer.customer.clone());
            let new = (timer.deadline_us, timer.anchor_seq);
            if let Some(&pending) = self.latest.get(&key) {
                if pending >= new {
                    return;
                }
                let (deadline_us, anchor_seq) = pending;
                self.by_deadline.remove(&Timer {
                    deadline_us,
                    anchor_seq,
                    rule_id: key.0.clone(),
                    customer: key.1.clone(),
                    started_by: Vec::new(),
                    waits: Waits::LatestPerCustomer,
                });
            }
            self.latest.insert(key, new);
        }
        self.by_deadline.insert(timer);
    }

    /// Takes out every wait whose deadline is at or before `watermark`, earliest first.
    pub fn pop_due(&mut self, watermark_us: i64) -> Vec<Timer> {
        let mut due = Vec::new();
        while self.by_deadline.first().is_some_and(|t| t.deadline_us <= watermark_us) {
            let Some(timer) = self.by_deadline.pop_first() else { break };
            let key = (timer.rule_id.clone(), timer.customer.clone());
            if self.latest.get(&key) == Some(&(timer.deadline_us, timer.anchor_seq)) {
                self.latest.remove(&key);
            }
            due.push(timer);
        }
        due
    }

    /// How many waits are pending.
    pub fn len(&self) -> usize {
        self.by_deadline.len()
    }

    /// Memory held, estimated: each wait in its tree node (with the events that started it)
    /// and the latest-wait map's entries.
    pub fn approximate_bytes(&self) -> usize {
        let started_by: usize =
            self.by_deadline.iter().map(|t| t.started_by.capacity() * size_of::<(i64, i64)>()).sum();
        let in_tree = self.by_deadline.len() * size_of::<Timer>() * 3 / 2;
        let latest = self.latest.capacity() * (size_of::<((Arc<str>, Arc<str>), (i64, i64))>() + 1);
        in_tree + started_by + latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(rule: &str, customer: &str, anchor_seq: i64, deadline_us: i64, waits: Waits) -> Timer {
        Timer {
            waits,
            deadline_us,
            anchor_seq,
            rule_id: rule.into(),
            customer: customer.into(),
            started_by: vec![(deadline_us - 100, anchor_seq)],
        }
    }

    fn fired(due: &[Timer]) -> Vec<(&str, &str, i64)> {
        due.iter().map(|t| (&*t.rule_id, &*t.customer, t.anchor_seq)).collect()
    }

    #[test]
    fn a_customers_later_inactivity_wait_replaces_the_earlier_one() {
        let mut queue = TimerQueue::default();
        // ann's three events each start a day's wait; only the last can ever fire.
        for (seq, at) in [(1, 1_000), (5, 2_000), (9, 3_000)] {
            queue.push(wait("quiet", "ann", seq, at, Waits::LatestPerCustomer));
        }
        queue.push(wait("quiet", "bob", 2, 1_500, Waits::LatestPerCustomer));
        // Another rule's wait for ann is its own.
        queue.push(wait("other-quiet", "ann", 1, 1_000, Waits::LatestPerCustomer));
        assert_eq!(queue.len(), 3);
        // A late event (an earlier anchor) arriving after does not bring back an older wait.
        queue.push(wait("quiet", "ann", 3, 1_800, Waits::LatestPerCustomer));
        assert_eq!(queue.len(), 3);
        assert_eq!(fired(&queue.pop_due(2_999)), vec![("other-quiet", "ann", 1), ("quiet", "bob", 2)]);
        assert_eq!(fired(&queue.pop_due(3_000)), vec![("quiet", "ann", 9)]);
        assert_eq!(queue.len(), 0);
        // Once fired, the customer's next wait is a new one.
        queue.push(wait("quiet", "ann", 12, 9_000, Waits::LatestPerCustomer));
        assert_eq!(fired(&queue.pop_due(9_000)), vec![("quiet", "ann", 12)]);
    }

    #[test]
    fn absence_waits_stand_one_per_anchor_and_fire_in_deadline_order() {
        let mut queue = TimerQueue::default();
        queue.push(wait("cart", "ann", 7, 4_000, Waits::PerAnchor));
        queue.push(wait("cart", "ann", 3, 2_000, Waits::PerAnchor));
        queue.push(wait("cart", "bob", 4, 2_000, Waits::PerAnchor));
        // The same wait again (evaluated again after a restart) is kept once.
        queue.push(wait("cart", "ann", 3, 2_000, Waits::PerAnchor));
        assert_eq!(queue.len(), 3);
        assert!(queue.pop_due(1_999).is_empty());
        assert_eq!(fired(&queue.pop_due(4_000)), vec![("cart", "ann", 3), ("cart", "bob", 4), ("cart", "ann", 7)]);
    }
}
