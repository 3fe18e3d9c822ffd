//! Funnels: how many customers got how far through ordered steps within a conversion window.
//!
//! A customer counts at step k when some occurrence of step 1 inside the date range is
//! followed, within the window, by steps 2..k — the furthest step over all of the customer's
//! attempts, as ClickHouse's `windowFunnel` and PostHog count. Events with the same timestamp
//! are taken in step order whatever order they arrived in ([`order_ties`]), as both count
//! them: a step may share its predecessor's timestamp. Pure functions over one
//! customer's events in time order, each event first classified ([`Classifier`]) into the
//! steps it counts as; the events come from the in-memory event index (`index.rs`) and the
//! property values from its materialised property columns (`columns.rs`).

use rustc_hash::FxHashMap;

use app::types::{BreakdownGroup, FunnelResult, OrderMode, StepEvent, StepResult, TimeBucket, TrendPoint};
use rayon::prelude::*;

/// What to count.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelSpec {
    /// Steps in order, each one or more event names that count as that step. A name may
    /// appear in more than one step (a repeated step).
    pub steps: Vec<Vec<StepEvent>>,
    /// Microseconds from the first step in which the others must happen.
    pub window_us: i64,
    /// Attempts must start in `[from_us, to_us)`; later steps may fall after `to_us`.
    pub from_us: i64,
    pub to_us: i64,
    pub mode: OrderMode,
    /// Attempts in which one of these events happens between the first step and the last
    /// step reached do not count.
    pub exclusions: Vec<String>,
    /// When set, every step of an attempt must carry the same value of this property
    /// (the same product or order across steps).
    pub hold_property: Option<String>,
    /// When set, the funnel is also split by this property of the first step's event.
    pub breakdown: Option<Column>,
    /// When set, only customers whose first touch came through this channel count (see
    /// [`super::channels`]).
    pub channel: Option<String>,
    /// Page views that are not steps are left out, so that in strict order a page view
    /// between two steps does not break the sequence.
    pub skip_page_views: bool,
}

pub use crate::index::columns::NONE;
use crate::index::{
    columns::{self, Conditions, PropertyColumn},
    Column,
};

/// One event as a funnel sees it: when, which steps it counts as, and the property values it
/// carries, as ids into their columns' dictionaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunnelEvent {
    pub at_us: i64,
    /// Bit k set: the event counts as step k.
    pub steps: u32,
    /// The event is one of the funnel's exclusions.
    pub excluded: bool,
    /// Value id of the property held constant, or [`NONE`].
    pub held: u32,
    /// The event's sequence number: its breakdown value is looked up only if it starts the
    /// counted attempt ([`Classifier::breakdown_at`]), not for every event (a random read
    /// into a column of 4 bytes per event, most of a breakdown's cost at 10M events).
    pub seq: i64,
    /// Name id, to report what a customer did next.
    pub name: u32,
}

/// A step alternative that filters on properties: the step's bit, and the value each
/// property column must hold (`None` when some wanted value is carried by no event).
#[derive(Debug, Clone)]
struct FilteredStep<'a> {
    step_bit: u32,
    conditions: Conditions<'a>,
}

/// What each event counts as in a funnel: steps and exclusions by name id, property filters,
/// breakdown and held values from materialised property columns.
#[derive(Debug, Clone, Default)]
pub struct Classifier<'a> {
    /// Steps a name counts as without looking at properties.
    plain_steps: Vec<u32>,
    /// Per name id, the alternatives that filter it on properties.
    filtered: Vec<Vec<FilteredStep<'a>>>,
    excluded: Vec<bool>,
    /// Per name id, whether its events may start an attempt (see [`Classifier::may_start`]).
    starts: Vec<bool>,
    breakdown: Option<&'a PropertyColumn>,
    held: Option<&'a PropertyColumn>,
}

impl<'a> Classifier<'a> {
    /// `name_id` maps an event name to its id (below `names`), if any event has that name;
    /// `column` finds a materialised property column.
    pub fn new(
        spec: &FunnelSpec,
        names: usize,
        name_id: impl Fn(&str) -> Option<u32>,
        column: impl Fn(&Column) -> Option<&'a PropertyColumn>,
    ) -> Self {
        let mut c = Classifier {
            plain_steps: vec![0; names],
            filtered: vec![Vec::new(); names],
            excluded: vec![false; names],
            starts: Vec::new(),
            breakdown: spec.breakdown.as_ref().and_then(&column),
            held: spec.hold_property.as_ref().and_then(|p| column(&Column::Property(p.clone()))),
        };
        let id_of = |name: &str| name_id(name).map(|i| i as usize).filter(|&i| i < names);
        for (k, step) in spec.steps.iter().enumerate() {
            for event in step {
                let Some(id) = id_of(&event.name) else { continue };
                if event.filters.is_empty() {
                    c.plain_steps[id] |= 1 << k;
                } else {
                    let property = |name: &str| column(&Column::Property(name.to_string()));
                    let conditions = columns::conditions(&event.filters, property);
                    c.filtered[id].push(FilteredStep { step_bit: 1 << k, conditions });
                }
            }
        }
        for name in &spec.exclusions {
            if let Some(id) = id_of(name) {
                c.excluded[id] = true;
            }
        }
        let first = if spec.mode == OrderMode::Any { u32::MAX } else { 1 };
        c.starts = (0..names)
            .map(|i| c.plain_steps[i] & first != 0 || c.filtered[i].iter().any(|f| f.step_bit & first != 0))
            .collect();
        c
    }

    /// The steps an event of this name may count as, property filters aside.
    pub fn named_steps(&self, name: u32) -> u32 {
        let i = name as usize;
        let filtered =
            self.filtered.get(i).map_or(0, |alternatives| alternatives.iter().fold(0, |m, f| m | f.step_bit));
        self.plain_steps.get(i).copied().unwrap_or(0) | filtered
    }

    /// Whether an event of this name may start an attempt: it may be the first step (any step
    /// in any order), property filters aside. A customer without one cannot enter.
    pub fn may_start(&self, name: u32) -> bool {
        self.starts.get(name as usize).copied().unwrap_or(false)
    }

    /// Whether events of this name matter to the funnel (a step or an exclusion).
    pub fn is_relevant(&self, name: u32) -> bool {
        let i = name as usize;
        i < self.plain_steps.len() && (self.plain_steps[i] != 0 || !self.filtered[i].is_empty() || self.excluded[i])
    }

    /// Inlined into the scans: called out of line, its result was written to the stack in
    /// parts and read back whole to be pushed, a stalled load on every event (the hottest
    /// instruction of a funnel's profile at 100M events).
    #[inline(always)]
    pub fn classify(&self, at_us: i64, seq: i64, name: u32) -> FunnelEvent {
        let i = name as usize;
        let mut steps = self.plain_steps.get(i).copied().unwrap_or(0);
        if let Some(filtered) = self.filtered.get(i).filter(|f| !f.is_empty()) {
            steps |= filtered_steps(filtered, seq);
        }
        FunnelEvent {
            at_us,
            steps,
            excluded: self.excluded.get(i).copied().unwrap_or(false),
            held: self.held.map_or(NONE, |c| c.get(seq)),
            seq,
            name,
        }
    }

