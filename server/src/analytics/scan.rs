//! The parallel scans: every customer of the event index visited on all cores, and the
//! medians the answers report.

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
/// are read once for all of them, while they are in the cache (the journey's drop-offs ask
/// a funnel per stage transition).
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
    data.customers()
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut events: Vec<FunnelEvent> = Vec::new();
            let mut accs = fresh();
            for customer in chunk {
                for ((spec, classifier, channel, (from, to)), acc) in funnels.iter().zip(accs.iter_mut()) {
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
                        let progress = funnel::progress(spec, &mut events);
                        if progress.reached > 0 {
                            add(acc, customer, &progress);
                        }
                    }
                }
            }
            accs
        })
        .reduce(fresh, |mut a, b| {
            for (a, b) in a.iter_mut().zip(b) {
                merge(a, b);
            }
            a
        })
}

/// The median of durations in µs, in seconds, without sorting them all (reorders them).
pub(super) fn median_seconds_unsorted(us: &mut [i64]) -> Option<f64> {
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
}
