//! Paths (for product owners): what customers did after an event, or what led to it, as a
//! Sankey diagram (custom SVG: plotters has no Sankey). Event, direction, depth, how many
//! events per step and the range are in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    format::{count, counted, fit, percent},
    pages::{funnels::NO_PAGE_VIEWS, journey_map::encode},
    range::{PickedDates, RangeFields},
    server_fns::{load_path_customers, load_paths},
    types::{Direction, PathAnswer, PathCustomers, PathParams, PathResult, PATH_CUSTOMERS_PAGE_SIZE},
};

/// The node of the events outside a step's top ones.
pub const OTHER: &str = "(other)";

const WIDTH: f64 = 1100.0;
/// The height the busiest column is scaled to; a column of many small nodes may need more,
/// and the drawing grows to hold it.
const HEIGHT: f64 = 440.0;
const NODE_WIDTH: f64 = 14.0;
/// Room right of the last column for its labels.
const LABEL_ROOM: f64 = 170.0;
const GAP: f64 = 14.0;
/// The height a node's two-line label needs: a node is never given less room than this, so
/// that labels never overlap.
const LABEL_SLOT: f64 = 34.0;
/// A generous average character width of the 13 px label font, to cut labels to their room.
const CHAR_WIDTH: f64 = 7.5;
/// The node the analytics give customers whose path stopped (the session ended).
pub const ENDED: &str = "(path ended)";

/// A node as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBox {
    pub level: usize,
    pub event: String,
    pub customers: u64,
    pub share: f64,
    pub x: f64,
    pub y: f64,
    pub height: f64,
    /// Where its label's two lines are centred, and how many characters fit on a line before
    /// the next column.
    pub label_y: f64,
    pub label_chars: usize,
}

/// A link as drawn: a ribbon from one node's right side to the next node's left side.
#[derive(Debug, Clone, PartialEq)]
pub struct Ribbon {
    pub from: String,
    pub to: String,
    pub customers: u64,
    /// The ribbon's centre line (an SVG path) and its thickness.
    pub path: String,
    pub thickness: f64,
}

/// The whole drawing: its nodes, ribbons and height (the width is [`WIDTH`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SankeyLayout {
    pub nodes: Vec<NodeBox>,
    pub ribbons: Vec<Ribbon>,
    pub height: f64,
}