    /// Whether the funnel is split by a breakdown property (materialised).
    pub fn breaks_down(&self) -> bool {
        self.breakdown.is_some()
    }

    /// The breakdown value of event `seq` (the counted attempt's first step), if any.
    pub fn breakdown_at(&self, seq: i64) -> Option<u32> {
        self.breakdown.map(|c| c.get(seq)).filter(|&id| id != NONE)
    }
}

/// The step bits of the alternatives whose property filters event `seq` passes.
#[inline(never)]
fn filtered_steps(alternatives: &[FilteredStep<'_>], seq: i64) -> u32 {
    alternatives
        .iter()
        .filter(|f| f.conditions.as_ref().is_some_and(|c| c.iter().all(|(col, want)| col.get(seq) == *want)))
        .fold(0, |steps, f| steps | f.step_bit)
}

/// How far one customer got, and when they reached each step (µs after the attempt's start).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerProgress {
    /// Steps reached, 0 if the customer never entered.
    pub reached: usize,
    /// `offsets_us[k]` = time from step 1 to step k+1 in the counted attempt (the first
    /// `reached` are set; a fixed array keeps the scan free of allocations).
    pub offsets_us: [i64; super::MAX_STEPS],
    /// Offset of the customer's last event within the attempt's window.
    pub last_seen_us: i64,
    /// Name id of what the customer did right after the last step they reached, if anything.
    pub next_event: Option<u32>,
    /// When the counted attempt started (µs since the epoch).
    pub started_us: i64,
    /// The sequence number of the counted attempt's first step.
    pub started_seq: i64,
    /// Value id of the breakdown property on the counted attempt's first step (set by the
    /// scan, [`Classifier::breakdown_at`]).
    pub breakdown: Option<u32>,
}

impl CustomerProgress {
    /// Time from step 1 to each step reached.
    pub fn offsets(&self) -> &[i64] {
        &self.offsets_us[..self.reached.min(super::MAX_STEPS)]
    }

    /// Sets the steps reached, with the times past them zeroed (a progress written over
    /// another equals a fresh one).
    fn set_reached(&mut self, reached: usize) {
        if self.reached > reached {
            self.offsets_us[reached..self.reached].fill(0);
        }
        self.reached = reached;
    }
}

impl FunnelSpec {
    /// Whether any step filters on properties (the query must then bring them).
    pub fn filters_properties(&self) -> bool {
        self.steps.iter().flatten().any(|s| !s.filters.is_empty())
    }

    /// The columns the funnel reads: breakdown, held, the channel column when it filters by
    /// channel, and the properties its steps filter on.
    pub fn columns(&self) -> Vec<Column> {
        let mut names: Vec<Column> = self.breakdown.iter().cloned().collect();
        names.extend(self.hold_property.iter().map(|p| Column::Property(p.clone())));
        if self.channel.is_some() {
            names.push(Column::Channel);
        }
        for (key, _) in self.steps.iter().flatten().flat_map(|s| &s.filters) {
            let property = Column::Property(key.clone());
            if !names.contains(&property) {
                names.push(property);
            }
        }
        names
    }

    /// A step's label: its event names joined by " | ".
    pub fn label(&self, step: usize) -> String {
        self.steps[step].iter().map(StepEvent::label).collect::<Vec<_>>().join(" | ")
    }
}

fn is_step(event: &FunnelEvent, step: usize) -> bool {
    event.steps & (1 << step) != 0
}

/// Puts events that share a timestamp in step order: events that are no step first, then by
/// the earliest step each counts as (ClickHouse's `windowFunnel` sorts its events by
/// timestamp, then by condition, the same way). `events` must be in time order; their order
/// stays as it was otherwise (the sort is stable, and linear on the usual tie-free list).
pub fn order_ties(events: &mut [FunnelEvent]) {
    if events.windows(2).any(|pair| pair[0].at_us == pair[1].at_us) {
        events.sort_by_key(|e| (e.at_us, if e.steps == 0 { 0 } else { 1 + e.steps.trailing_zeros() }));
    }
}

/// The furthest attempt of one customer, whose events are in time order (ties are put in
/// step order first, [`order_ties`]).
pub fn progress(spec: &FunnelSpec, events: &mut [FunnelEvent]) -> CustomerProgress {
    let mut progress = CustomerProgress::default();
    progress_into(spec, events, &mut progress);
    progress
}

/// As [`progress`], written over `out`: the scans keep one for all their customers, since
/// returning one (200 bytes, with room for every step's time) and copying it on was 5-8 % of
/// a funnel's samples in a profile at 10M events.
pub fn progress_into(spec: &FunnelSpec, events: &mut [FunnelEvent], out: &mut CustomerProgress) {
    order_ties(events);
    let events = &*events;
    // One attempt at a time in a scratch kept on the stack; the counted one is run again at
    // the end rather than copied each time one gets further (an attempt holds 20 offsets; in
    // a profile of the 10M benchmark's funnels, these copies were 3 % of the samples).
    let mut attempt = Attempt::empty();
    let mut best: Option<(usize, usize)> = None;
    let furthest = furthest_possible(spec, events);
    for (start, event) in events.iter().enumerate() {
        if !starts_attempt(spec, event) {
            continue;
        }
        run_attempt(spec, &events[start..], &mut attempt);
        if excluded(&events[start..], &attempt) {
            continue;
        }
        // The earliest attempt that gets furthest is the one counted: once one gets as far as
        // the customer's events allow, no later attempt is tried (most customers leave a
        // funnel early, and each attempt reads on to its window's end).
        if attempt.reached() > best.map_or(0, |(_, reached)| reached) {
            best = Some((start, attempt.reached()));
            if attempt.reached() >= furthest {
                break;
            }
        }
    }
    let Some((start, _)) = best else {
        *out = CustomerProgress::default();
        return;
    };
    run_attempt(spec, &events[start..], &mut attempt);
    finish(spec, &events[start..], &attempt, out);
}

/// Whether an attempt starts at this event: the first step (any step, in any order) inside
/// the date range.
fn starts_attempt(spec: &FunnelSpec, event: &FunnelEvent) -> bool {
    let starts = match spec.mode {
        OrderMode::Any => event.steps != 0,
        _ => is_step(event, 0),
    };
    starts && spec.from_us <= event.at_us && event.at_us < spec.to_us
}

