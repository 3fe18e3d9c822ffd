//! Paths: what customers did after (or before) an event, level by level.

use serde::{Deserialize, Serialize};

/// Which way a path reads from its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What customers did after the anchor event.
    #[default]
    After,
    /// What customers did before the anchor event.
    Before,
}

impl Direction {
    /// The word in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::After => "after",
            Direction::Before => "before",
        }
    }

    /// The word from a URL; `None` when it is neither.
    pub fn parse(text: &str) -> Option<Direction> {
        [Direction::After, Direction::Before].into_iter().find(|d| d.as_str() == text)
    }
}

/// A paths question as the page asks it (every field is in the page's URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathParams {
    pub event: String,
    pub direction: Direction,
    pub depth: usize,
    pub top: usize,
    pub days: u32,
    /// Page views are left out of the paths (the event followed stays).
    #[serde(default)]
    pub skip_page_views: bool,
    /// Whole days chosen on the calendar (UTC); when set they replace `days`.
    #[serde(default)]
    pub from: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub to: Option<chrono::NaiveDate>,
    /// Also follow the period of the same length just before, to compare.
    #[serde(default)]
    pub compare: bool,
}

/// What the paths page shows: the paths over the range, and over the period before when
/// asked to compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathAnswer {
    pub paths: PathResult,
    pub range: super::Span,
    pub previous: Option<PreviousPaths>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousPaths {
    pub range: super::Span,
    pub paths: PathResult,
}

impl Default for PathParams {
    fn default() -> Self {
        PathParams {
            event: String::new(),
            direction: Direction::After,
            depth: 5,
            top: 6,
            days: 30,
            skip_page_views: false,
            from: None,
            to: None,
            compare: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathNode {
    pub level: usize,
    pub event: String,
    pub customers: u64,
    /// Share of all customers counted, 0..1; a level's shares add up to 1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathLink {
    /// From a node at `level` to one at `level + 1`.
    pub level: usize,
    pub from: String,
    pub to: String,
    pub customers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathResult {
    pub anchor: String,
    pub direction: Direction,
    pub customers: u64,
    pub nodes: Vec<PathNode>,
    pub links: Vec<PathLink>,
}

/// How many customers of a path node one page lists.
pub const PATH_CUSTOMERS_PAGE_SIZE: usize = 50;

/// The customers at one node of the paths (as the Sankey draws it), a page at a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathCustomers {
    pub level: usize,
    pub event: String,
    /// Every customer at the node; `customers` is the page from `offset`.
    pub total: u64,
    pub offset: usize,
    pub customers: Vec<String>,
}
