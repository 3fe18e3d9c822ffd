//! Rule conditions as pure functions over one customer's named events in time order (index
//! entries), so each can be tested on a hand-written history. Event time throughout: late
//! and out-of-order events sit where they happened.

use std::{borrow::Cow, ops::Range};

use app::types::StepEvent;

use crate::index::{
    columns::{self, Conditions, PropertyColumn},
    Entry, IndexData,
};

/// An event pattern resolved against the index: the name ids it accepts, each with the
/// property values it requires.
#[derive(Debug, Clone, Default)]
pub struct Pattern<'a> {
    /// By name id: whether the name matches whatever the event's properties (a table, not a
    /// list to search: a replay of history asks this of every event, and in a profile of the
    /// count rule's backtest its unpredictable branches were the hottest instructions). 1 or
    /// 0, a number rather than a `bool`, so that [`matching`] adds it up without a branch.
    plain: Vec<u8>,
    /// The names that match only with some property values, with the values required.
    filtered: Vec<(u32, Conditions<'a>)>,
}

impl<'a> Pattern<'a> {
    /// Any of `events`, resolved with `name_id` and `column`.
    pub fn new(
        events: &[StepEvent],
        name_id: impl Fn(&str) -> Option<u32>,
        column: impl Fn(&str) -> Option<&'a PropertyColumn>,
    ) -> Self {
        let mut pattern = Pattern::default();
        for event in events {
            let Some(id) = name_id(&event.name) else { continue };
            if event.filters.is_empty() {
                let i = id as usize;
                if pattern.plain.len() <= i {
                    pattern.plain.resize(i + 1, 0);
                }
                pattern.plain[i] = 1;
            } else {
                pattern.filtered.push((id, columns::conditions(&event.filters, &column)));
            }
        }
        pattern
    }

    /// Resolved against the index's names and property columns.
    pub fn in_index(events: &[StepEvent], data: &'a IndexData) -> Self {
        let mut pattern = Pattern::new(events, |n| data.name_id(n), |p| data.property(p));
        // Every name's entry in the table: looking one up then never branches on its id.
        if pattern.plain.len() < data.names_len() {
            pattern.plain.resize(data.names_len(), 0);
        }
        pattern
    }

    pub fn matches(&self, event: &Entry) -> bool {
        self.hits(event) != 0
    }

    /// 1 if the event matches, else 0.
    #[inline]
    fn hits(&self, event: &Entry) -> usize {
        let name = event.name();
        let plain = usize::from(self.plain.get(name as usize).copied().unwrap_or(0));
        if self.filtered.is_empty() {
            plain
        } else {
            plain | usize::from(self.matches_filtered(name, event.seq()))
        }
    }

    fn matches_filtered(&self, name: u32, seq: i64) -> bool {
        self.filtered.iter().any(|(id, conditions)| *id == name && columns::holds(conditions, seq))
    }
}