/// The most steps any attempt could reach over these events: in order, the steps up to the
/// first one none of them counts as; in any order, how many steps some event counts as.
fn furthest_possible(spec: &FunnelSpec, events: &[FunnelEvent]) -> usize {
    let present = events.iter().fold(0u32, |steps, e| steps | e.steps);
    let possible = match spec.mode {
        OrderMode::Any => present.count_ones(),
        OrderMode::Sequential | OrderMode::Strict => present.trailing_ones(),
    };
    (possible as usize).min(spec.steps.len())
}

/// One attempt from its first event, `events[0]`, in the spec's order mode.
fn run_attempt(spec: &FunnelSpec, events: &[FunnelEvent], attempt: &mut Attempt) {
    match spec.mode {
        OrderMode::Sequential => sequential(spec, events, attempt),
        OrderMode::Strict => strict(spec, events, attempt),
        OrderMode::Any => any_order(spec, events, attempt),
    }
}

/// Greedy: each next step is its earliest occurrence after the previous one. For
/// "in order, others allowed", taking the earliest never loses a later match.
fn sequential(spec: &FunnelSpec, events: &[FunnelEvent], attempt: &mut Attempt) {
    let start = events[0].at_us;
    attempt.begin_at_first();
    for (i, event) in events.iter().enumerate().skip(1) {
        if event.at_us - start > spec.window_us || attempt.reached() == spec.steps.len() {
            break;
        }
        if is_step(event, attempt.reached()) && holds(spec, &events[0], event) {
            attempt.reach(event.at_us - start, i);
        }
    }
}

/// With a property held constant, a later step must carry the first step's value.
fn holds(spec: &FunnelSpec, first: &FunnelEvent, event: &FunnelEvent) -> bool {
    spec.hold_property.is_none() || (first.held != NONE && first.held == event.held)
}

/// Whether an excluded event happened between the attempt's first and last reached step.
fn excluded(events: &[FunnelEvent], attempt: &Attempt) -> bool {
    events[1..attempt.last_index.max(1)].iter().any(|e| e.excluded)
}

/// The steps one attempt reached, and the index of the event of its last step. On the
/// stack: a customer has many attempts and the scan visits millions of customers.
struct Attempt {
    offsets: [i64; super::MAX_STEPS],
    reached: usize,
    last_index: usize,
}

impl Attempt {
    fn empty() -> Self {
        Attempt { offsets: [0; super::MAX_STEPS], reached: 0, last_index: 0 }
    }

    /// Starts over with nothing reached (offsets past `reached` are stale, never read).
    fn begin(&mut self) {
        (self.reached, self.last_index) = (0, 0);
    }

    /// Starts over with the first step reached at offset 0.
    fn begin_at_first(&mut self) {
        (self.offsets[0], self.reached, self.last_index) = (0, 1, 0);
    }

    fn reached(&self) -> usize {
        self.reached
    }

    fn reach(&mut self, offset_us: i64, index: usize) {
        self.offsets[self.reached] = offset_us;
        self.reached += 1;
        self.last_index = index;
    }
}

/// Writes the counted attempt over `out`, with what happened after it: the last sign of life
/// in its window, and the event that followed its last step.
fn finish(spec: &FunnelSpec, events: &[FunnelEvent], attempt: &Attempt, out: &mut CustomerProgress) {
    let start = events[0].at_us;
    let in_window = events.iter().take_while(|e| e.at_us - start <= spec.window_us);
    out.set_reached(attempt.reached);
    out.offsets_us[..attempt.reached].copy_from_slice(&attempt.offsets[..attempt.reached]);
    out.next_event = events.get(attempt.last_index + 1).map(|e| e.name);
    out.last_seen_us = in_window.last().map_or(0, |e| e.at_us - start);
    out.started_us = start;
    out.started_seq = events[0].seq;
    out.breakdown = None;
}

/// Each next step must be the customer's very next event.
fn strict(spec: &FunnelSpec, events: &[FunnelEvent], attempt: &mut Attempt) {
    let start = events[0].at_us;
    attempt.begin_at_first();
    for (i, event) in events.iter().enumerate().skip(1) {
        if event.at_us - start > spec.window_us || attempt.reached() == spec.steps.len() {
            break;
        }
        if !is_step(event, attempt.reached()) || !holds(spec, &events[0], event) {
            break;
        }
        attempt.reach(event.at_us - start, i);
    }
}

/// Distinct steps seen within the window from an attempt's first step event; step k is
/// reached when k distinct steps have been seen (time is to the k-th of them).
fn any_order(spec: &FunnelSpec, events: &[FunnelEvent], attempt: &mut Attempt) {
    let start = events[0].at_us;
    let mut seen = 0u32;
    attempt.begin();
    for (i, event) in events.iter().enumerate() {
        if event.at_us - start > spec.window_us {
            break;
        }
        let new_steps = event.steps & !seen;
        if new_steps != 0 && holds(spec, &events[0], event) {
            // The lowest step not yet seen, as the first match in step order.
            seen |= new_steps & new_steps.wrapping_neg();
            attempt.reach(event.at_us - start, i);
        }
    }
}

/// Counts durations (µs) into [`BUCKETS`].
fn buckets(durations_us: &[i64]) -> Vec<TimeBucket> {
    let mut out: Vec<TimeBucket> = BUCKETS
        .iter()
        .map(|(label, below)| TimeBucket { label: label.to_string(), below_seconds: *below, customers: 0 })
        .collect();
    // The bucket is the number of upper bounds at or below the duration: a count without
    // branches over millions of durations, over a list of fixed length that the compiler
    // unrolls (over a `Vec` of bounds this was 5 % of a breakdown's samples at 10M events).
    let mut counts = [0u64; BUCKETS.len()];
    for &us in durations_us {
        counts[BOUNDS_US.iter().map(|&b| usize::from(us >= b)).sum::<usize>()] += 1;
    }
    for (bucket, count) in out.iter_mut().zip(counts) {
        bucket.customers = count;
    }
    out
}

/// The buckets' upper bounds in µs (the last bucket has none).
const BOUNDS_US: [i64; BUCKETS.len() - 1] = {
    let mut bounds = [0; BUCKETS.len() - 1];
    let mut i = 0;
    while i < bounds.len() {
        bounds[i] = match BUCKETS[i].1 {
            Some(seconds) => seconds as i64 * 1_000_000,
            None => panic!("only the last bucket is open-ended"),
        };
        i += 1;
    }
    bounds
};

const BUCKETS: &[(&str, Option<u64>)] = &[
    ("< 1 min", Some(60)),
    ("1–5 min", Some(300)),
    ("5–15 min", Some(900)),
    ("15–60 min", Some(3_600)),
    ("1–4 h", Some(14_400)),
    ("4–24 h", Some(86_400)),
    ("1–3 d", Some(259_200)),
    ("3–7 d", Some(604_800)),
    ("≥ 7 d", None),
];

