//! Paths (for product owners): what customers did after an event, or what led to it, as a
//! Sankey diagram (custom SVG: plotters has no Sankey). Event, direction, depth, how many
//! events per step and the range are in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    format::{count, counted, percent},
    server_fns::load_paths,
    types::{Direction, PathParams, PathResult},
};

const WIDTH: f64 = 1100.0;
const HEIGHT: f64 = 440.0;
const NODE_WIDTH: f64 = 14.0;
/// Room right of the last column for its labels.
const LABEL_ROOM: f64 = 170.0;
const GAP: f64 = 14.0;
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

/// Lays the paths out left to right: one column per level (the anchor first; for paths that
/// lead to an event, the anchor last), nodes stacked by customers, largest on top, heights
/// in proportion to customers; ribbons leave and enter their nodes stacked in the same order.
pub fn sankey(view: &PathResult, anchor_last: bool) -> (Vec<NodeBox>, Vec<Ribbon>) {
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
        return (Vec::new(), Vec::new());
    }
    let column = |level: usize| if anchor_last { levels - 1 - level } else { level };
    let step = if levels > 1 { (WIDTH - LABEL_ROOM - NODE_WIDTH) / (levels - 1) as f64 } else { 0.0 };
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
    for level in 0..levels {
        let mut in_level: Vec<_> = view.nodes.iter().filter(|n| n.level == level).collect();
        in_level.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.event.cmp(&b.event)));
        let mut y = 0.0;
        for n in in_level {
            let height = (n.customers as f64 * busiest).max(1.0);
            nodes.push(NodeBox {
                level,
                event: n.event.clone(),
                customers: n.customers,
                share: n.share,
                x: column(level) as f64 * step,
                y,
                height,
            });
            y += height + GAP;
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
    (nodes, ribbons)
}

fn params_from(get: impl Fn(&str) -> Option<String>) -> PathParams {
    let defaults = PathParams::default();
    PathParams {
        event: get("event").unwrap_or_default(),
        direction: get("direction").and_then(|d| Direction::parse(&d)).unwrap_or(defaults.direction),
        depth: get("depth").and_then(|d| d.parse().ok()).filter(|d| (2..=10).contains(d)).unwrap_or(defaults.depth),
        top: get("top").and_then(|t| t.parse().ok()).filter(|t| (1..=20).contains(t)).unwrap_or(defaults.top),
        days: get("days").and_then(|d| d.parse().ok()).filter(|d| (1..=365).contains(d)).unwrap_or(defaults.days),
    }
}

#[component]
pub fn PathsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| params_from(|key| query.read().get(key)));
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
                        Ok(Some(view)) if view.customers == 0 => view! {
                            <p class="empty-note" data-testid="paths-none">
                                {format!("Nobody did {} in this range. Check the event's name on the Live events page.", view.anchor)}
                            </p>
                        }
                            .into_any(),
                        Ok(Some(view)) => {
                            let anchor_last = params.get_untracked().direction == Direction::Before;
                            view! { <Sankey view anchor_last /> }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Sankey(view: PathResult, anchor_last: bool) -> impl IntoView {
    let (nodes, ribbons) = sankey(&view, anchor_last);
    let summary = format!("{} customers did {}", count(view.customers), view.anchor);
    let label_left = anchor_last;
    view! {
        <p class="map-legend" data-testid="paths-summary">{summary.clone()}</p>
        <figure class="chart sankey">
            <svg
                viewBox=format!("-4 -4 {} {}", WIDTH + 8.0, HEIGHT + 8.0)
                role="img"
                aria-label=format!("Paths: {summary}")
                data-testid="sankey"
            >
                {ribbons
                    .into_iter()
                    .map(|r| {
                        view! {
                            <path class="ribbon" d=r.path stroke-width=format!("{:.1}", r.thickness)>
                                <title>{format!("{} → {}: {}", r.from, r.to, count(r.customers))}</title>
                            </path>
                        }
                    })
                    .collect_view()}
                {nodes
                    .into_iter()
                    .map(|n| {
                        let text_x = if label_left && n.level > 0 { n.x - 6.0 } else { n.x + NODE_WIDTH + 6.0 };
                        let anchor = if label_left && n.level > 0 { "end" } else { "start" };
                        let class = if n.event == "other" || n.event == ENDED { "node node-other" } else { "node" };
                        view! {
                            <g class=class data-event=n.event.clone() data-level=n.level>
                                <rect x=format!("{:.1}", n.x) y=format!("{:.1}", n.y) width=NODE_WIDTH height=format!("{:.1}", n.height) rx="2" />
                                <text x=format!("{text_x:.1}") y=format!("{:.1}", n.y + n.height / 2.0 + 4.0) text-anchor=anchor>
                                    {format!("{} · {} ({})", n.event, count(n.customers), percent(n.share))}
                                </text>
                            </g>
                        }
                    })
                    .collect_view()}
            </svg>
        </figure>
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
        let (nodes, ribbons) = sankey(&view(), false);
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
        let (nodes, _) = sankey(&view(), true);
        let x = |e: &str| nodes.iter().find(|n| n.event == e).unwrap().x;
        assert!(x("cart") > x("cart_viewed") && x("cart_viewed") > x("checkout"));
    }

    #[test]
    fn ribbons_stack_down_a_node_largest_first() {
        let mut v = view();
        v.nodes.push(node(1, "home", 3));
        v.links.push(link(0, "cart", "home", 3));
        let (nodes, ribbons) = sankey(&v, false);
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
        let (nodes, ribbons) = sankey(&v, false);
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
        assert_eq!(sankey(&empty, false), (vec![], vec![]));
    }
}
