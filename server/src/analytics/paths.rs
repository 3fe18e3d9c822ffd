//! Paths: what customers do after a start event, or before an end event, within the same
//! session. Repeated events are collapsed, each level keeps its top events and puts the rest
//! in an explicit "other", and every level adds up to all the customers counted.

use app::types::{Direction, PathLink, PathNode, PathResult};

use crate::index::Entry;

/// The node for customers whose path stopped before this level.
pub const ENDED: &str = "(path ended)";
/// The node for the events outside a level's top.
pub const OTHER: &str = "(other)";
/// Deepest path a question may ask for.
pub const MAX_DEPTH: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct PathSpec {
    pub anchor: String,
    pub direction: Direction,
    /// Levels including the anchor (2..=10).
    pub depth: usize,
    /// Events kept per level before the rest become "other".
    pub top: usize,
    /// The anchor must happen in `[from_us, to_us)`.
    pub from_us: i64,
    pub to_us: i64,
    /// A path ends at a gap longer than this (the session gap).
    pub session_gap_us: i64,
    /// Page views are left out (the anchor stays, even if it is one).
    pub skip_page_views: bool,
}

/// One customer's path: name ids from the anchor on, held inline, since a scan makes one per
/// customer (millions) and a path is never longer than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Path {
    len: u8,
    ids: [u32; MAX_DEPTH],
}

impl Path {
    fn new(first: u32) -> Self {
        let mut ids = [0; MAX_DEPTH];
        ids[0] = first;
        Path { len: 1, ids }
    }

    /// Adds `id` unless it repeats the last one (repeats are collapsed).
    fn push_new(&mut self, id: u32) {
        if self.last() != Some(&id) && usize::from(self.len) < MAX_DEPTH {
            self.ids[usize::from(self.len)] = id;
            self.len += 1;
        }
    }
}

impl std::ops::Deref for Path {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        &self.ids[..usize::from(self.len)]
    }
}

impl AsRef<[u32]> for Path {
    fn as_ref(&self) -> &[u32] {
        self
    }
}

/// One customer's path from the anchor (level 0) as name ids, repeats collapsed, within the
/// session. `events` are the customer's named events in time order; `anchor` is the anchor
/// event's name id. Events with the anchor's timestamp are on the path's side of it (after a
/// start, before an end) whatever order they arrived in, as a funnel's tied steps count.
pub fn customer_path(spec: &PathSpec, anchor: u32, events: &[Entry]) -> Option<Path> {
    let start = events.iter().position(|e| e.name() == anchor && e.at_us >= spec.from_us && e.at_us < spec.to_us)?;
    let mut path = Path::new(anchor);
    let at = events[start].at_us;
    match spec.direction {
        Direction::After => {
            let tied_before = events[..start].iter().rev().take_while(|e| e.at_us == at).count();
            let walk = events[start - tied_before..start].iter().chain(&events[start + 1..]);
            follow(spec, &mut path, events[start], walk);
        }
        Direction::Before => {
            let tied_after = events[start + 1..].iter().take_while(|e| e.at_us == at).count();
            let walk = events[start + 1..start + 1 + tied_after].iter().rev().chain(events[..start].iter().rev());
            follow(spec, &mut path, events[start], walk);
        }
    }
    Some(path)
}

/// Extends `path` along `walk` until the session ends (a gap longer than the session gap) or
/// the path is as deep as asked.
fn follow<'a>(spec: &PathSpec, path: &mut Path, anchor: Entry, walk: impl Iterator<Item = &'a Entry>) {
    let mut previous = anchor;
    for &event in walk {
        if (event.at_us - previous.at_us).abs() > spec.session_gap_us || path.len() >= spec.depth {
            break;
        }
        path.push_new(event.name());
        previous = event;
    }
}

/// The nodes of one level as slots `0..slots()`: its kept events by rank, then "other", then
/// "ended". Counting by slot needs no hashing: the scan of a million paths only adds.
struct Level {
    kept: Vec<u32>,
    /// Slot of each name id below its length that is kept; any other id is "other".
    slot_of: Vec<u32>,
}