/// The customers who entered a funnel (or one breakdown group of it) and, for every later
/// step, the time each who reached it took from step 1 (µs). Step 1's own times are all 0
/// and are counted, not kept: at 10M events they were a million zeros, pushed, merged and
/// searched for their median on every funnel.
#[derive(Debug, Clone, Default)]
struct StepTimes {
    entered: u64,
    /// `later[k]`: the times to step k+2.
    later: Vec<Vec<i64>>,
}

impl StepTimes {
    fn new(steps: usize) -> Self {
        StepTimes { entered: 0, later: vec![Vec::new(); steps.saturating_sub(1)] }
    }

    /// The entrants of several groups together: with a breakdown, the whole funnel's times
    /// are gathered from its groups' at the end rather than kept twice through the scan (as
    /// many times pushed again, and their lists grown and merged, a tenth of a breakdown's
    /// samples at 100M events).
    fn together<'a>(groups: impl Iterator<Item = &'a StepTimes> + Clone, steps: usize) -> Self {
        let mut all = StepTimes::new(steps);
        all.entered = groups.clone().map(|g| g.entered).sum();
        for (k, times) in all.later.iter_mut().enumerate() {
            times.reserve_exact(groups.clone().map(|g| g.later.get(k).map_or(0, Vec::len)).sum());
            for group in groups.clone() {
                times.extend_from_slice(group.later.get(k).map_or(&[][..], Vec::as_slice));
            }
        }
        all
    }

    /// Counts one entrant, with the times to the later steps they reached.
    fn add(&mut self, offsets: &[i64]) {
        self.entered += 1;
        for (times, offset) in self.later.iter_mut().zip(offsets.iter().skip(1)) {
            times.push(*offset);
        }
    }

    /// Adds the times of other customers. The shorter list of times is copied onto the
    /// longer (every figure is the same in any order: the average is summed exactly, in
    /// integers); merging the parallel tasks' tallies otherwise copied and reallocated the
    /// lists again at every level.
    fn merge(&mut self, other: StepTimes) {
        self.entered += other.entered;
        for (mine, mut theirs) in self.later.iter_mut().zip(other.later) {
            if theirs.len() > mine.len() {
                std::mem::swap(mine, &mut theirs);
            }
            mine.extend(theirs);
        }
    }

    /// Per-step figures (the times are reordered while finding medians); the later steps'
    /// distributions on all cores (a step may hold millions of times).
    fn results(&mut self, spec: &FunnelSpec) -> Vec<StepResult> {
        let first = self.entered;
        let mut at_first = buckets(&[]);
        if let Some(bucket) = at_first.first_mut() {
            bucket.customers = first;
        }
        let zero = (first > 0).then_some(0.0);
        let later: Vec<StepDistribution> = self
            .later
            .par_iter_mut()
            .map(|times| {
                let average = (!times.is_empty()).then(|| times.iter().sum::<i64>() as f64 / times.len() as f64 / 1e6);
                (times.len() as u64, average, buckets(times), super::scan::median_seconds_unsorted(times))
            })
            .collect();
        let distributions = std::iter::once((first, zero, at_first, zero)).chain(later);
        let mut previous = first;
        let mut steps = Vec::with_capacity(spec.steps.len());
        for (k, (count, average_seconds, time_to_convert, median_seconds)) in distributions.enumerate() {
            let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            steps.push(StepResult {
                step: k + 1,
                event: spec.label(k),
                customers: count,
                conversion_from_first: ratio(count, first),
                conversion_from_previous: ratio(count, previous),
                average_seconds,
                time_to_convert,
                median_seconds,
            });
            previous = count;
        }
        steps
    }
}

/// One step's customers, average and median seconds, and time buckets.
type StepDistribution = (u64, Option<f64>, Vec<TimeBucket>, Option<f64>);

/// A funnel's figures added up over customers: per step the times of those who reached it,
/// entrants and conversions per trend period, and the same step times per breakdown value.
/// Tallies of disjoint sets of customers merge into the tally of their union (parallel chunks
/// now, shards of customers later).
#[derive(Debug, Clone, Default)]
pub struct FunnelTally {
    all: StepTimes,
    /// Trend periods' (entered, converted), from `trend_base_us` in steps of `period_us`.
    trend: Vec<(u64, u64)>,
    trend_base_us: i64,
    period_us: i64,
    /// Step times per breakdown value id (`None`: unset), when a breakdown is asked for.
    by_value: Option<FxHashMap<Option<u32>, StepTimes>>,
    steps: usize,
    complete: usize,
}

impl FunnelTally {
    /// An empty tally; `period` = (length, origin) in µs for a trend, `breakdown` to split
    /// by the breakdown value.
    pub fn new(spec: &FunnelSpec, period: Option<(i64, i64)>, breakdown: bool) -> Self {
        let mut tally = FunnelTally {
            all: StepTimes::new(spec.steps.len()),
            by_value: breakdown.then(FxHashMap::default),
            steps: spec.steps.len(),
            complete: spec.steps.len(),
            ..FunnelTally::default()
        };
        if let Some((period_us, origin_us)) = period {
            // Periods are aligned to `origin_us` (midnight UTC for days, a Monday for weeks),
            // so the first one may begin before the range does.
            let base = origin_us + (spec.from_us - origin_us).div_euclid(period_us) * period_us;
            let periods = ((spec.to_us - base + period_us - 1) / period_us).max(1) as usize;
            tally.trend = vec![(0, 0); periods];
            (tally.trend_base_us, tally.period_us) = (base, period_us);
        }
        tally
    }

    /// Counts one customer (who entered, or is ignored).
    pub fn add(&mut self, customer: &CustomerProgress) {
        if customer.reached == 0 {
            return;
        }
        let offsets = &customer.offsets()[..customer.reached.min(self.steps)];
        if !self.trend.is_empty() {
            let last = self.trend.len() - 1;
            let index = (((customer.started_us - self.trend_base_us) / self.period_us).max(0) as usize).min(last);
            self.trend[index].0 += 1;
            if customer.reached == self.complete {
                self.trend[index].1 += 1;
            }
        }
        match &mut self.by_value {
            Some(groups) => groups.entry(customer.breakdown).or_insert_with(|| StepTimes::new(self.steps)).add(offsets),
            None => self.all.add(offsets),
        }
    }

    /// Adds another tally of other customers into this one.
    pub fn merge(&mut self, other: FunnelTally) {
        self.all.merge(other.all);
        for (mine, theirs) in self.trend.iter_mut().zip(other.trend) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        if let (Some(mine), Some(theirs)) = (&mut self.by_value, other.by_value) {
            for (value, times) in theirs {
                match mine.get_mut(&value) {
                    Some(group) => group.merge(times),
                    None => {
                        mine.insert(value, times);
                    }
                }
            }
        }
    }

