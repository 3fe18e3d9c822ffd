//! The parallel scans: every customer of the event index visited on all cores, and the
//! medians the answers report.

use app::types::OrderMode;
use rayon::prelude::*;

use super::{
    channels::ChannelFilter,
    funnel::{self, Classifier, CustomerProgress, FunnelEvent, FunnelSpec},
};
use crate::index::{CustomerEvents, Entry, IndexData};

/// Customers per parallel task: small enough to balance two cores, large enough that a task
/// outweighs its scheduling.
const CHUNK: usize = 4096;

/// A customer's events from `from_us` to `to_us`, both included.
pub(super) fn in_span(events: &[Entry], from_us: i64, to_us: i64) -> &[Entry] {
    let start = events.partition_point(|e| e.at_us < from_us);
    let end = events.partition_point(|e| e.at_us <= to_us);
    &events[start..end.max(start)]
}

/// Runs `visit` over every customer of the index on all cores, each call with an emptied
/// scratch buffer (reused within a task), and collects what it finds.
pub(super) fn each_customer<T, V>(data: &IndexData, visit: V) -> Vec<T>
where
    T: Send,
    V: Fn(&CustomerEvents, &mut Vec<Entry>) -> Option<T> + Sync,
{
    data.customers()
        .par_chunks(CHUNK)
        .flat_map_iter(|chunk| {
            let mut scratch: Vec<Entry> = Vec::new();
            let mut found = Vec::new();
            for customer in chunk {
                scratch.clear();
                found.extend(visit(customer, &mut scratch));
            }
            found
        })
        .collect()
}