impl Level {
    fn new(kept: Vec<u32>) -> Self {
        let mut slot_of = vec![u32::MAX; kept.iter().max().map_or(0, |&id| id as usize + 1)];
        for (slot, &id) in kept.iter().enumerate() {
            slot_of[id as usize] = slot as u32;
        }
        Level { kept, slot_of }
    }

    fn other(&self) -> usize {
        self.kept.len()
    }

    fn ended(&self) -> usize {
        self.kept.len() + 1
    }

    fn slots(&self) -> usize {
        self.kept.len() + 2
    }

    /// Where a path is at this level (`level` its depth): a kept event, "other", or ended.
    fn slot(&self, level: usize, path: &[u32]) -> usize {
        path.get(level).map_or(self.ended(), |&id| self.slot_of_id(id))
    }

    /// The slot of an event at this level: kept, or "other".
    fn slot_of_id(&self, id: u32) -> usize {
        match self.slot_of.get(id as usize) {
            Some(&slot) if slot != u32::MAX => slot as usize,
            _ => self.other(),
        }
    }

    fn text<'a>(&self, slot: usize, name: &impl Fn(u32) -> &'a str) -> String {
        match self.kept.get(slot) {
            Some(&id) => name(id).to_string(),
            None if slot == self.other() => OTHER.to_string(),
            None => ENDED.to_string(),
        }
    }

    /// The slot a node's label names at this level, if it is one of its nodes.
    fn slot_named<'a>(&self, event: &str, name: &impl Fn(u32) -> &'a str) -> Option<usize> {
        match event {
            OTHER => Some(self.other()),
            ENDED => Some(self.ended()),
            _ => self.kept.iter().position(|&id| name(id) == event),
        }
    }
}

/// Adds `b` into `a`, element by element, `a` growing to `b`'s length.
fn add_counts(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
}

/// The next level's name id of a path that ends at this level.
const END_ID: u32 = u32::MAX;

/// Customers' paths added up by name id: per level the paths at each name id, and the links
/// from a name id to the next level's (or to the end). Tallies of disjoint sets of customers
/// merge into the tally of their union, so a scan adds each customer's path as it finds it
/// instead of keeping millions of paths (440 MB at 100M events) to count them afterwards.
#[derive(Debug, Clone, Default)]
pub struct PathCounts {
    depth: usize,
    total: u64,
    /// `nodes[k][id]`: paths with name id `id` at level k.
    nodes: Vec<Vec<u64>>,
    /// `links[k]`: (name id at level k, at level k+1 or [`END_ID`]) → paths. Hashed with Fx:
    /// the keys are the index's own small name ids, not values a sender picks.
    links: Vec<rustc_hash::FxHashMap<(u32, u32), u64>>,
}

impl PathCounts {
    pub fn new(spec: &PathSpec) -> Self {
        PathCounts {
            depth: spec.depth,
            total: 0,
            nodes: vec![Vec::new(); spec.depth],
            links: vec![Default::default(); spec.depth.saturating_sub(1)],
        }
    }

    /// The tally of these paths.
    pub fn of<P: AsRef<[u32]>>(spec: &PathSpec, paths: impl IntoIterator<Item = P>) -> Self {
        let mut counts = PathCounts::new(spec);
        for path in paths {
            counts.add(path.as_ref());
        }
        counts
    }

    /// Counts one customer's path (name ids from the anchor on).
    pub fn add(&mut self, path: &[u32]) {
        self.total += 1;
        let path = &path[..path.len().min(self.depth)];
        for (k, &id) in path.iter().enumerate() {
            let nodes = &mut self.nodes[k];
            if nodes.len() <= id as usize {
                nodes.resize(id as usize + 1, 0);
            }
            nodes[id as usize] += 1;
            if let Some(links) = self.links.get_mut(k) {
                *links.entry((id, path.get(k + 1).copied().unwrap_or(END_ID))).or_default() += 1;
            }
        }
    }