/// Lays the paths out left to right: one column per level (the anchor first; for paths that
/// lead to an event, the anchor last), nodes stacked by customers, largest on top, heights
/// in proportion to customers, each in a slot tall enough for its label; ribbons leave and
/// enter their nodes stacked in the same order. Labels sit right of their node and are cut to
/// the room before the next column.
pub fn sankey(view: &PathResult, anchor_last: bool) -> SankeyLayout {
    // A path that ended is drawn once, where it ended, not carried on through later steps.
    let ended_here = |level: usize| view.links.iter().any(|l| l.level + 1 == level && l.from != ENDED && l.to == ENDED);
    let trimmed = PathResult {
        anchor: view.anchor.clone(),
        direction: view.direction,
        customers: view.customers,
        nodes: view
            .nodes
            .iter()
            .filter(|n| n.event != ENDED || ended_here(n.level))
            .map(|n| {
                let mut n = n.clone();
                if n.event == ENDED {
                    // Only those whose path ended at this step.
                    let newly: u64 = view
                        .links
                        .iter()
                        .filter(|l| l.level + 1 == n.level && l.from != ENDED && l.to == ENDED)
                        .map(|l| l.customers)
                        .sum();
                    n.share *= newly as f64 / n.customers.max(1) as f64;
                    n.customers = newly;
                }
                n
            })
            .collect(),
        links: view.links.iter().filter(|l| l.from != ENDED).cloned().collect(),
    };
    let view = &trimmed;
    let levels = view.nodes.iter().map(|n| n.level + 1).max().unwrap_or(0);
    if levels == 0 {
        return SankeyLayout { nodes: Vec::new(), ribbons: Vec::new(), height: HEIGHT };
    }
    let column = |level: usize| if anchor_last { levels - 1 - level } else { level };
    let step = if levels > 1 { (WIDTH - LABEL_ROOM - NODE_WIDTH) / (levels - 1) as f64 } else { 0.0 };
    // Labels run to the next column, the last column's into the room kept for them.
    let label_chars = |level: usize| {
        let room = if column(level) + 1 == levels { LABEL_ROOM } else { step - NODE_WIDTH };
        ((room - 12.0) / CHAR_WIDTH).floor().max(4.0) as usize
    };
    // One scale for all columns, so that equal customers are equal heights everywhere.
    let busiest = (0..levels)
        .map(|l| {
            let in_level: Vec<_> = view.nodes.iter().filter(|n| n.level == l).collect();
            (in_level.iter().map(|n| n.customers).sum::<u64>(), in_level.len())
        })
        .fold(0.0f64, |scale, (customers, n)| {
            let room = HEIGHT - GAP * n.saturating_sub(1) as f64;
            if customers == 0 {
                scale
            } else {
                let fits = room / customers as f64;
                if scale == 0.0 {
                    fits
                } else {
                    scale.min(fits)
                }
            }
        });
    let mut nodes = Vec::new();
    let mut height: f64 = 0.0;
    for level in 0..levels {
        let mut in_level: Vec<_> = view.nodes.iter().filter(|n| n.level == level).collect();
        in_level.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.event.cmp(&b.event)));
        let mut slot_top = 0.0;
        for n in in_level {
            let node_height = (n.customers as f64 * busiest).max(1.0);
            let slot = node_height.max(LABEL_SLOT);
            let y = slot_top + (slot - node_height) / 2.0;
            nodes.push(NodeBox {
                level,
                event: n.event.clone(),
                customers: n.customers,
                share: n.share,
                x: column(level) as f64 * step,
                y,
                height: node_height,
                label_y: slot_top + slot / 2.0,
                label_chars: label_chars(level),
            });
            height = height.max(slot_top + slot);
            slot_top += slot + GAP;
        }
    }
    let find = |level: usize, event: &str| nodes.iter().position(|n| n.level == level && n.event == event);
    let mut out_used = vec![0.0; nodes.len()];
    let mut in_used = vec![0.0; nodes.len()];
    let mut links: Vec<_> = view.links.iter().collect();
    // Stacked in the order of the nodes they go to (and come from), so ribbons do not cross
    // more than they must.
    let order = |level: usize, event: &str| find(level, event).unwrap_or(usize::MAX);
    links.sort_by_key(|l| (order(l.level, &l.from), order(l.level + 1, &l.to)));
    let mut ribbons = Vec::new();
    for link in links {
        let (Some(a), Some(b)) = (find(link.level, &link.from), find(link.level + 1, &link.to)) else { continue };
        let thickness = (link.customers as f64 * busiest).max(1.0);
        let y0 = nodes[a].y + out_used[a] + thickness / 2.0;
        let y1 = nodes[b].y + in_used[b] + thickness / 2.0;
        out_used[a] += thickness;
        in_used[b] += thickness;
        // From the side of the source node that faces the target.
        let (x0, x1) = if nodes[b].x > nodes[a].x {
            (nodes[a].x + NODE_WIDTH, nodes[b].x)
        } else {
            (nodes[a].x, nodes[b].x + NODE_WIDTH)
        };
        let mid = (x0 + x1) / 2.0;
        ribbons.push(Ribbon {
            from: link.from.clone(),
            to: link.to.clone(),
            customers: link.customers,
            path: format!("M {x0:.1} {y0:.1} C {mid:.1} {y0:.1}, {mid:.1} {y1:.1}, {x1:.1} {y1:.1}"),
            thickness,
        });
    }
    SankeyLayout { nodes, ribbons, height: height.max(HEIGHT) }
}

/// The address's keys for the node whose customers are listed: its level and its event.
const NODE_LEVEL: &str = "at";
const NODE_EVENT: &str = "node";
const NODE_FROM: &str = "node_from";