    /// The per-step figures, the trend and (if tallied) the breakdown into the `top` values
    /// named by `values`.
    pub fn result(mut self, spec: &FunnelSpec, values: &[String], top: usize) -> FunnelResult {
        if let Some(groups) = &self.by_value {
            self.all = StepTimes::together(groups.values(), self.steps);
        }
        let trend = self.trend_points();
        let breakdown = self.breakdown(spec, values, top);
        let steps = self.all.results(spec);
        // The whole funnel's distribution is its last step's.
        let time_to_convert = steps.last().map(|s| s.time_to_convert.clone()).unwrap_or_default();
        FunnelResult {
            mode: spec.mode,
            window_seconds: spec.window_us / 1_000_000,
            steps,
            time_to_convert,
            trend,
            breakdown,
        }
    }

    fn trend_points(&self) -> Vec<TrendPoint> {
        self.trend
            .iter()
            .enumerate()
            .map(|(i, &(entered, converted))| TrendPoint {
                period_start: chrono::DateTime::from_timestamp_micros(self.trend_base_us + i as i64 * self.period_us)
                    .unwrap_or_default(),
                entered,
                converted,
                conversion: if entered == 0 { 0.0 } else { converted as f64 / entered as f64 },
            })
            .collect()
    }

    /// The `top` values with the most entrants, then everything else in "(other)" and
    /// "(none)", so that groups add up to the whole funnel.
    fn breakdown(&mut self, spec: &FunnelSpec, values: &[String], top: usize) -> Vec<BreakdownGroup> {
        let Some(mut groups) = self.by_value.take() else { return Vec::new() };
        let name = |id: u32| values.get(id as usize).map_or("", String::as_str);
        let none = groups.remove(&None).unwrap_or_else(|| StepTimes::new(self.steps));
        let mut ranked: Vec<(u32, StepTimes)> =
            groups.into_iter().filter_map(|(value, times)| Some((value?, times))).collect();
        ranked.sort_by(|a, b| b.1.entered.cmp(&a.1.entered).then_with(|| name(a.0).cmp(name(b.0))));
        let rest = ranked.split_off(top.min(ranked.len()));
        let mut other = StepTimes::new(self.steps);
        for (_, times) in rest {
            other.merge(times);
        }
        ranked
            .into_iter()
            .map(|(value, times)| (name(value).to_string(), times))
            .chain([(OTHER_VALUE.to_string(), other), (NO_VALUE.to_string(), none)])
            .filter(|(_, times)| times.entered > 0)
            .map(|(value, mut times)| BreakdownGroup { steps: times.results(spec), value })
            .collect()
    }
}

/// Adds up customers' progress into per-step figures.
pub fn summarise(spec: &FunnelSpec, customers: &[CustomerProgress]) -> FunnelResult {
    tally(spec, customers, None, false).result(spec, &[], 0)
}

fn tally(spec: &FunnelSpec, customers: &[CustomerProgress], period: Option<(i64, i64)>, by: bool) -> FunnelTally {
    let mut tally = FunnelTally::new(spec, period, by);
    customers.iter().for_each(|c| tally.add(c));
    tally
}

/// Buckets customers by the `period_us`-long period in which their counted attempt started,
/// aligned to `origin_us`.
pub fn trend(spec: &FunnelSpec, customers: &[CustomerProgress], period_us: i64, origin_us: i64) -> Vec<TrendPoint> {
    tally(spec, customers, Some((period_us, origin_us)), false).trend_points()
}

/// The label of customers whose breakdown value is outside the top values.
pub const OTHER_VALUE: &str = "(other)";
/// The label of customers whose first step had no value for the property.
pub const NO_VALUE: &str = "(none)";