/// Runs `visit` over every customer of the index on all cores, each task adding what it finds
/// to its own `init()` (with a scratch buffer emptied for each customer), and merges the
/// tasks' results: for answers that add up, nothing is kept per customer.
pub(super) fn fold_customers<A, I, V, M>(data: &IndexData, init: I, visit: V, merge: M) -> A
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    V: Fn(&mut A, &CustomerEvents, &mut Vec<Entry>) + Sync,
    M: Fn(&mut A, A) + Sync + Send,
{
    data.customers()
        .par_chunks(CHUNK)
        .fold(
            || (init(), Vec::new()),
            |(mut acc, mut scratch), chunk| {
                for customer in chunk {
                    scratch.clear();
                    visit(&mut acc, customer, &mut scratch);
                }
                (acc, scratch)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(&init, |mut a, b| {
            merge(&mut a, b);
            a
        })
}

/// Runs the funnel over every customer of the index on all cores: each task folds its
/// customers' progress into a fresh `init()` with `add`, and the tasks' results are merged.
pub(super) fn scan_funnel<A, I, F, M>(
    data: &IndexData,
    spec: &FunnelSpec,
    all_events: bool,
    init: I,
    add: F,
    merge: M,
) -> A
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &CustomerEvents, &CustomerProgress) + Sync,
    M: Fn(&mut A, A) + Sync + Send,
{
    let mut found = scan_funnels(data, std::slice::from_ref(spec), all_events, init, add, merge);
    found.pop().expect("one result per funnel")
}

/// As [`scan_funnel`] for several funnels at once, one result each: every customer's events
/// are read once for all of them, while they are in the cache.
pub(super) fn scan_funnels<A, I, F, M>(
    data: &IndexData,
    specs: &[FunnelSpec],
    all_events: bool,
    init: I,
    add: F,
    merge: M,
) -> Vec<A>
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &CustomerEvents, &CustomerProgress) + Sync,
    M: Fn(&mut A, A) + Sync + Send,
{
    let funnels: Vec<(&FunnelSpec, Classifier, ChannelFilter, (i64, i64))> = specs
        .iter()
        .map(|spec| {
            let classifier =
                Classifier::new(spec, data.names_len(), |name| data.name_id(name), |column| data.column(column));
            let channel = ChannelFilter::new(data, spec.channel.as_deref());
            (spec, classifier, channel, (spec.from_us, spec.to_us + spec.window_us))
        })
        .collect();
    let fresh = || specs.iter().map(|_| init()).collect::<Vec<A>>();
    // Folded, not mapped then reduced: each task keeps adding to its accumulator, so the
    // step times (millions) are merged a few times, not once per chunk up a reduction tree.
    data.customers()
        .par_chunks(CHUNK)
        .fold(
            // Per funnel with a breakdown, the customers of a chunk who entered, added once
            // their values are looked up together (`add_with_breakdowns`); kept from chunk to
            // chunk, since a list allocated for each chunk was copied as it grew and its fresh
            // pages faulted in (as much time as the scan itself in a profile of breakdowns).
            || {
                let entered: Vec<Entrants> = funnels.iter().map(|_| Entrants::default()).collect();
                (fresh(), Vec::<FunnelEvent>::new(), entered)
            },
            |(mut accs, mut events, mut entered), chunk| {
                let mut progress = CustomerProgress::default();
                for customer in chunk {
                    for (((spec, classifier, channel, (from, to)), acc), entered) in
                        funnels.iter().zip(accs.iter_mut()).zip(entered.iter_mut())
                    {
                        if !channel.admits(customer) {
                            continue;
                        }
                        let span = in_span(&customer.events, *from, *to);
                        // Nobody enters without a first step in the range: most customers of a
                        // later stage's transition are passed over without classifying anything.
                        if !span.iter().take_while(|e| e.at_us < spec.to_us).any(|e| classifier.may_start(e.name())) {
                            continue;
                        }
                        events.clear();
                        for e in span {
                            // Strict order sees every other event, page views only if not left out.
                            let other_counts = all_events && !(spec.skip_page_views && data.is_page_view(e.name()));
                            if e.is_named() && (other_counts || classifier.is_relevant(e.name())) {
                                events.push(classifier.classify(e.at_us, e.seq(), e.name()));
                            }
                        }
                        if events.iter().any(|e| e.steps != 0) {
                            if classifier.breaks_down() {
                                let slot = entered.next_slot(customer);
                                funnel::progress_into(spec, &mut events, slot);
                                if slot.reached > 0 {
                                    entered.keep();
                                }
                                continue;
                            }
                            funnel::progress_into(spec, &mut events, &mut progress);
                            if progress.reached > 0 {
                                add(acc, customer, &progress);
                            }
                        }
                    }
                }
                for (((_, classifier, _, _), acc), entered) in
                    funnels.iter().zip(accs.iter_mut()).zip(entered.iter_mut())
                {
                    add_with_breakdowns(classifier, entered, |customer, progress| add(acc, customer, progress));
                }
                (accs, events, entered)
            },
        )
        .map(|(accs, _, _)| accs)
        .reduce(fresh, |a, b| merge_each(&merge, a, b))
}

/// The customers of a chunk who entered a funnel with a breakdown, with their progress: the
/// list keeps its slots from chunk to chunk, and each customer's progress is written in place
/// over a slot (copied into the list, 200 bytes a customer, it was a tenth of a breakdown's
/// samples at 100M events).
#[derive(Default)]
struct Entrants<'a> {
    slots: Vec<(&'a CustomerEvents, CustomerProgress)>,
    len: usize,
}

impl<'a> Entrants<'a> {
    /// The progress to write for `customer`, kept only if [`Entrants::keep`] follows.
    fn next_slot(&mut self, customer: &'a CustomerEvents) -> &mut CustomerProgress {
        if self.len == self.slots.len() {
            self.slots.push((customer, CustomerProgress::default()));
        }
        let slot = &mut self.slots[self.len];
        slot.0 = customer;
        &mut slot.1
    }

    /// Keeps the customer of the last slot handed out.
    fn keep(&mut self) {
        self.len += 1;
    }
}

/// Sets each entered customer's breakdown value, the value of their counted attempt's first
/// step, then adds them. The values are looked up in one tight loop, not one between two
/// customers' scans: each is a random read into a column of 4 bytes an event (40 MB at 10M
/// events), and the processor overlaps the cache misses of independent reads only when
/// nothing else comes between them (at 10M events the reads one at a time took about 120 ms
/// of CPU a breakdown, in a profile; looked up together, the breakdown went from 235-250 ms to
/// 169-191 ms).
fn add_with_breakdowns(
    classifier: &Classifier<'_>,
    entered: &mut Entrants<'_>,
    mut add: impl FnMut(&CustomerEvents, &CustomerProgress),
) {
    let kept = &mut entered.slots[..entered.len];
    for (_, progress) in kept.iter_mut() {
        progress.breakdown = classifier.breakdown_at(progress.started_seq);
    }
    for (customer, progress) in kept.iter() {
        add(customer, progress);
    }
    entered.len = 0;
}