    /// Adds the tally of other customers.
    pub fn merge(&mut self, other: PathCounts) {
        self.total += other.total;
        for (mine, theirs) in self.nodes.iter_mut().zip(&other.nodes) {
            add_counts(mine, theirs);
        }
        for (mine, theirs) in self.links.iter_mut().zip(other.links) {
            for (link, n) in theirs {
                *mine.entry(link).or_default() += n;
            }
        }
    }
}

/// Each level with its top events kept (the rest are "other"), ties by name.
fn levels<'a>(spec: &PathSpec, counts: &PathCounts, name: &impl Fn(u32) -> &'a str) -> Vec<Level> {
    counts
        .nodes
        .iter()
        .map(|counts| {
            let mut ranked: Vec<(u32, u64)> =
                counts.iter().enumerate().filter(|&(_, &n)| n > 0).map(|(id, &n)| (id as u32, n)).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name(a.0).cmp(name(b.0))));
            Level::new(ranked.into_iter().take(spec.top).map(|(id, _)| id).collect())
        })
        .collect()
}

/// The customers at one node: whose path is at `event` (a name, [`OTHER`] or [`ENDED`]) on
/// `level`, as the summary counts them. [`ENDED`] means ended at that very level, as the
/// Sankey draws it. Sorted by id.
pub fn customers_at<'a, C: Clone + Ord, P: AsRef<[u32]> + Sync>(
    spec: &PathSpec,
    paths: &[(C, P)],
    level: usize,
    event: &str,
    name: impl Fn(u32) -> &'a str,
) -> Vec<C> {
    let levels = levels(spec, &PathCounts::of(spec, paths.iter().map(|(_, p)| p.as_ref())), &name);
    let Some(node) = levels.get(level) else { return Vec::new() };
    let Some(wanted) = node.slot_named(event, &name) else { return Vec::new() };
    let mut found: Vec<C> = paths
        .iter()
        .filter(|(_, path)| {
            let path = path.as_ref();
            node.slot(level, path) == wanted && (wanted != node.ended() || path.len() == level)
        })
        .map(|(customer, _)| customer.clone())
        .collect();
    found.sort_unstable();
    found
}