/// Every instance of the steps in order within `within_us` of the first (greedy: each next
/// step is its earliest occurrence) whose first step is at most `within_us` before `around_us`
/// and not after it: all the instances an event at `around_us` can belong to.
///
/// Events sharing a timestamp are taken in step order whatever order they arrived in, as
/// funnels take them: a step may share its predecessor's timestamp.
pub fn sequences(events: &[Entry], steps: &[Pattern<'_>], within_us: i64, around_us: i64) -> Vec<Vec<Entry>> {
    let start = events.partition_point(|e| e.at_us < around_us - within_us);
    let end = events.partition_point(|e| e.at_us <= around_us.saturating_add(within_us));
    let mut events = events[start..end.max(start)].to_vec();
    if events.windows(2).any(|pair| pair[0].at_us == pair[1].at_us) {
        // Stable: events that are no step, and ties within one step, keep their order.
        events.sort_by_cached_key(|e| (e.at_us, steps.iter().position(|p| p.matches(e)).map_or(0, |k| k + 1)));
    }
    let mut found: Vec<Vec<Entry>> = Vec::new();
    for (i, first) in events.iter().enumerate() {
        if first.at_us > around_us {
            break;
        }
        if !steps[0].matches(first) {
            continue;
        }
        let mut instance = vec![*first];
        for event in &events[i + 1..] {
            if instance.len() == steps.len() || event.at_us - first.at_us > within_us {
                break;
            }
            if steps[instance.len()].matches(event) {
                instance.push(*event);
            }
        }
        let complete = instance.len() == steps.len();
        // Two starts that end at the same last step are one instance; keep the latest start.
        if complete {
            match found.last_mut() {
                Some(previous) if previous.last() == instance.last() => *previous = instance,
                _ => found.push(instance),
            }
        }
    }
    found
}

/// Where the first `count` events that fall within `within_us` of each other in a window
/// that contains `around_us` are, if there are that many, among a customer's events that
/// match the rule's pattern (in time order, from [`matching`]). The answer for one time; a
/// rule asks for many at once with [`bursts_around`].
pub fn burst_among(matching: &[Entry], count: usize, within_us: i64, around_us: i64) -> Option<Range<usize>> {
    let count = count.max(1);
    let start = matching.partition_point(|e| e.at_us < around_us - within_us);
    let end = matching.partition_point(|e| e.at_us <= around_us + within_us).max(start);
    (start + count - 1..end).find_map(|last| {
        let window = &matching[last + 1 - count..=last];
        let fits = window[window.len() - 1].at_us - window[0].at_us <= within_us;
        let contains = window[0].at_us <= around_us && around_us <= window[window.len() - 1].at_us;
        (fits && contains).then_some(last + 1 - count..last + 1)
    })
}

/// The bursts [`burst_among`] finds around each of the times `arounds`, each burst once (the
/// first time it is found). With the times in order (a replay of history, and most batches
/// of new events) in one pass over `matching`: the burst around a later time never starts
/// before the burst around an earlier one (a window that contained the later time and began
/// earlier would contain the earlier time too), so a window passed over for being too long or
/// over too soon is never looked at again.
pub fn bursts_around(
    matching: &[Entry],
    count: usize,
    within_us: i64,
    arounds: impl Iterator<Item = i64> + Clone,
) -> Vec<Range<usize>> {
    let count = count.max(1);
    let mut found: Vec<Range<usize>> = Vec::new();
    let (mut start, mut previous) = (0, i64::MIN);
    for around in arounds.clone() {
        if around < previous {
            return bursts_around_each(matching, count, within_us, arounds);
        }
        previous = around;
        while let Some(window) = matching.get(start..start + count) {
            let (first, last) = (window[0].at_us, window[count - 1].at_us);
            if last - first <= within_us && last >= around {
                break;
            }
            start += 1;
        }
        // Past the last window: no burst around this time or any later one (the rest are
        // still checked to be in order).
        let Some(window) = matching.get(start..start + count) else { continue };
        if window[0].at_us <= around && found.last() != Some(&(start..start + count)) {
            found.push(start..start + count);
        }
    }
    found
}

/// [`bursts_around`] for times in any order: the burst around each time on its own.
fn bursts_around_each(
    matching: &[Entry],
    count: usize,
    within_us: i64,
    arounds: impl Iterator<Item = i64>,
) -> Vec<Range<usize>> {
    let mut found: Vec<Range<usize>> = Vec::new();
    for around in arounds {
        let Some(range) = burst_among(matching, count, within_us, around) else { continue };
        if !found.contains(&range) {
            found.push(range);
        }
    }
    found
}

/// How many matching events [`matching`] keeps on the stack: more than most customers have.
pub const FEW: usize = 16;

/// The events that match `pattern`, in time order: in `stack` when they fit (no allocation
/// for most customers), else in a vector. The stack has a spare slot past the [`FEW`].
pub fn matching<'s>(events: &[Entry], pattern: &Pattern<'_>, stack: &'s mut [Entry; FEW + 1]) -> Cow<'s, [Entry]> {
    let mut kept = 0;
    for event in events {
        // Written whether it matches or not, and kept only if it does (once FEW are kept,
        // written to the spare slot): whether an event matches is unpredictable, and a branch
        // on it was the count rule's hottest instruction in a profile of its backtest.
        stack[kept.min(FEW)] = *event;
        kept += pattern.hits(event);
    }
    if kept > FEW {
        return Cow::Owned(events.iter().filter(|e| pattern.matches(e)).copied().collect());
    }
    Cow::Borrowed(&stack[..kept])
}

/// Whether none of the pattern's events happened after `after_us` up to `until_us` (inclusive).
pub fn absent(events: &[Entry], pattern: &Pattern<'_>, after_us: i64, until_us: i64) -> bool {
    let start = events.partition_point(|e| e.at_us <= after_us);
    events[start..].iter().take_while(|e| e.at_us <= until_us).all(|e| !pattern.matches(e))
}

/// A stage change the expected path does not have: `(from, to)` stage indexes, when the
/// customer's stage event before `event` was in another stage and the pair is not expected.
pub fn off_path(
    events: &[Entry],
    event: &Entry,
    stage_of: impl Fn(&Entry) -> Option<usize>,
    expected: &[(usize, usize)],
) -> Option<(usize, usize)> {
    let to = stage_of(event)?;
    let position = events.partition_point(|e| (e.at_us, e.seq()) < (event.at_us, event.seq()));
    let from = events[..position].iter().rev().find_map(&stage_of)?;
    (from != to && !expected.contains(&(from, to))).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;
    /// Fixture names by id.
    const NAMES: [&str; 6] = ["view", "cart", "buy", "ticket", "fail", "home"];

    fn id(name: &str) -> u32 {
        NAMES.iter().position(|n| *n == name).unwrap() as u32
    }

    fn pattern(names: &[&str]) -> Pattern<'static> {
        let events: Vec<StepEvent> = names.iter().map(|n| StepEvent::named(*n)).collect();
        Pattern::new(&events, |n| NAMES.iter().position(|x| *x == n).map(|i| i as u32), |_| None)
    }

    /// Events at minutes, sequence numbers in list order.
    fn history(list: &[(i64, &str)]) -> Vec<Entry> {
        let mut events: Vec<Entry> = list
            .iter()
            .enumerate()
            .map(|(seq, (at, name))| Entry::new(at * MIN, seq as i64 + 1, id(name), false))
            .collect();
        events.sort_by_key(|e| (e.at_us, e.seq()));
        events
    }

    fn names(events: &[Entry]) -> Vec<&'static str> {
        events.iter().map(|e| NAMES[e.name() as usize]).collect()
    }

    #[test]
    fn a_sequence_is_found_around_any_of_its_events_even_when_one_arrived_late() {
        let steps = [pattern(&["fail"]), pattern(&["ticket"])];
        // The ticket (minute 10) arrived before the failure (minute 2) it follows.
        let events = history(&[(10, "ticket"), (2, "fail"), (5, "home")]);
        let found = sequences(&events, &steps, 60 * MIN, 2 * MIN);
        assert_eq!(found.iter().map(|f| names(f)).collect::<Vec<_>>(), vec![vec!["fail", "ticket"]]);
        assert_eq!(sequences(&events, &steps, 60 * MIN, 10 * MIN).len(), 1, "found from the ticket too");
        assert!(sequences(&events, &steps, 5 * MIN, 10 * MIN).is_empty(), "8 minutes apart, window 5");
        assert!(
            sequences(&history(&[(1, "ticket"), (2, "fail")]), &steps, 60 * MIN, 2 * MIN).is_empty(),
            "wrong order"
        );
    }

    #[test]
    fn a_step_may_share_its_predecessors_timestamp_whatever_order_they_arrived_in() {
        let steps = [pattern(&["view"]), pattern(&["cart"]), pattern(&["buy"])];
        // One handler fired all three in the same minute; they arrived backwards.
        let events = history(&[(3, "buy"), (3, "cart"), (3, "view"), (3, "home")]);
        let found = sequences(&events, &steps, 10 * MIN, 3 * MIN);
        assert_eq!(found.iter().map(|f| names(f)).collect::<Vec<_>>(), vec![vec!["view", "cart", "buy"]]);
        // The cart tied with the view, the buy a minute later: found from the buy too.
        let events = history(&[(3, "cart"), (3, "view"), (4, "buy")]);
        assert_eq!(sequences(&events, &steps, 10 * MIN, 4 * MIN).len(), 1);
        // A tie does not reorder events at different times: a cart before the view still fails.
        assert!(sequences(&history(&[(2, "cart"), (3, "view"), (4, "buy")]), &steps, 10 * MIN, 4 * MIN).is_empty());
    }

    fn burst(
        events: &[Entry],
        pattern: &Pattern<'_>,
        count: usize,
        within_us: i64,
        around_us: i64,
    ) -> Option<Vec<Entry>> {
        let mut stack = [Entry::new(0, 0, 0, false); FEW + 1];
        let found = matching(events, pattern, &mut stack);
        burst_among(&found, count, within_us, around_us).map(|burst| found[burst].to_vec())
    }

    #[test]
    fn a_burst_needs_the_count_within_the_window() {
        let views = pattern(&["view"]);
        let events = history(&[(0, "view"), (2, "view"), (4, "cart"), (4, "view"), (20, "view")]);
        let found = burst(&events, &views, 3, 5 * MIN, 4 * MIN).unwrap();
        assert_eq!(found.iter().map(|e| e.at_us / MIN).collect::<Vec<_>>(), vec![0, 2, 4]);
        assert!(burst(&events, &views, 3, 3 * MIN, 4 * MIN).is_none(), "0, 2, 4 span 4 minutes > 3");
        assert!(burst(&events, &views, 3, 5 * MIN, 20 * MIN).is_none(), "the view at 20 is alone");
    }

    /// The bursts found in one pass over the times in order are the bursts found by asking
    /// around each time on its own, each once, in the order first found: random histories
    /// with ties, counts 1 to 4, windows from none to wide, times in order or not.
    #[test]
    fn bursts_found_in_one_pass_equal_bursts_asked_around_each_time() {
        let mut state = 11u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut bursts_seen = 0;
        for round in 0..3_000 {
            let len = next(12) as usize;
            let mut times: Vec<i64> = (0..len).map(|_| next(40) as i64 * MIN).collect();
            times.sort_unstable();
            let matching: Vec<Entry> =
                times.iter().enumerate().map(|(seq, &at)| Entry::new(at, seq as i64 + 1, 0, false)).collect();
            let (count, within_us) = (1 + next(4) as usize, next(8) as i64 * MIN);
            let mut arounds: Vec<i64> = times.iter().copied().filter(|_| next(3) != 0).collect();
            arounds.extend((0..next(3)).map(|_| next(40) as i64 * MIN));
            if round % 4 != 0 {
                arounds.sort_unstable();
            }
            let mut expected: Vec<Range<usize>> = Vec::new();
            for &around in &arounds {
                if let Some(burst) = burst_among(&matching, count, within_us, around) {
                    if !expected.contains(&burst) {
                        expected.push(burst);
                    }
                }
            }
            bursts_seen += expected.len();
            let found = bursts_around(&matching, count, within_us, arounds.iter().copied());
            assert_eq!(found, expected, "times {times:?} count {count} within {within_us} arounds {arounds:?}");
        }
        assert!(bursts_seen > 1_000, "the histories have bursts to find ({bursts_seen})");
    }

    #[test]
    fn more_matching_events_than_the_stack_holds_are_all_kept() {
        let views = pattern(&["view"]);
        // A view every 10 minutes, a cart between each, and a second view a minute after the last.
        let mut list: Vec<(i64, &str)> = (0..20).flat_map(|k| [(k * 10, "view"), (k * 10 + 5, "cart")]).collect();
        list.push((191, "view"));
        let events = history(&list);
        let mut stack = [Entry::new(0, 0, 0, false); FEW + 1];
        let found = matching(&events, &views, &mut stack);
        assert!(matches!(found, Cow::Owned(_)), "21 views do not fit on the stack");
        assert_eq!(found.len(), 21);
        assert!(found.iter().all(|e| views.matches(e)));
        let burst = &found[burst_among(&found, 2, 5 * MIN, 191 * MIN).unwrap()];
        assert_eq!(burst.iter().map(|e| e.at_us / MIN).collect::<Vec<_>>(), vec![190, 191]);
        assert!(burst_among(&found, 2, 5 * MIN, 100 * MIN).is_none(), "views 10 minutes apart");
        // Exactly as many as the stack holds, then other events: all kept on the stack, none
        // overwritten by what came after.
        let list: Vec<(i64, &str)> =
            (0..FEW as i64).map(|k| (k, "view")).chain((20..25).map(|k| (k, "cart"))).collect();
        let events = history(&list);
        let found = matching(&events, &views, &mut stack);
        assert!(matches!(found, Cow::Borrowed(_)), "16 views fit on the stack");
        assert_eq!(found.iter().map(|e| e.at_us / MIN).collect::<Vec<_>>(), (0..FEW as i64).collect::<Vec<_>>());
    }

    #[test]
    fn absence_looks_only_between_the_anchor_and_the_deadline() {
        let buy = pattern(&["buy"]);
        let events = history(&[(0, "cart"), (30, "buy"), (90, "buy")]);
        assert!(!absent(&events, &buy, 0, 60 * MIN), "bought at 30");
        assert!(absent(&events, &buy, 30 * MIN, 89 * MIN), "the buy at 30 is not after 30; 90 is past 89");
        assert!(!absent(&events, &buy, 30 * MIN, 90 * MIN), "the deadline itself counts");
    }

    #[test]
    fn off_path_reports_transitions_the_journey_does_not_expect() {
        // Stages: home 0, view 1, cart/buy 2; expected 0→1, 1→2.
        let stage = |e: &Entry| match NAMES[e.name() as usize] {
            "home" => Some(0),
            "view" => Some(1),
            "cart" | "buy" => Some(2),
            _ => None,
        };
        let expected = [(0, 1), (1, 2)];
        let events = history(&[(0, "home"), (1, "ticket"), (2, "cart"), (3, "view"), (4, "view")]);
        let at = |minute: i64| *events.iter().find(|e| e.at_us == minute * MIN).unwrap();
        assert_eq!(off_path(&events, &at(2), stage, &expected), Some((0, 2)), "skipped Engagement");
        assert_eq!(off_path(&events, &at(3), stage, &expected), Some((2, 1)), "went back");
        assert_eq!(off_path(&events, &at(4), stage, &expected), None, "same stage");
        assert_eq!(off_path(&events, &at(0), stage, &expected), None, "nothing before");
        assert_eq!(off_path(&events, &at(1), stage, &expected), None, "not a stage event");
    }
}