/// What one customer did at a stage transition they entered (had an event of its first stage
/// in the range): all a journey's drop-offs need of their counted attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transition {
    /// Reached the next stage within the window.
    WentOn,
    /// Did not: the time from their counted entry to their last event in its window.
    Left { stayed_us: i64 },
}

impl Transition {
    /// The outcome of a transition asked as a two-step funnel; `None` if the customer never
    /// entered it.
    pub(super) fn of(progress: &CustomerProgress) -> Option<Self> {
        match progress.reached {
            0 => None,
            1 => Some(Transition::Left { stayed_us: progress.last_seen_us }),
            _ => Some(Transition::WentOn),
        }
    }
}

/// The transitions of a journey's stages (`transitions[k]`: stage k, then stage k+1, in
/// order, every event counting), one result each, adding every customer's
/// [`Transition`]: each event is classified once against `whole` (every stage a step) and
/// each transition reads its pair of stages from that, instead of classifying every event once
/// per transition.
pub(super) fn scan_transitions<A, I, F, M>(
    data: &IndexData,
    whole: &FunnelSpec,
    transitions: &[FunnelSpec],
    init: I,
    add: F,
    merge: M,
) -> Vec<A>
where
    A: Send,
    I: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &CustomerEvents, Transition) + Sync,
    M: Fn(&mut A, A) + Sync + Send,
{
    // A step is a bit of a 32-bit mask: a longer journey asks each transition on its own.
    if whole.steps.len() > u32::BITS as usize || transitions.len() + 1 != whole.steps.len() {
        let add_outcome = |acc: &mut A, customer: &CustomerEvents, progress: &CustomerProgress| {
            if let Some(outcome) = Transition::of(progress) {
                add(acc, customer, outcome);
            }
        };
        return scan_funnels(data, transitions, true, init, add_outcome, merge);
    }
    let classifier = Classifier::new(whole, data.names_len(), |name| data.name_id(name), |column| data.column(column));
    let channel = ChannelFilter::new(data, whole.channel.as_deref());
    let (from, to) = (whole.from_us, whole.to_us + whole.window_us);
    let fresh = || transitions.iter().map(|_| init()).collect::<Vec<A>>();
    data.customers()
        .par_chunks(CHUNK)
        // Every counted event with all its stages and, for a page view left out, the stages
        // its name may count as: a transition keeps it only if its name is one of its two
        // stages' (or an exclusion), as a funnel of the pair alone would. Folded, as in
        // `scan_funnels`.
        .fold(
            || (fresh(), Vec::<(FunnelEvent, Option<u32>)>::new(), Vec::<FunnelEvent>::new()),
            |(mut accs, mut events, mut pair), chunk| {
                let mut progress = CustomerProgress::default();
                for customer in chunk {
                    if !channel.admits(customer) {
                        continue;
                    }
                    events.clear();
                    let mut stages_in_range = 0u32;
                    for e in in_span(&customer.events, from, to) {
                        let only_as_stage = whole.skip_page_views && data.is_page_view(e.name());
                        if e.is_named() && (!only_as_stage || classifier.is_relevant(e.name())) {
                            let event = classifier.classify(e.at_us, e.seq(), e.name());
                            if e.at_us < whole.to_us {
                                stages_in_range |= event.steps;
                            }
                            events.push((event, only_as_stage.then(|| classifier.named_steps(e.name()))));
                        }
                    }
                    for (k, (spec, acc)) in transitions.iter().zip(accs.iter_mut()).enumerate() {
                        // Nobody enters a transition without its first stage in the range.
                        if stages_in_range & (1 << k) == 0 {
                            continue;
                        }
                        let in_place = spec.mode == OrderMode::Sequential
                            && spec.exclusions.is_empty()
                            && spec.hold_property.is_none();
                        let outcome = if in_place {
                            transition_in_place(spec, &events, k)
                        } else {
                            pair.clear();
                            pair.extend(events.iter().filter_map(|&(event, named)| {
                                kept_by_pair(event, named, k)
                                    .then_some(FunnelEvent { steps: (event.steps >> k) & 0b11, ..event })
                            }));
                            funnel::progress_into(spec, &mut pair, &mut progress);
                            Transition::of(&progress)
                        };
                        if let Some(outcome) = outcome {
                            add(acc, customer, outcome);
                        }
                    }
                }
                (accs, events, pair)
            },
        )
        .map(|(accs, _, _)| accs)
        .reduce(fresh, |a, b| merge_each(&merge, a, b))
}