fn params_from(get: impl Fn(&str) -> Option<String>) -> PathParams {
    let defaults = PathParams::default();
    PathParams {
        event: get("event").unwrap_or_default(),
        direction: get("direction").and_then(|d| Direction::parse(&d)).unwrap_or(defaults.direction),
        depth: get("depth").and_then(|d| d.parse().ok()).filter(|d| (2..=10).contains(d)).unwrap_or(defaults.depth),
        top: get("top").and_then(|t| t.parse().ok()).filter(|t| (1..=20).contains(t)).unwrap_or(defaults.top),
        days: get("days").and_then(|d| d.parse().ok()).filter(|d| (1..=365).contains(d)).unwrap_or(defaults.days),
        skip_page_views: get(NO_PAGE_VIEWS).is_some_and(|v| v == "1"),
        ..dated(PickedDates::from_query(get))
    }
}

/// The defaults with the days picked on the calendar.
fn dated(dates: PickedDates) -> PathParams {
    PathParams { from: dates.from, to: dates.to, compare: dates.compare, ..PathParams::default() }
}

/// A node picked on the drawing: its level and event, and the page of its customers shown.
#[derive(Debug, Clone, PartialEq)]
pub struct PickedNode {
    pub level: usize,
    pub event: String,
    pub from: usize,
}

fn picked_from(get: impl Fn(&str) -> Option<String>) -> Option<PickedNode> {
    Some(PickedNode {
        level: get(NODE_LEVEL)?.parse().ok()?,
        event: get(NODE_EVENT).filter(|e| !e.is_empty())?,
        from: get(NODE_FROM).and_then(|f| f.parse().ok()).unwrap_or(0),
    })
}

/// The page's address for `params`, with a node's customers open.
pub fn paths_href(params: &PathParams, picked: Option<&PickedNode>) -> String {
    let mut href = format!(
        "/paths?event={}&direction={}&depth={}&top={}&days={}",
        encode(&params.event),
        params.direction.as_str(),
        params.depth,
        params.top,
        params.days
    );
    if params.skip_page_views {
        href.push_str(&format!("&{NO_PAGE_VIEWS}=1"));
    }
    href.push_str(&PickedDates { from: params.from, to: params.to, compare: params.compare }.query());
    if let Some(node) = picked {
        href.push_str(&format!("&{NODE_LEVEL}={}&{NODE_EVENT}={}", node.level, encode(&node.event)));
        if node.from > 0 {
            href.push_str(&format!("&{NODE_FROM}={}", node.from));
        }
    }
    href
}