/// The funnel split by the breakdown value (ids into `values`) into the `top` values,
/// "(other)" and "(none)".
pub fn breakdown(
    spec: &FunnelSpec,
    customers: &[CustomerProgress],
    values: &[String],
    top: usize,
) -> Vec<BreakdownGroup> {
    tally(spec, customers, None, true).breakdown(spec, values, top)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const MIN: i64 = 60_000_000;
    const HOUR: i64 = 60 * MIN;

    fn spec(steps: &[&str], mode: OrderMode) -> FunnelSpec {
        FunnelSpec {
            steps: steps.iter().map(|s| s.split('|').map(StepEvent::named).collect()).collect(),
            window_us: HOUR,
            from_us: 0,
            to_us: 24 * HOUR,
            mode,
            exclusions: Vec::new(),
            hold_property: None,
            breakdown: None,
            channel: None,
            skip_page_views: false,
        }
    }

    /// An event as the fixtures write it: names and values as text.
    #[derive(Debug, Clone, Default)]
    struct TimedEvent {
        at_us: i64,
        name: String,
        held: Option<String>,
        breakdown: Option<String>,
        properties: Option<serde_json::Map<String, serde_json::Value>>,
    }

    impl TimedEvent {
        fn new(at_us: i64, name: &str) -> Self {
            TimedEvent { at_us, name: name.to_string(), ..TimedEvent::default() }
        }
    }

    fn events(list: &[(i64, &str)]) -> Vec<TimedEvent> {
        list.iter().map(|(at, name)| TimedEvent::new(*at, name)).collect()
    }

    /// Classifies the fixture as the index scan does (sequence number = position, property
    /// columns built from the fixture) and returns the customer's progress with the names.
    fn run(spec: &FunnelSpec, list: &[TimedEvent]) -> (CustomerProgress, Vec<String>) {
        let mut names: Vec<String> = Vec::new();
        let mut columns: HashMap<String, PropertyColumn> = HashMap::new();
        let mut ids = Vec::new();
        for (seq, e) in list.iter().enumerate() {
            let seq = seq as i64;
            let mut set = |key: &Option<String>, value: &Option<String>| {
                if let (Some(key), Some(value)) = (key, value) {
                    columns.entry(key.clone()).or_default().set(seq, value);
                }
            };
            set(&spec.breakdown.as_ref().and_then(|c| c.property_name()).map(str::to_string), &e.breakdown);
            set(&spec.hold_property, &e.held);
            if let Some(properties) = &e.properties {
                let text = serde_json::Value::Object(properties.clone()).to_string();
                let values = crate::index::columns::extract(&text, properties.keys().map(String::as_str));
                for (key, value) in properties.keys().zip(values) {
                    set(&Some(key.clone()), &value);
                }
            }
            match names.iter().position(|n| *n == e.name) {
                Some(i) => ids.push(i as u32),
                None => {
                    names.push(e.name.clone());
                    ids.push(names.len() as u32 - 1);
                }
            }
        }
        let classifier = Classifier::new(
            spec,
            names.len(),
            |n| names.iter().position(|x| x == n).map(|i| i as u32),
            |column| columns.get(column.property_name()?),
        );
        let mut classified: Vec<FunnelEvent> = list
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(seq, (e, id))| classifier.classify(e.at_us, seq as i64, id))
            .collect();
        let mut progress = progress(spec, &mut classified);
        progress.breakdown = classifier.breakdown_at(progress.started_seq);
        (progress, names)
    }

    fn progress_of(spec: &FunnelSpec, list: &[TimedEvent]) -> CustomerProgress {
        run(spec, list).0
    }

    fn reached(spec: &FunnelSpec, list: &[(i64, &str)]) -> usize {
        progress_of(spec, &events(list)).reached
    }

    /// The scans write each customer's progress over the last one's: what is left of a
    /// customer who got further must not show in one who got less far.
    #[test]
    fn a_progress_written_over_another_equals_a_fresh_one() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        let classify = |list: &[(i64, &str)]| -> Vec<FunnelEvent> {
            let names = ["view", "cart", "buy", "search"];
            let classifier =
                Classifier::new(&s, names.len(), |n| names.iter().position(|x| *x == n).map(|i| i as u32), |_| None);
            let id = |name: &str| names.iter().position(|x| *x == name).unwrap() as u32;
            list.iter().enumerate().map(|(seq, (at, name))| classifier.classify(*at, seq as i64, id(name))).collect()
        };
        let further = [(0, "view"), (MIN, "cart"), (2 * MIN, "buy")];
        let less_far = [(10 * MIN, "view"), (11 * MIN, "search")];
        let never = [(0, "cart")];
        let mut reused = CustomerProgress::default();
        progress_into(&s, &mut classify(&further), &mut reused);
        assert_eq!(reused.offsets(), [0, MIN, 2 * MIN]);
        progress_into(&s, &mut classify(&less_far), &mut reused);
        assert_eq!(reused, progress(&s, &mut classify(&less_far)));
        assert_eq!((reused.reached, reused.offsets_us[1], reused.next_event), (1, 0, Some(3)));
        progress_into(&s, &mut classify(&further), &mut reused);
        progress_into(&s, &mut classify(&never), &mut reused);
        assert_eq!(reused, CustomerProgress::default());
    }

    /// Stopping at the first attempt that gets as far as a customer's events allow gives the
    /// answer of trying every attempt, in every mode, with repeated steps, exclusions and ties.
    #[test]
    fn stopping_once_no_attempt_can_get_further_gives_the_answer_of_trying_them_all() {
        let names = ["view", "cart", "buy", "help", "search"];
        let mut state = 11u64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        // A held property: events 0, 1, 3, 4, ... carry "a" or "b", every third none.
        let mut skus = PropertyColumn::default();
        for seq in (0..9).filter(|seq| seq % 3 != 2) {
            skus.set(seq, ["a", "b"][seq as usize % 2]);
        }
        let mut stopped_early = 0;
        let modes = [OrderMode::Sequential, OrderMode::Strict, OrderMode::Any];
        for (mode, held) in modes.into_iter().flat_map(|mode| [(mode, false), (mode, true)]) {
            for steps in [&["view", "cart", "buy"][..], &["view", "cart", "view", "buy"], &["view|search", "cart"]] {
                let mut s = spec(steps, mode);
                s.exclusions = vec!["help".to_string()];
                s.hold_property = held.then(|| "sku".to_string());
                let classifier = Classifier::new(
                    &s,
                    names.len(),
                    |n| names.iter().position(|x| *x == n).map(|i| i as u32),
                    |_| Some(&skus),
                );
                for _ in 0..400 {
                    let mut at = 0;
                    let mut events: Vec<FunnelEvent> = (0..next(9))
                        .map(|seq| {
                            at += next(3) as i64 * 20 * MIN;
                            classifier.classify(at, seq as i64, next(names.len() as u64) as u32)
                        })
                        .collect();
                    let found = progress(&s, &mut events);
                    // Every attempt tried: the earliest that gets furthest.
                    let mut attempt = Attempt::empty();
                    let mut best: Option<(usize, usize)> = None;
                    for start in 0..events.len() {
                        let starts =
                            if mode == OrderMode::Any { events[start].steps != 0 } else { is_step(&events[start], 0) };
                        if !starts || events[start].at_us < s.from_us || events[start].at_us >= s.to_us {
                            continue;
                        }
                        run_attempt(&s, &events[start..], &mut attempt);
                        if !excluded(&events[start..], &attempt) && attempt.reached() > best.map_or(0, |b| b.1) {
                            best = Some((start, attempt.reached()));
                        }
                    }
                    let mut every = CustomerProgress::default();
                    if let Some((start, _)) = best {
                        run_attempt(&s, &events[start..], &mut attempt);
                        finish(&s, &events[start..], &attempt, &mut every);
                    }
                    assert_eq!(found, every, "{mode:?} held={held} {steps:?} {events:?}");
                    let later_start = events.iter().skip(1).any(|e| is_step(e, 0));
                    stopped_early += usize::from(later_start && found.reached < s.steps.len() && found.reached > 0);
                }
            }
        }
        assert!(stopped_early > 100, "the fixtures have customers with later attempts who never finish");
    }

    #[test]
    fn sequential_allows_other_events_between_steps() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "search"), (2 * MIN, "cart"), (3 * MIN, "buy")]), 3);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "buy"), (2 * MIN, "cart")]), 2, "buy before cart does not count");
        assert_eq!(reached(&s, &[(0, "cart"), (MIN, "buy")]), 0, "never entered");
    }

    #[test]
    fn strict_allows_nothing_between_steps() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Strict);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "search"), (2 * MIN, "cart")]), 1);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "cart"), (2 * MIN, "search"), (3 * MIN, "buy")]), 2);
        // A later attempt without interruption counts.
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "x"), (2 * MIN, "view"), (3 * MIN, "cart"), (4 * MIN, "buy")]), 3);
    }

    #[test]
    fn any_order_needs_the_steps_within_the_window_in_whatever_order() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Any);
        assert_eq!(reached(&s, &[(0, "buy"), (MIN, "view"), (2 * MIN, "cart")]), 3);
        assert_eq!(reached(&s, &[(0, "buy"), (2 * HOUR, "view")]), 1);
    }

    #[test]
    fn events_sharing_a_timestamp_count_in_step_order_in_every_mode() {
        let steps = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        for mode in OrderMode::ALL {
            let s = FunnelSpec { mode, ..steps.clone() };
            // Fired in one handler, cart reached the server before view, in the same millisecond.
            assert_eq!(reached(&s, &[(0, "cart"), (0, "view"), (MIN, "buy")]), 3, "{mode:?}");
            // All three at once, in reverse arrival order.
            assert_eq!(reached(&s, &[(0, "buy"), (0, "cart"), (0, "view")]), 3, "{mode:?}");
            // A tie does not let a step borrow a later timestamp: cart before view still fails
            // the ordered modes.
            let expected = if mode == OrderMode::Any { 2 } else { 1 };
            assert_eq!(reached(&s, &[(0, "cart"), (MIN, "view")]), expected, "{mode:?}");
        }
    }

    #[test]
    fn a_funnels_answer_does_not_depend_on_the_arrival_order_of_tied_events() {
        let tied = ["cart", "search", "buy"];
        let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        for mode in OrderMode::ALL {
            let s = spec(&["view", "cart", "buy"], mode);
            // Each answer with what came next by name (name ids follow the order of arrival).
            let answers: Vec<(CustomerProgress, Option<String>)> = orders
                .iter()
                .map(|order| {
                    let mut list: Vec<(i64, &str)> = order.iter().map(|&i| (MIN, tied[i])).collect();
                    list.insert(0, (0, "view"));
                    let (progress, names) = run(&s, &events(&list));
                    let next = progress.next_event.map(|id| names[id as usize].clone());
                    (CustomerProgress { next_event: None, ..progress }, next)
                })
                .collect();
            assert!(answers.iter().all(|a| *a == answers[0]), "{mode:?}: {answers:?}");
            let answers: Vec<CustomerProgress> = answers.into_iter().map(|(progress, _)| progress).collect();
            // Strict order takes an event that is no step first among its ties, as
            // windowFunnel sorts it: view, then search, breaks the sequence.
            let expected = if mode == OrderMode::Strict { 1 } else { 3 };
            assert_eq!(answers[0].reached, expected, "{mode:?}");
        }
    }

    #[test]
    fn the_window_counts_from_the_first_step_and_its_edge_is_inside() {
        let s = spec(&["view", "buy"], OrderMode::Sequential);
        assert_eq!(reached(&s, &[(0, "view"), (HOUR, "buy")]), 2, "exactly at the window's end");
        assert_eq!(reached(&s, &[(0, "view"), (HOUR + 1, "buy")]), 1, "just after it");
    }

    #[test]
    fn the_furthest_attempt_counts_and_its_times_are_reported() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        // First attempt reaches cart only; the second, two hours later, converts in 10 min.
        let p = progress_of(
            &s,
            &events(&[
                (0, "view"),
                (MIN, "cart"),
                (2 * HOUR, "view"),
                (2 * HOUR + 5 * MIN, "cart"),
                (2 * HOUR + 10 * MIN, "buy"),
            ]),
        );
        assert_eq!((p.reached, p.offsets()), (3, &[0, 5 * MIN, 10 * MIN][..]));
    }

    #[test]
    fn attempts_start_in_the_range_but_may_finish_after_it() {
        let mut s = spec(&["view", "buy"], OrderMode::Sequential);
        s.from_us = HOUR;
        s.to_us = 2 * HOUR;
        assert_eq!(
            reached(&s, &[(2 * HOUR - MIN, "view"), (2 * HOUR + 30 * MIN, "buy")]),
            2,
            "entered at the edge, full window"
        );
        assert_eq!(reached(&s, &[(30 * MIN, "view"), (HOUR + MIN, "buy")]), 0, "entered before the range");
        assert_eq!(reached(&s, &[(2 * HOUR, "view")]), 0, "the range's end is exclusive");
    }

    #[test]
    fn a_repeated_step_needs_two_occurrences_and_equal_times_still_follow() {
        let s = spec(&["view", "view", "buy"], OrderMode::Sequential);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "buy")]), 1);
        assert_eq!(reached(&s, &[(0, "view"), (0, "view"), (0, "buy")]), 3, "same timestamp, in commit order");
    }

    #[test]
    fn summary_matches_a_hand_computed_fixture() {
        // Four customers through view → cart → buy, window 1 h:
        //   a: view 0, cart +2 min, buy +10 min   → 3
        //   b: view 0, cart +4 min                → 2
        //   c: view 0                             → 1
        //   d: cart only                          → 0 (not in the funnel)
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        let customers: Vec<CustomerProgress> = [
            events(&[(0, "view"), (2 * MIN, "cart"), (10 * MIN, "buy")]),
            events(&[(0, "view"), (4 * MIN, "cart")]),
            events(&[(0, "view")]),
            events(&[(0, "cart")]),
        ]
        .iter()
        .map(|e| progress_of(&s, e))
        .collect();
        let result = summarise(&s, &customers);
        let counts: Vec<u64> = result.steps.iter().map(|r| r.customers).collect();
        assert_eq!(counts, vec![3, 2, 1]);
        assert_eq!(result.steps[1].conversion_from_first, 2.0 / 3.0);
        assert_eq!(result.steps[2].conversion_from_previous, 0.5);
        assert_eq!(result.steps[2].conversion_from_first, 1.0 / 3.0);
        // cart times: 2 and 4 minutes → median 3 min, average 3 min.
        assert_eq!(result.steps[1].median_seconds, Some(180.0));
        assert_eq!(result.steps[1].average_seconds, Some(180.0));
        assert_eq!(result.steps[0].median_seconds, Some(0.0));
        // The one conversion took 10 minutes.
        let buckets: Vec<(String, u64)> =
            result.time_to_convert.iter().filter(|b| b.customers > 0).map(|b| (b.label.clone(), b.customers)).collect();
        assert_eq!(buckets, vec![("5–15 min".to_string(), 1)]);
        // Per step: cart took 2 and 4 minutes, both in "1–5 min".
        let cart: Vec<(String, u64)> = result.steps[1]
            .time_to_convert
            .iter()
            .filter(|b| b.customers > 0)
            .map(|b| (b.label.clone(), b.customers))
            .collect();
        assert_eq!(cart, vec![("1–5 min".to_string(), 2)]);
    }

    #[test]
    fn a_step_may_be_any_of_several_events() {
        let s = spec(&["view", "cart|wishlist", "buy"], OrderMode::Sequential);
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "wishlist"), (2 * MIN, "buy")]), 3);
        assert_eq!(summarise(&s, &[]).steps[1].event, "cart | wishlist");
    }

    #[test]
    fn a_step_can_require_property_values() {
        let mut s = spec(&["view", "cart"], OrderMode::Sequential);
        s.steps[1] = vec![StepEvent {
            name: "cart".into(),
            filters: vec![("category".into(), "shoes".into()), ("qty".into(), "2".into())],
        }];
        let with = |at: i64, name: &str, props: serde_json::Value| TimedEvent {
            properties: props.as_object().cloned(),
            ..TimedEvent::new(at, name)
        };
        let shoes = with(MIN, "cart", serde_json::json!({"category": "shoes", "qty": 2}));
        let hats = with(MIN, "cart", serde_json::json!({"category": "hats", "qty": 2}));
        assert_eq!(progress_of(&s, &[TimedEvent::new(0, "view"), shoes]).reached, 2);
        assert_eq!(progress_of(&s, &[TimedEvent::new(0, "view"), hats]).reached, 1);
        assert_eq!(s.label(1), "cart[category=shoes;qty=2]");
    }

    #[test]
    fn a_drop_off_knows_what_came_next_and_when_the_customer_was_last_seen() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        let (p, names) = run(
            &s,
            &events(&[(0, "view"), (MIN, "cart"), (3 * MIN, "search"), (9 * MIN, "support"), (2 * HOUR, "home")]),
        );
        assert_eq!(p.reached, 2);
        assert_eq!(p.next_event.map(|id| names[id as usize].as_str()), Some("search"));
        assert_eq!(p.last_seen_us, 9 * MIN, "the 2 h event is outside the window");
    }

    #[test]
    fn an_excluded_event_between_steps_disqualifies_the_attempt() {
        let mut s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        s.exclusions = vec!["support".into()];
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "support"), (2 * MIN, "cart"), (3 * MIN, "buy")]), 0);
        assert_eq!(
            reached(&s, &[(0, "view"), (MIN, "cart"), (2 * MIN, "buy"), (3 * MIN, "support")]),
            3,
            "after the last step is fine"
        );
        // A later clean attempt still counts.
        assert_eq!(reached(&s, &[(0, "view"), (MIN, "support"), (2 * MIN, "view"), (3 * MIN, "cart")]), 2);
    }

    #[test]
    fn a_held_property_must_match_across_steps() {
        let mut s = spec(&["view", "cart"], OrderMode::Sequential);
        s.hold_property = Some("sku".into());
        let held = |at: i64, name: &str, sku: &str| TimedEvent { held: Some(sku.into()), ..TimedEvent::new(at, name) };
        assert_eq!(progress_of(&s, &[held(0, "view", "A"), held(MIN, "cart", "B")]).reached, 1);
        assert_eq!(
            progress_of(&s, &[held(0, "view", "A"), held(MIN, "view", "B"), held(2 * MIN, "cart", "B")]).reached,
            2
        );
    }

    #[test]
    fn trend_and_breakdown_split_the_same_customers() {
        let s = spec(&["view", "buy"], OrderMode::Sequential);
        let values: Vec<String> = ["email", "cpc", "social"].map(String::from).to_vec();
        let customer = |started_hours: i64, converted: bool, channel: Option<&str>| CustomerProgress {
            reached: if converted { 2 } else { 1 },
            offsets_us: {
                let mut offsets = [0; crate::analytics::MAX_STEPS];
                offsets[1] = MIN;
                offsets
            },
            started_us: started_hours * HOUR,
            breakdown: channel.and_then(|c| values.iter().position(|v| v == c)).map(|i| i as u32),
            ..CustomerProgress::default()
        };
        let customers = vec![
            customer(1, true, Some("email")),
            customer(2, false, Some("email")),
            customer(13, true, Some("cpc")),
            customer(14, false, Some("social")),
            customer(15, false, None),
        ];
        // Two 12-hour periods: 2 entered / 1 converted, then 3 / 1.
        let t = trend(&s, &customers, 12 * HOUR, 0);
        let points: Vec<(u64, u64)> = t.iter().map(|p| (p.entered, p.converted)).collect();
        assert_eq!(points, vec![(2, 1), (3, 1)]);
        // Top 1 value: email (2 entered, 1 converted); cpc and social are "other"; one has none.
        let groups = breakdown(&s, &customers, &values, 1);
        let rows: Vec<(String, u64, u64)> =
            groups.iter().map(|g| (g.value.clone(), g.steps[0].customers, g.steps[1].customers)).collect();
        assert_eq!(
            rows,
            vec![("email".to_string(), 2, 1), (OTHER_VALUE.to_string(), 2, 1), (NO_VALUE.to_string(), 1, 0)]
        );
    }

    #[test]
    fn tallies_of_parts_merged_in_any_order_give_the_whole_funnels_figures() {
        let s = spec(&["view", "cart", "buy"], OrderMode::Sequential);
        let values: Vec<String> = ["email", "cpc"].map(String::from).to_vec();
        // Customer i reached 1 + i % 3 steps, i minutes to the cart and 2i to buying, through
        // email, cpc or no channel in turn.
        let customers: Vec<CustomerProgress> = (1..=9)
            .map(|i: i64| {
                let mut offsets_us = [0; crate::analytics::MAX_STEPS];
                (offsets_us[1], offsets_us[2]) = (i * MIN, 2 * i * MIN);
                CustomerProgress {
                    reached: 1 + (i % 3) as usize,
                    offsets_us,
                    started_us: i * HOUR,
                    breakdown: [Some(0), Some(1), None][(i % 3) as usize],
                    ..CustomerProgress::default()
                }
            })
            .collect();
        let whole = tally(&s, &customers, Some((12 * HOUR, 0)), true).result(&s, &values, 5);
        // Hand-computed: 9 entered; 6 reached the cart (i ≠ 3, 6, 9: medians of 1,2,4,5,7,8
        // minutes = 4.5); 3 bought (i = 2, 5, 8: 4, 10, 16 minutes).
        let counts: Vec<u64> = whole.steps.iter().map(|r| r.customers).collect();
        assert_eq!(counts, vec![9, 6, 3]);
        assert_eq!(whole.steps[0].median_seconds, Some(0.0));
        assert_eq!(whole.steps[0].time_to_convert[0].customers, 9, "step 1 is reached at once");
        assert_eq!(whole.steps[1].median_seconds, Some(270.0));
        assert_eq!(whole.steps[2].average_seconds, Some(600.0));
        // Tallied with a breakdown, the whole funnel's figures are gathered from its groups:
        // the same as tallied without one.
        let unsplit = tally(&s, &customers, Some((12 * HOUR, 0)), false).result(&s, &values, 5);
        assert_eq!((unsplit.steps, unsplit.trend), (whole.steps.clone(), whole.trend.clone()));
        // Split into parts of uneven size, merged small into large and large into small.
        for cuts in [[1, 2], [7, 8], [3, 4]] {
            let parts = [&customers[..cuts[0]], &customers[cuts[0]..cuts[1]], &customers[cuts[1]..]];
            let mut forward = tally(&s, parts[0], Some((12 * HOUR, 0)), true);
            forward.merge(tally(&s, parts[1], Some((12 * HOUR, 0)), true));
            forward.merge(tally(&s, parts[2], Some((12 * HOUR, 0)), true));
            let mut backward = tally(&s, parts[2], Some((12 * HOUR, 0)), true);
            backward.merge(tally(&s, parts[1], Some((12 * HOUR, 0)), true));
            backward.merge(tally(&s, parts[0], Some((12 * HOUR, 0)), true));
            assert_eq!(forward.result(&s, &values, 5), whole, "cut at {cuts:?}");
            assert_eq!(backward.result(&s, &values, 5), whole, "cut at {cuts:?}, merged backwards");
        }
    }

    #[test]
    fn an_empty_funnel_has_zero_counts_and_no_times() {
        let s = spec(&["view", "buy"], OrderMode::Sequential);
        let result = summarise(&s, &[]);
        assert!(result
            .steps
            .iter()
            .all(|r| r.customers == 0 && r.median_seconds.is_none() && r.conversion_from_first == 0.0));
    }
}
