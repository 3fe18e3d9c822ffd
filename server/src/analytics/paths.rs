//! Paths: what customers do after a start event, or before an end event, within the same
//! session. Repeated events are collapsed, each level keeps its top events and puts the rest
//! in an explicit "other", and every level adds up to all the customers counted.

use std::collections::HashMap;

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

/// One customer's path from the anchor (level 0) as name ids, repeats collapsed, within the
/// session. `events` are the customer's named events in time order; `anchor` is the anchor
/// event's name id. Events with the anchor's timestamp are on the path's side of it (after a
/// start, before an end) whatever order they arrived in, as a funnel's tied steps count.
pub fn customer_path(spec: &PathSpec, anchor: u32, events: &[Entry]) -> Option<Vec<u32>> {
    let start = events.iter().position(|e| e.name() == anchor && e.at_us >= spec.from_us && e.at_us < spec.to_us)?;
    let mut path = vec![anchor];
    let mut previous = events[start];
    let mut step = |event: Entry, previous: Entry| -> bool {
        if (event.at_us - previous.at_us).abs() > spec.session_gap_us || path.len() >= spec.depth {
            return false;
        }
        if path.last() != Some(&event.name()) {
            path.push(event.name());
        }
        true
    };
    let at = events[start].at_us;
    let tied_before = events[..start].iter().rev().take_while(|e| e.at_us == at).count();
    let tied_after = events[start + 1..].iter().take_while(|e| e.at_us == at).count();
    let walk: Box<dyn Iterator<Item = &Entry>> = match spec.direction {
        Direction::After => Box::new(events[start - tied_before..start].iter().chain(&events[start + 1..])),
        Direction::Before => {
            Box::new(events[start + 1..start + 1 + tied_after].iter().rev().chain(events[..start].iter().rev()))
        }
    };
    for &event in walk {
        if !step(event, previous) {
            break;
        }
        previous = event;
    }
    Some(path)
}

/// A node's label before it is named: an event, or one of the two explicit buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Label {
    Event(u32),
    Other,
    Ended,
}

/// The top events of each level (the rest are "other"), ties by name.
fn kept_per_level<'a, P: AsRef<[u32]>>(spec: &PathSpec, paths: &[P], name: &impl Fn(u32) -> &'a str) -> Vec<Vec<u32>> {
    (0..spec.depth)
        .map(|level| {
            let mut counts: HashMap<u32, u64> = HashMap::new();
            for path in paths {
                if let Some(&id) = path.as_ref().get(level) {
                    *counts.entry(id).or_default() += 1;
                }
            }
            let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name(a.0).cmp(name(b.0))));
            ranked.into_iter().take(spec.top).map(|(id, _)| id).collect()
        })
        .collect()
}

/// Where a path is at `level`: an event kept at that level, "other", or ended.
fn label_at(kept: &[Vec<u32>], level: usize, path: &[u32]) -> Label {
    match path.get(level) {
        None => Label::Ended,
        Some(id) if kept[level].contains(id) => Label::Event(*id),
        Some(_) => Label::Other,
    }
}

fn label_text<'a>(label: Label, name: &impl Fn(u32) -> &'a str) -> String {
    match label {
        Label::Event(id) => name(id).to_string(),
        Label::Other => OTHER.to_string(),
        Label::Ended => ENDED.to_string(),
    }
}

/// The customers at one node: whose path is at `event` (a name, [`OTHER`] or [`ENDED`]) on
/// `level`, as the summary counts them. [`ENDED`] means ended at that very level, as the
/// Sankey draws it. Sorted by id.
pub fn customers_at<'a, C: Clone + Ord>(
    spec: &PathSpec,
    paths: &[(C, Vec<u32>)],
    level: usize,
    event: &str,
    name: impl Fn(u32) -> &'a str,
) -> Vec<C> {
    let only_paths: Vec<&[u32]> = paths.iter().map(|(_, p)| p.as_slice()).collect();
    let kept = kept_per_level(spec, &only_paths, &name);
    if level >= kept.len() {
        return Vec::new();
    }
    let mut found: Vec<C> = paths
        .iter()
        .filter(|(_, path)| match label_at(&kept, level, path) {
            Label::Ended => event == ENDED && path.len() == level,
            here => label_text(here, &name) == event,
        })
        .map(|(customer, _)| customer.clone())
        .collect();
    found.sort_unstable();
    found
}

/// Adds customers' paths (name ids, named by `name`) up into levels and links.
pub fn summarise<'a, P: AsRef<[u32]>>(spec: &PathSpec, paths: &[P], name: impl Fn(u32) -> &'a str) -> PathResult {
    let total = paths.len() as u64;
    let kept = kept_per_level(spec, paths, &name);
    let label = |level: usize, path: &[u32]| label_at(&kept, level, path);
    let text = |label: Label| label_text(label, &name);
    let mut nodes: Vec<PathNode> = Vec::new();
    let mut links: Vec<PathLink> = Vec::new();
    for level in 0..spec.depth {
        let mut counts: HashMap<Label, u64> = HashMap::new();
        let mut link_counts: HashMap<(Label, Label), u64> = HashMap::new();
        for path in paths {
            let path = path.as_ref();
            let here = label(level, path);
            if level + 1 < spec.depth && level < path.len() {
                *link_counts.entry((here, label(level + 1, path))).or_default() += 1;
            }
            *counts.entry(here).or_default() += 1;
        }
        let mut level_nodes: Vec<PathNode> = counts
            .into_iter()
            .map(|(event, customers)| PathNode {
                level,
                share: if total == 0 { 0.0 } else { customers as f64 / total as f64 },
                event: text(event),
                customers,
            })
            .collect();
        level_nodes.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.event.cmp(&b.event)));
        nodes.extend(level_nodes);
        let mut level_links: Vec<PathLink> = link_counts
            .into_iter()
            .map(|((from, to), customers)| PathLink { level, from: text(from), to: text(to), customers })
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
        let result = summarise(&s, &paths, |id| names[id as usize]);
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