#[component]
pub fn PathsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| params_from(|key| query.read().get(key)));
    let picked = Memo::new(move |_| picked_from(|key| query.read().get(key)));
    let vocabulary = crate::pick::use_vocabulary();
    let paths = Resource::new(
        move || params.get(),
        |p| async move {
            if p.event.trim().is_empty() {
                return Ok(None);
            }
            load_paths(p).await.map(Some)
        },
    );
    // Created here, not in the panel, so the panel's reloads never touch the drawing's.
    let node_customers = Resource::new(
        move || (params.get(), picked.get()),
        |(p, node)| async move {
            match node {
                Some(node) if !p.event.trim().is_empty() => {
                    load_path_customers(p, node.level, node.event, node.from).await.map(Some)
                }
                _ => Ok(None),
            }
        },
    );
    let hydrated = use_context::<crate::time::Hydrated>().map(|h| h.0);

    view! {
        <Title text="Paths" />
        <section class="page paths-page">
            <header class="page-header">
                <div>
                    <h1>"Paths"</h1>
                    <p class="lede">"What customers did next after an event, or what led them to it, within a session."</p>
                </div>
            </header>
            {move || {
                let p = params.get();
                view! {
                    <form
                        class="builder"
                        method="get"
                        action="/paths"
                        data-testid="paths-form"
                        data-hydrated=move || hydrated.map(|h| h.get()).unwrap_or(false).to_string()
                    >
                        <label>
                            "Event "
                            <input name="event" value=p.event.clone() placeholder="e.g. added_to_cart" list=crate::pick::EVENTS data-testid="path-event" />
                        </label>
                        <crate::pick::SeenLists vocabulary />
                        <label>
                            "Show "
                            <select name="direction">
                                <option value="after" selected=p.direction == Direction::After>"what came after"</option>
                                <option value="before" selected=p.direction == Direction::Before>"what led to it"</option>
                            </select>
                        </label>
                        <label>
                            "Steps "
                            <select name="depth">
                                {(2..=8).map(|d| view! { <option value=d.to_string() selected=d == p.depth>{d.to_string()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>
                            "Events per step "
                            <select name="top">
                                {[3, 6, 10].iter().map(|t| view! { <option value=t.to_string() selected=*t == p.top>{t.to_string()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>
                            "In the last "
                            <select name="days">
                                {[1u32, 7, 30, 90].iter().map(|d| view! { <option value=d.to_string() selected=*d == p.days>{counted(u64::from(*d), "day", "days")}</option> }).collect_view()}
                            </select>
                        </label>
                        <RangeFields dates=PickedDates { from: p.from, to: p.to, compare: p.compare } />
                        <label class="check">
                            <input type="checkbox" name=NO_PAGE_VIEWS value="1" checked=p.skip_page_views data-testid="paths-no-page-views" />
                            " Leave page views out"
                        </label>
                        <button class="button" type="submit" data-testid="path-run">"Show paths"</button>
                    </form>
                }
            }}
            <Transition fallback=|| view! { <p class="loading">"Following customers…"</p> }>
                {move || Suspend::new(async move {
                    match paths.await {
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! {
                            <div class="empty-state" data-testid="paths-empty">
                                <h2>"Pick an event to follow"</h2>
                                <p>
                                    "For example "
                                    <a href="/paths?event=added_to_cart">"what customers do after adding to the cart"</a>
                                    " or "
                                    <a href="/paths?event=purchase_completed&direction=before">"what leads to a purchase"</a>
                                    "."
                                </p>
                            </div>
                        }
                            .into_any(),
                        Ok(Some(answer)) if answer.paths.customers == 0 => view! {
                            <p class="empty-note" data-testid="paths-none">
                                {format!("Nobody did {} in {} (UTC). Check the event's name on the Live events page.", answer.paths.anchor, answer.range.label())}
                            </p>
                        }
                            .into_any(),
                        Ok(Some(answer)) => {
                            let p = params.get_untracked();
                            view! { <Sankey answer params=p selected=picked /> }.into_any()
                        }
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match node_customers.await {
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <p class="error-state" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(Some(page)) => {
                            let p = params.get_untracked();
                            view! { <NodeCustomers page params=p /> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Sankey(answer: PathAnswer, params: PathParams, selected: Memo<Option<PickedNode>>) -> impl IntoView {
    let view = answer.paths;
    let anchor_last = params.direction == Direction::Before;
    let layout = sankey(&view, anchor_last);
    // Each node's share in the period before, where there was one.
    let before: Option<Vec<NodeBox>> = answer.previous.as_ref().map(|p| sankey(&p.paths, anchor_last).nodes);
    let change = move |n: &NodeBox| -> Option<String> {
        let before = before.as_ref()?;
        Some(match before.iter().find(|b| b.level == n.level && b.event == n.event) {
            Some(b) => format!("{:+.0} pts", (n.share - b.share) * 100.0),
            None => "new".into(),
        })
    };
    let mut summary =
        format!("{} customers did {} in {} (UTC)", count(view.customers), view.anchor, answer.range.label());
    if let Some(p) = &answer.previous {
        summary.push_str(&format!(
            "; {} in {}, and each step's share is compared with it",
            count(p.paths.customers),
            p.range.label()
        ));
    }
    // What the drawing says, for those who cannot see it: each step's biggest node.
    let figures: Vec<String> = (1..=layout.nodes.iter().map(|n| n.level).max().unwrap_or(0))
        .filter_map(|level| {
            let top = layout.nodes.iter().filter(|n| n.level == level).max_by_key(|n| n.customers)?;
            Some(format!("step {}: {} {} ({})", level + 1, top.event, count(top.customers), percent(top.share)))
        })
        .collect();
    let label = format!("Paths: {summary}; most common {}", figures.join(", "));
    let navigate = leptos_router::hooks::use_navigate();
    view! {
        <p class="map-legend" data-testid="paths-summary">
            {summary.clone()}
            ". Click a step to list its customers or follow on from there."
        </p>
        <figure class="chart sankey">
            <svg
                viewBox=format!("-4 -4 {} {:.0}", WIDTH + 8.0, layout.height + 8.0)
                role="group"
                aria-label=label
                data-testid="sankey"
            >
                {layout
                    .ribbons
                    .into_iter()
                    .map(|r| {
                        view! {
                            <path class="ribbon" d=r.path stroke-width=format!("{:.1}", r.thickness)>
                                <title>{format!("{} → {}: {}", r.from, r.to, count(r.customers))}</title>
                            </path>
                        }
                    })
                    .collect_view()}
                {layout
                    .nodes
                    .into_iter()
                    .map(|n| {
                        let text_x = n.x + NODE_WIDTH + 6.0;
                        let quiet = n.event == OTHER || n.event == ENDED;
                        // Picking a node changes the address, not the paths: only the mark moves.
                        let is_selected = {
                            let (level, event) = (n.level, n.event.clone());
                            move || selected.with(|s| s.as_ref().is_some_and(|s| s.level == level && s.event == event))
                        };
                        let class = {
                            let is_selected = is_selected.clone();
                            move || match (quiet, is_selected()) {
                                (_, true) => "node node-selected",
                                (true, false) => "node node-other",
                                (false, false) => "node",
                            }
                        };
                        let href = paths_href(&params, Some(&PickedNode { level: n.level, event: n.event.clone(), from: 0 }));
                        let open = {
                            let navigate = navigate.clone();
                            let href = href.clone();
                            move || navigate(&href, Default::default())
                        };
                        let on_key = open.clone();
                        let moved = change(&n);
                        let figure = match &moved {
                            Some(moved) => format!("{} · {} ({moved})", count(n.customers), percent(n.share)),
                            None => format!("{} · {}", count(n.customers), percent(n.share)),
                        };
                        let full = format!(
                            "{} at step {}: {} ({}){}",
                            n.event,
                            n.level + 1,
                            counted(n.customers, "customer", "customers"),
                            percent(n.share),
                            moved.map(|m| format!(", {m} on the period before")).unwrap_or_default()
                        );
                        view! {
                            <g
                                class=class
                                data-event=n.event.clone()
                                data-level=n.level
                                tabindex="0"
                                role="button"
                                aria-label=format!("{full}; list them")
                                aria-pressed=move || is_selected().to_string()
                                on:click=move |_| open()
                                on:keydown=move |ev| {
                                    if ev.key() == "Enter" || ev.key() == " " {
                                        ev.prevent_default();
                                        on_key();
                                    }
                                }
                            >
                                <title>{full.clone()}</title>
                                // The node and its label are one target, above the ribbons.
                                <rect
                                    class="hit"
                                    x=format!("{:.1}", n.x)
                                    y=format!("{:.1}", n.y.min(n.label_y - LABEL_SLOT / 2.0))
                                    width=format!("{:.1}", NODE_WIDTH + 6.0 + n.label_chars as f64 * CHAR_WIDTH)
                                    height=format!("{:.1}", n.height.max(LABEL_SLOT))
                                />
                                <rect x=format!("{:.1}", n.x) y=format!("{:.1}", n.y) width=NODE_WIDTH height=format!("{:.1}", n.height) rx="2" />
                                <text x=format!("{text_x:.1}") y=format!("{:.1}", n.label_y - 3.0)>{fit(&n.event, n.label_chars)}</text>
                                <text class="node-figure" x=format!("{text_x:.1}") y=format!("{:.1}", n.label_y + 13.0)>
                                    {fit(&figure, n.label_chars)}
                                </text>
                            </g>
                        }
                    })
                    .collect_view()}
            </svg>
        </figure>
    }
}

/// The customers at the node picked on the drawing, with where to go from there.
#[component]
fn NodeCustomers(page: PathCustomers, params: PathParams) -> impl IntoView {
    let picked = PickedNode { level: page.level, event: page.event.clone(), from: page.offset };
    let is_event = page.event != OTHER && page.event != ENDED;
    let follow = is_event.then(|| {
        let text = match params.direction {
            Direction::After => format!("What they did after {}", page.event),
            Direction::Before => format!("What led to {}", page.event),
        };
        (paths_href(&PathParams { event: page.event.clone(), ..params.clone() }, None), text)
    });
    let shown_to = page.offset + page.customers.len();
    let earlier = (page.offset > 0).then(|| {
        let from = page.offset.saturating_sub(PATH_CUSTOMERS_PAGE_SIZE);
        paths_href(&params, Some(&PickedNode { from, ..picked.clone() }))
    });
    let later = ((shown_to as u64) < page.total)
        .then(|| paths_href(&params, Some(&PickedNode { from: shown_to, ..picked.clone() })));
    let heading = format!("{} at step {}", page.event, page.level + 1);
    let region = heading.clone();
    view! {
        <section class="card node-customers" aria-label=region data-testid="path-node-customers">
            <header class="card-header">
                <h2>{heading}</h2>
                <a href=paths_href(&params, None) class="close-link">"Close"</a>
            </header>
            <p data-testid="path-node-total">
                {if page.total == 0 {
                    "Nobody here.".to_string()
                } else {
                    format!("{}–{} of {}", count(page.offset as u64 + 1), count(shown_to as u64), counted(page.total, "customer", "customers"))
                }}
            </p>
            {follow.map(|(href, text)| view! { <p><a href=href data-testid="path-follow">{text}</a></p> })}
            <ul class="customer-list">
                {page
                    .customers
                    .into_iter()
                    .map(|id| view! { <li><a href=format!("/customers/{}", encode(&id))>{id.clone()}</a></li> })
                    .collect_view()}
            </ul>
            <nav class="pager" aria-label="Customers at this step">
                {earlier.map(|href| view! { <a href=href>"Previous"</a> })}
                {later.map(|href| view! { <a href=href data-testid="path-node-next">"Next"</a> })}
            </nav>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PathLink, PathNode};

    fn node(level: usize, event: &str, customers: u64) -> PathNode {
        PathNode { level, event: event.into(), customers, share: customers as f64 / 10.0 }
    }

    fn link(level: usize, from: &str, to: &str, customers: u64) -> PathLink {
        PathLink { level, from: from.into(), to: to.into(), customers }
    }

    /// 10 customers added to the cart; 6 then viewed the cart, 4 left the site; of the 6, 5
    /// checked out.
    fn view() -> PathResult {
        PathResult {
            anchor: "cart".into(),
            direction: Direction::After,
            customers: 10,
            nodes: vec![node(0, "cart", 10), node(1, "cart_viewed", 6), node(2, "checkout", 5)],
            links: vec![link(0, "cart", "cart_viewed", 6), link(1, "cart_viewed", "checkout", 5)],
        }
    }

    #[test]
    fn heights_follow_customers_on_one_scale() {
        let SankeyLayout { nodes, ribbons, .. } = sankey(&view(), false);
        let height = |e: &str| nodes.iter().find(|n| n.event == e).unwrap().height;
        assert!((height("cart") - HEIGHT).abs() < 1e-9, "the busiest column fills the height");
        assert!((height("cart_viewed") / height("cart") - 0.6).abs() < 1e-9);
        assert!((ribbons[1].thickness / ribbons[0].thickness - 5.0 / 6.0).abs() < 1e-9);
        // Columns left to right, the anchor first.
        let x = |e: &str| nodes.iter().find(|n| n.event == e).unwrap().x;
        assert!(x("cart") < x("cart_viewed") && x("cart_viewed") < x("checkout"));
    }

    #[test]
    fn paths_that_lead_to_an_event_put_it_last() {
        let nodes = sankey(&view(), true).nodes;
        let x = |e: &str| nodes.iter().find(|n| n.event == e).unwrap().x;
        assert!(x("cart") > x("cart_viewed") && x("cart_viewed") > x("checkout"));
    }

    #[test]
    fn ribbons_stack_down_a_node_largest_first() {
        let mut v = view();
        v.nodes.push(node(1, "home", 3));
        v.links.push(link(0, "cart", "home", 3));
        let SankeyLayout { nodes, ribbons, .. } = sankey(&v, false);
        let to_cart_viewed = ribbons.iter().find(|r| r.to == "cart_viewed").unwrap();
        let to_home = ribbons.iter().find(|r| r.to == "home").unwrap();
        // Both leave the cart node; the larger one on top, the next right under it.
        assert!(to_cart_viewed.path.starts_with(&format!("M {:.1} {:.1}", NODE_WIDTH, to_cart_viewed.thickness / 2.0)));
        let second_y = to_cart_viewed.thickness + to_home.thickness / 2.0;
        assert!(to_home.path.starts_with(&format!("M {:.1} {:.1}", NODE_WIDTH, second_y)), "{}", to_home.path);
        assert_eq!(nodes.iter().filter(|n| n.level == 1).count(), 2);
    }

    #[test]
    fn an_ended_path_is_drawn_once_where_it_ended() {
        let mut v = view();
        v.nodes.extend([node(1, ENDED, 4), node(2, ENDED, 5)]);
        v.links.extend([link(0, "cart", ENDED, 4), link(1, ENDED, ENDED, 4), link(1, "cart_viewed", ENDED, 1)]);
        let SankeyLayout { nodes, ribbons, .. } = sankey(&v, false);
        let ended: Vec<usize> = nodes.iter().filter(|n| n.event == ENDED).map(|n| n.level).collect();
        assert_eq!(ended, vec![1, 2], "level 2's ended node is kept for cart_viewed's one customer");
        let at_two = nodes.iter().find(|n| n.event == ENDED && n.level == 2).unwrap();
        assert_eq!(at_two.customers, 1, "the four who ended earlier are not counted again");
        assert!(ribbons.iter().all(|r| r.from != ENDED));
    }

    #[test]
    fn nothing_to_draw_without_nodes() {
        let empty =
            PathResult { anchor: "x".into(), direction: Direction::After, customers: 0, nodes: vec![], links: vec![] };
        let layout = sankey(&empty, false);
        assert!(layout.nodes.is_empty() && layout.ribbons.is_empty());
    }

    #[test]
    fn labels_never_overlap_and_fit_before_the_next_column() {
        // One big node and ten small ones at step 2: small nodes get a label's room each,
        // and the drawing grows to hold them.
        let mut v = view();
        v.nodes = vec![node(0, "cart", 1000), node(1, "cart_viewed", 990)];
        v.links = vec![link(0, "cart", "cart_viewed", 990)];
        for i in 0..10 {
            let name = format!("a_rather_long_event_name_number_{i}");
            v.nodes.push(node(1, &name, 1));
            v.links.push(link(0, "cart", &name, 1));
        }
        let layout = sankey(&v, false);
        let mut column: Vec<&NodeBox> = layout.nodes.iter().filter(|n| n.level == 1).collect();
        column.sort_by(|a, b| a.label_y.total_cmp(&b.label_y));
        for pair in column.windows(2) {
            assert!(pair[1].label_y - pair[0].label_y >= LABEL_SLOT, "{} and {} overlap", pair[0].event, pair[1].event);
        }
        let lowest = column.last().unwrap();
        assert!(lowest.label_y + LABEL_SLOT / 2.0 <= layout.height, "the last label is inside the drawing");
        assert!(layout.height > HEIGHT, "grown to hold the small nodes");
        // Step 2 is the last column: its labels run into the room kept for them.
        let chars = lowest.label_chars;
        assert!(chars as f64 * CHAR_WIDTH <= LABEL_ROOM, "{chars} characters fit in {LABEL_ROOM} px");
        let cut = fit(&lowest.event, chars);
        assert_eq!(cut.chars().count(), chars);
        assert!(cut.ends_with('…'));
        assert_eq!(fit("cart", chars), "cart", "a short name is kept whole");
    }

    #[test]
    fn the_address_keeps_the_question_and_the_picked_node() {
        let params = PathParams {
            event: "added to cart".into(),
            direction: Direction::Before,
            depth: 4,
            top: 3,
            days: 7,
            skip_page_views: true,
            from: crate::types::parse_date("2026-11-01"),
            to: None,
            compare: true,
        };
        let node = PickedNode { level: 2, event: "(other)".into(), from: 50 };
        let href = paths_href(&params, Some(&node));
        let query: Vec<(String, String)> = href
            .split_once('?')
            .unwrap()
            .1
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.replace("%20", " ").replace("%28", "(").replace("%29", ")"))
            })
            .collect();
        let get = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        assert_eq!(params_from(get), params);
        assert_eq!(picked_from(get), Some(node));
        assert_eq!(picked_from(|_| None), None, "no node picked");
    }
}