/// Whether the funnel of stages k and k+1 alone sees this event: a page view left out only if
/// its name may count as one of the two (or it is an exclusion).
fn kept_by_pair(event: FunnelEvent, named: Option<u32>, k: usize) -> bool {
    named.is_none_or(|named| (named >> k) & 0b11 != 0 || event.excluded)
}

/// Transition k of one customer's classified events, read where they lie: what
/// [`funnel::progress_into`] answers for the pair of stages in order with no exclusion and no
/// property held, without copying the pair's events out and ordering their ties. (Copying
/// them was most of a drop-offs scan at 100M events, in a profile.)
///
/// The customer went on if some event of stage k+1 comes within the window after an entry (an
/// event of stage k in the range); the latest entry before it is the one to measure from. At
/// one time, the events of stage k come before those of stage k+1 only, as
/// [`funnel::order_ties`] puts them. Otherwise the counted entry is the first one.
fn transition_in_place(spec: &FunnelSpec, events: &[(FunnelEvent, Option<u32>)], k: usize) -> Option<Transition> {
    let (this_stage, next_stage) = (1u32 << k, 2u32 << k);
    let mut latest_entry: Option<i64> = None;
    let mut first_entry: Option<i64> = None;
    let mut last_seen = 0i64;
    // The time of the latest event of stage k+1 only: an entry at the same time comes before it.
    let mut next_only_at: Option<i64> = None;
    for &(event, named) in events {
        let at = event.at_us;
        if event.steps & next_stage != 0 {
            if latest_entry.is_some_and(|entry| at - entry <= spec.window_us) {
                return Some(Transition::WentOn);
            }
            if event.steps & this_stage == 0 {
                next_only_at = Some(at);
            }
        }
        if event.steps & this_stage != 0 && spec.from_us <= at && at < spec.to_us {
            if next_only_at == Some(at) {
                return Some(Transition::WentOn);
            }
            latest_entry = Some(at);
            first_entry.get_or_insert(at);
        }
        if first_entry.is_some_and(|entry| at - entry <= spec.window_us) && kept_by_pair(event, named, k) {
            last_seen = at;
        }
    }
    first_entry.map(|entry| Transition::Left { stayed_us: last_seen - entry })
}

/// The results of two tasks merged, one funnel's with the same funnel's.
fn merge_each<A>(merge: &impl Fn(&mut A, A), mut into: Vec<A>, other: Vec<A>) -> Vec<A> {
    for (a, b) in into.iter_mut().zip(other) {
        merge(a, b);
    }
    into
}

/// The median of durations in µs, in seconds, without sorting them all (reorders them).
pub(crate) fn median_seconds_unsorted(us: &mut [i64]) -> Option<f64> {
    let n = us.len();
    if n == 0 {
        return None;
    }
    let (below, &mut upper, _) = us.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return Some(upper as f64 / 1e6);
    }
    let lower = below.iter().copied().max().unwrap_or(upper);
    Some((lower as f64 + upper as f64) / 2e6)
}