/// The levels and links of the counted paths, each name id at its level's slot (a kept
/// event, "other" or ended).
pub fn summarise<'a>(spec: &PathSpec, counts: &PathCounts, name: impl Fn(u32) -> &'a str) -> PathResult {
    let total = counts.total;
    let levels = levels(spec, counts, &name);
    let mut tally: Vec<(Vec<u64>, Vec<u64>)> = Vec::with_capacity(levels.len());
    for (k, level) in levels.iter().enumerate() {
        let mut nodes = vec![0; level.slots()];
        for (id, &n) in counts.nodes[k].iter().enumerate() {
            nodes[level.slot_of_id(id as u32)] += n;
        }
        // Whoever has no event at this level ended before it.
        nodes[level.ended()] += total - counts.nodes[k].iter().sum::<u64>();
        let mut links = Vec::new();
        if let (Some(next), Some(counted)) = (levels.get(k + 1), counts.links.get(k)) {
            links = vec![0; level.slots() * next.slots()];
            for (&(from, to), &n) in counted {
                let to = if to == END_ID { next.ended() } else { next.slot_of_id(to) };
                links[level.slot_of_id(from) * next.slots() + to] += n;
            }
        }
        tally.push((nodes, links));
    }
    let mut nodes: Vec<PathNode> = Vec::new();
    let mut links: Vec<PathLink> = Vec::new();
    for (k, (level, (node_counts, link_counts))) in levels.iter().zip(tally).enumerate() {
        let mut level_nodes: Vec<PathNode> = node_counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(slot, &customers)| PathNode {
                level: k,
                share: if total == 0 { 0.0 } else { customers as f64 / total as f64 },
                event: level.text(slot, &name),
                customers,
            })
            .collect();
        level_nodes.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.event.cmp(&b.event)));
        nodes.extend(level_nodes);
        let Some(next) = levels.get(k + 1) else { continue };
        let mut level_links: Vec<PathLink> = link_counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(cell, &customers)| PathLink {
                level: k,
                from: level.text(cell / next.slots(), &name),
                to: next.text(cell % next.slots(), &name),
                customers,
            })
            .collect();
        level_links.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
        links.extend(level_links);
    }
    PathResult { anchor: spec.anchor.clone(), direction: spec.direction, customers: total, nodes, links }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::stages::SESSION_GAP_US;

    const MIN: i64 = 60_000_000;

    fn spec(direction: Direction, depth: usize, top: usize) -> PathSpec {
        PathSpec {
            anchor: "view".into(),
            direction,
            depth,
            top,
            from_us: 0,
            to_us: 1_000 * MIN,
            session_gap_us: SESSION_GAP_US,
            skip_page_views: false,
        }
    }

    /// The fixture as index entries (names interned in order of appearance), its path
    /// named again.
    fn path(spec: &PathSpec, list: &[(i64, &str)]) -> Option<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        let mut id = |name: &str| -> u32 {
            names.iter().position(|n| n == name).unwrap_or_else(|| {
                names.push(name.to_string());
                names.len() - 1
            }) as u32
        };
        let anchor = id("view");
        let entries: Vec<Entry> = list
            .iter()
            .enumerate()
            .map(|(seq, (at, name))| Entry::new(*at * MIN, seq as i64, id(name), false))
            .collect();
        let ids = customer_path(spec, anchor, &entries)?;
        Some(ids.iter().map(|&i| names[i as usize].clone()).collect())
    }

    #[test]
    fn a_path_collapses_repeats_and_stops_at_the_session_end_or_depth() {
        let s = spec(Direction::After, 4, 5);
        let p = path(&s, &[(0, "home"), (1, "view"), (2, "view"), (3, "cart"), (4, "cart"), (5, "buy"), (6, "home")]);
        assert_eq!(p.unwrap(), vec!["view", "cart", "buy", "home"]);
        let p = path(&s, &[(0, "view"), (10, "cart"), (50, "buy")]);
        assert_eq!(p.unwrap(), vec!["view", "cart"], "45 min later is another session");
        assert_eq!(path(&s, &[(0, "home")]), None, "no anchor, no path");
    }

    #[test]
    fn a_path_towards_an_end_event_reads_backwards() {
        let s = spec(Direction::Before, 3, 5);
        let p = path(&s, &[(0, "home"), (1, "search"), (2, "search"), (3, "view"), (4, "cart")]);
        assert_eq!(p.unwrap(), vec!["view", "search", "home"]);
    }

    #[test]
    fn events_sharing_the_anchors_timestamp_are_on_the_paths_side_of_it() {
        // The cart arrived before the view it followed, in the same minute.
        let after = spec(Direction::After, 3, 5);
        let p = path(&after, &[(0, "home"), (1, "cart"), (1, "view"), (2, "buy")]);
        assert_eq!(p.unwrap(), vec!["view", "cart", "buy"]);
        // Towards an end event: the search arrived after the view it led to.
        let before = spec(Direction::Before, 3, 5);
        let p = path(&before, &[(0, "home"), (1, "view"), (1, "search"), (2, "cart")]);
        assert_eq!(p.unwrap(), vec!["view", "search", "home"]);
    }

    #[test]
    fn levels_add_up_with_explicit_other_and_ended() {
        // Four customers after "view", depth 3, top 1 per level:
        //   view → cart → buy
        //   view → cart → home
        //   view → search
        //   view
        // Level 1: cart 2 (kept), search 1 → other, ended 1.
        // Level 2: buy 1 (kept; ties go by name: buy < home), home 1 → other, ended 2.
        let s = spec(Direction::After, 3, 1);
        let names = ["view", "cart", "buy", "home", "search"];
        let paths: Vec<Vec<u32>> = vec![vec![0, 1, 2], vec![0, 1, 3], vec![0, 4], vec![0]];
        let result = summarise(&s, &PathCounts::of(&s, &paths), |id| names[id as usize]);
        let level = |k: usize| -> Vec<(String, u64)> {
            result.nodes.iter().filter(|n| n.level == k).map(|n| (n.event.clone(), n.customers)).collect()
        };
        assert_eq!(level(0), vec![("view".to_string(), 4)]);
        assert_eq!(level(1), vec![("cart".to_string(), 2), (OTHER.to_string(), 1), (ENDED.to_string(), 1)]);
        assert_eq!(level(2), vec![(ENDED.to_string(), 2), (OTHER.to_string(), 1), ("buy".to_string(), 1)]);
        for k in 0..3 {
            let share: f64 = result.nodes.iter().filter(|n| n.level == k).map(|n| n.share).sum();
            assert!((share - 1.0).abs() < 1e-9, "level {k} adds up to {share}");
        }
        let links: Vec<(usize, &str, &str, u64)> =
            result.links.iter().map(|l| (l.level, l.from.as_str(), l.to.as_str(), l.customers)).collect();
        assert_eq!(
            links,
            // Ties are ordered by name; "(" sorts before letters.
            vec![
                (0, "view", "cart", 2),
                (0, "view", OTHER, 1),
                (0, "view", ENDED, 1),
                (1, OTHER, ENDED, 1),
                (1, "cart", OTHER, 1),
                (1, "cart", "buy", 1),
            ]
        );
    }

    #[test]
    fn tallies_of_some_customers_each_merge_into_the_tally_of_all() {
        let s = spec(Direction::After, 3, 1);
        let names = ["view", "cart", "buy", "home", "search"];
        let paths: Vec<Vec<u32>> = vec![vec![0, 1, 2], vec![0, 1, 3], vec![0, 4], vec![0]];
        let mut merged = PathCounts::of(&s, &paths[..1]);
        merged.merge(PathCounts::of(&s, &paths[1..3]));
        merged.merge(PathCounts::new(&s));
        merged.merge(PathCounts::of(&s, &paths[3..]));
        let whole = summarise(&s, &PathCounts::of(&s, &paths), |id| names[id as usize]);
        assert_eq!(summarise(&s, &merged, |id| names[id as usize]), whole);
        assert_eq!(whole.customers, 4);
    }

    #[test]
    fn the_customers_at_a_node_are_those_the_node_counts() {
        // The fixture of `levels_add_up_with_explicit_other_and_ended`, one customer each.
        let s = spec(Direction::After, 3, 1);
        let names = ["view", "cart", "buy", "home", "search"];
        let paths: Vec<(&str, Vec<u32>)> =
            vec![("ann", vec![0, 1, 2]), ("bob", vec![0, 1, 3]), ("cat", vec![0, 4]), ("dan", vec![0])];
        let at = |level: usize, event: &str| customers_at(&s, &paths, level, event, |id| names[id as usize]);
        assert_eq!(at(0, "view"), vec!["ann", "bob", "cat", "dan"]);
        assert_eq!(at(1, "cart"), vec!["ann", "bob"]);
        assert_eq!(at(1, OTHER), vec!["cat"], "search is outside level 1's top one");
        assert_eq!(at(1, ENDED), vec!["dan"]);
        assert_eq!(at(2, "buy"), vec!["ann"]);
        assert_eq!(at(2, OTHER), vec!["bob"]);
        assert_eq!(at(2, ENDED), vec!["cat"], "ended at level 2, not dan who ended before");
        assert_eq!(at(2, "search"), Vec::<&str>::new(), "not a node at that level");
        assert_eq!(at(7, "view"), Vec::<&str>::new(), "deeper than asked");
    }
}
