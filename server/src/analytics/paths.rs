//! Paths: what customers do after a start event, or before an end event, within the same
//! session. Repeated events are collapsed, each level keeps its top events and puts the rest
//! in an explicit "other", and every level adds up to all the customers counted.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{funnel::TimedEvent, stages::SESSION_GAP_US};

/// The node for customers whose path stopped before this level.
pub const ENDED: &str = "(path ended)";
/// The node for the events outside a level's top.
pub const OTHER: &str = "(other)";
/// Deepest path a question may ask for.
pub const MAX_DEPTH: usize = 10;

/// Which way a path reads from its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What customers did after the anchor event.
    After,
    /// What customers did before the anchor event.
    Before,
}

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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathNode {
    pub level: usize,
    pub event: String,
    pub customers: u64,
    /// Share of all customers counted, 0..1; a level's shares add up to 1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathLink {
    /// From a node at `level` to one at `level + 1`.
    pub level: usize,
    pub from: String,
    pub to: String,
    pub customers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathResult {
    pub anchor: String,
    pub direction: Direction,
    pub customers: u64,
    pub nodes: Vec<PathNode>,
    pub links: Vec<PathLink>,
}

/// One customer's path from the anchor (level 0), repeats collapsed, within the session.
pub fn customer_path(spec: &PathSpec, events: &[TimedEvent]) -> Option<Vec<String>> {
    let anchor =
        events.iter().position(|e| *e.name == *spec.anchor && e.at_us >= spec.from_us && e.at_us < spec.to_us)?;
    let mut path = vec![events[anchor].name.to_string()];
    let mut previous = &events[anchor];
    let mut step = |event: &TimedEvent, previous: &TimedEvent| -> bool {
        if (event.at_us - previous.at_us).abs() > SESSION_GAP_US || path.len() >= spec.depth {
            return false;
        }
        if path.last().map(String::as_str) != Some(&*event.name) {
            path.push(event.name.to_string());
        }
        true
    };
    match spec.direction {
        Direction::After => {
            for event in &events[anchor + 1..] {
                if !step(event, previous) {
                    break;
                }
                previous = event;
            }
        }
        Direction::Before => {
            for event in events[..anchor].iter().rev() {
                if !step(event, previous) {
                    break;
                }
                previous = event;
            }
        }
    }
    Some(path)
}

/// Adds customers' paths up into levels and links.
pub fn summarise(spec: &PathSpec, paths: &[Vec<String>]) -> PathResult {
    let total = paths.len() as u64;
    // The top events of each level; the rest are "other".
    let kept: Vec<Vec<String>> = (0..spec.depth)
        .map(|level| {
            let mut counts: HashMap<&str, u64> = HashMap::new();
            for path in paths {
                if let Some(name) = path.get(level) {
                    *counts.entry(name.as_str()).or_default() += 1;
                }
            }
            let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            ranked.into_iter().take(spec.top).map(|(name, _)| name.to_string()).collect()
        })
        .collect();
    let label = |level: usize, path: &Vec<String>| -> String {
        match path.get(level) {
            None => ENDED.to_string(),
            Some(name) if kept[level].contains(name) => name.clone(),
            Some(_) => OTHER.to_string(),
        }
    };
    let mut nodes: Vec<PathNode> = Vec::new();
    let mut links: Vec<PathLink> = Vec::new();
    for level in 0..spec.depth {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut link_counts: HashMap<(String, String), u64> = HashMap::new();
        for path in paths {
            let here = label(level, path);
            if level + 1 < spec.depth && level < path.len() {
                *link_counts.entry((here.clone(), label(level + 1, path))).or_default() += 1;
            }
            *counts.entry(here).or_default() += 1;
        }
        let mut level_nodes: Vec<PathNode> = counts
            .into_iter()
            .map(|(event, customers)| PathNode {
                level,
                share: if total == 0 { 0.0 } else { customers as f64 / total as f64 },
                event,
                customers,
            })
            .collect();
        level_nodes.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| a.event.cmp(&b.event)));
        nodes.extend(level_nodes);
        let mut level_links: Vec<PathLink> =
            link_counts.into_iter().map(|((from, to), customers)| PathLink { level, from, to, customers }).collect();
        level_links.sort_by(|a, b| b.customers.cmp(&a.customers).then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to))));
        links.extend(level_links);
    }
    PathResult { anchor: spec.anchor.clone(), direction: spec.direction, customers: total, nodes, links }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn spec(direction: Direction, depth: usize, top: usize) -> PathSpec {
        PathSpec { anchor: "view".into(), direction, depth, top, from_us: 0, to_us: 1_000 * MIN }
    }

    fn events(list: &[(i64, &str)]) -> Vec<TimedEvent> {
        list.iter().map(|(at, name)| TimedEvent::new(*at * MIN, *name)).collect()
    }

    fn path(spec: &PathSpec, list: &[(i64, &str)]) -> Option<Vec<String>> {
        customer_path(spec, &events(list))
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
    fn levels_add_up_with_explicit_other_and_ended() {
        // Four customers after "view", depth 3, top 1 per level:
        //   view → cart → buy
        //   view → cart → home
        //   view → search
        //   view
        // Level 1: cart 2 (kept), search 1 → other, ended 1.
        // Level 2: buy 1 (kept; ties go by name: buy < home), home 1 → other, ended 2.
        let s = spec(Direction::After, 3, 1);
        let paths: Vec<Vec<String>> =
            [vec!["view", "cart", "buy"], vec!["view", "cart", "home"], vec!["view", "search"], vec!["view"]]
                .iter()
                .map(|p| p.iter().map(|s| s.to_string()).collect())
                .collect();
        let result = summarise(&s, &paths);
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
}