/// The median of sorted durations in µs, in seconds.
pub(super) fn median_seconds(sorted_us: &[i64]) -> Option<f64> {
    match sorted_us.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted_us[n / 2] as f64 / 1e6),
        n => Some((sorted_us[n / 2 - 1] as f64 + sorted_us[n / 2] as f64) / 2e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_without_sorting_equals_the_median_of_the_sorted_list() {
        let mut odd = vec![5_000_000, 1_000_000, 3_000_000];
        assert_eq!(median_seconds_unsorted(&mut odd), Some(3.0));
        let mut even = vec![4_000_000, 1_000_000, 2_000_000, 10_000_000];
        assert_eq!(median_seconds_unsorted(&mut even), Some(3.0));
        assert_eq!(median_seconds_unsorted(&mut []), None);
    }

    /// Every transition of a journey answered from one classification equals its pair of
    /// stages asked as a funnel of its own: page views left out or not, ties, an exclusion.
    #[test]
    fn transitions_from_one_classification_equal_each_pair_asked_alone() {
        use app::types::StepEvent;

        use crate::store::CommittedBatch;

        const MIN: i64 = 60_000_000;
        let names = ["home", "browse", "cart", "checkout", "buy", "help", "refund"];
        let mut data = IndexData::default();
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut events = Vec::new();
        for seq in 1..=3_000i64 {
            let name = names[next(names.len() as u64) as usize];
            // Checkout, help and refund are page views; every third minute is shared (ties).
            let kind = if ["checkout", "help", "refund"].contains(&name) { "page" } else { "track" };
            let at_s = next(600) as i64 / 3 * 3 * 60;
            let mut stored = crate::index::tests::event(seq, at_s, Some(name), None, Some(&format!("c{}", next(60))));
            stored.event.kind = kind.into();
            events.push(stored);
        }
        data.apply(&CommittedBatch::of(events));
        // Stages of one name each, and stages sharing names (an event of two stages at once).
        let apart: Vec<Vec<StepEvent>> = names[..5].iter().map(|n| vec![StepEvent::named(*n)]).collect();
        let sharing: Vec<Vec<StepEvent>> =
            [&["home"][..], &["browse"], &["browse", "cart"], &["cart", "checkout"], &["buy"]]
                .iter()
                .map(|stage| stage.iter().map(|n| StepEvent::named(*n)).collect())
                .collect();
        let cases = [false, true].into_iter().flat_map(|skip_page_views| {
            [&apart, &sharing].into_iter().flat_map(move |stages| {
                [vec![], vec!["refund".to_string()]]
                    .into_iter()
                    .map(move |exclusions| (skip_page_views, stages, exclusions))
            })
        });
        for (skip_page_views, stages, exclusions) in cases {
            let whole = FunnelSpec {
                steps: stages.clone(),
                window_us: 60 * MIN,
                from_us: 30 * MIN,
                to_us: 400 * MIN,
                mode: OrderMode::Sequential,
                exclusions: exclusions.clone(),
                hold_property: None,
                breakdown: None,
                channel: None,
                skip_page_views,
            };
            let transitions: Vec<FunnelSpec> =
                whole.steps.windows(2).map(|pair| FunnelSpec { steps: pair.to_vec(), ..whole.clone() }).collect();
            type Found = Vec<(String, Transition)>;
            let init = Vec::new;
            let add_progress = |found: &mut Found, c: &CustomerEvents, p: &CustomerProgress| {
                found.extend(Transition::of(p).map(|outcome| (c.id.to_string(), outcome)))
            };
            let add = |found: &mut Found, c: &CustomerEvents, outcome| found.push((c.id.to_string(), outcome));
            let merge = |a: &mut Found, b: Found| a.extend(b);
            let mut alone = scan_funnels(&data, &transitions, true, init, add_progress, merge);
            let mut together = scan_transitions(&data, &whole, &transitions, init, add, merge);
            for found in alone.iter_mut().chain(together.iter_mut()) {
                found.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let case = format!("skip_page_views={skip_page_views} stages={stages:?} exclusions={exclusions:?}");
            assert!(alone.iter().all(|found| !found.is_empty()), "every transition has customers: {case}");
            for kind in [|t: &Transition| *t == Transition::WentOn, |t: &Transition| *t != Transition::WentOn] {
                assert!(
                    alone.iter().any(|found| found.iter().any(|(_, t)| kind(t))),
                    "some went on, some left: {case}"
                );
            }
            assert_eq!(together, alone, "{case}");
        }
    }
}
