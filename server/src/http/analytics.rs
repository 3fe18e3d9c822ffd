//! `/api/v1/…` analytics endpoints: parse the question, ask the analytics service, answer JSON.

use app::auth::Principal;
use axum::{
    extract::{Path, Query, State},
    Extension, Json,
};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use app::types::{
    Dropoff, DroppedPage, FunnelResult, OrderMode, PathCustomers, PathResult, RetentionResult, StageOccupancy, Timeline,
};

use crate::{
    analytics::{
        question::{window_and_range, FunnelQuery, PathQuery, RetentionQuery},
        Active, AnalyticsError,
    },
    journeys::{Journey, JourneyError, DEFAULT_JOURNEY},
    state::AppState,
};

/// `GET /api/v1/funnel?steps=a,b,c&window=86400&from=…&to=…&mode=sequential`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn funnel(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Query(query): Query<FunnelQuery>,
) -> Result<Json<Value>, ApiError> {
    let who = who.map(|Extension(who)| who);
    let asked = [query.steps.as_deref(), query.exclude.as_deref()];
    super::privacy::refuse_personal_filters(asked, query.hold.as_deref(), who.as_ref(), &state.pii_keys)?;
    let spec = query.to_spec(state.clock.now())?;
    let result: FunnelResult =
        state.analytics.funnel(spec, query.trend.unwrap_or_default(), query.top.unwrap_or(5)).await?;
    let Json(mut answer) = super::privacy::answer(result, who.as_ref(), &state.pii_keys)?;
    super::privacy::mask_breakdown_values(&mut answer, query.breakdown.as_deref(), who.as_ref(), &state.pii_keys);
    Ok(Json(answer))
}

/// Which stages' occupancy: `journey=default&minutes=30&channel=email` (channel optional).
#[derive(Debug, Deserialize)]
pub struct StagesQuery {
    pub journey: Option<String>,
    pub minutes: Option<i64>,
    pub channel: Option<String>,
}

impl StagesQuery {
    /// The sessions that count as active (30 minutes by default; every channel unless named).
    pub fn active(&self) -> Active {
        Active {
            // A day at most: longer is a question for the funnels, and each value is a feed.
            minutes: self.minutes.unwrap_or(30).clamp(1, 1440),
            channel: self.channel.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_string),
        }
    }
}

/// `GET /api/v1/stages/active?journey=default&minutes=30&channel=email`: sessions active in
/// the last minutes (of customers whose first touch was that channel), by the stage they are
/// in now, with the median time in that stage.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn active_stages(
    State(state): State<AppState>,
    Query(query): Query<StagesQuery>,
) -> Result<Json<Vec<StageOccupancy>>, ApiError> {
    let journey = journey(&state, query.journey.as_deref())?;
    Ok(Json(state.analytics.active_stages(journey, query.active(), state.clock.now()).await?))
}

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    journey: Option<String>,
}

/// `GET /api/v1/customers/{id}/timeline`: every event of the customer behind any of their
/// identities, grouped by session, with stages.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn customer_timeline(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Path(id): Path<String>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let journey = journey(&state, query.journey.as_deref())?;
    let timeline: Timeline = state.analytics.customer_timeline(&id, journey).await?;
    super::privacy::answer(timeline, who.map(|Extension(who)| who).as_ref(), &state.pii_keys)
}

pub(super) fn journey(state: &AppState, name: Option<&str>) -> Result<Journey, ApiError> {
    let name = name.unwrap_or(DEFAULT_JOURNEY);
    state.journeys.get(name).ok_or_else(|| JourneyError::NotFound(name.to_string()).into())
}

/// `GET /api/v1/paths?start=EVENT|end=EVENT&depth=5&top=8&from=…&to=…&skip_page_views=true`
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn paths(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Query(query): Query<PathQuery>,
) -> Result<Json<PathResult>, ApiError> {
    let asked = [query.start.as_deref(), query.end.as_deref()];
    super::privacy::refuse_personal_filters(asked, None, who.map(|Extension(who)| who).as_ref(), &state.pii_keys)?;
    let spec = query.to_spec(state.clock.now())?;
    Ok(Json(state.analytics.paths(spec).await?))
}

/// `GET /api/v1/retention?start=signed_up&return=purchase_completed&period=week&periods=8&from=…&to=…&breakdown=$channel`:
/// the cohort grid, its average curve and, if asked, one curve per channel.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn retention(
    State(state): State<AppState>,
    Query(query): Query<RetentionQuery>,
) -> Result<Json<RetentionResult>, ApiError> {
    // Plain event names, counted: no property value (personal or not) is read or shown.
    let question = query.to_question(state.clock.now())?;
    Ok(Json(state.analytics.retention(question).await?))
}

/// Which node of the paths, and the page: `level=1&node=added_to_cart&offset=0&limit=50`.
/// Read beside [`PathQuery`] (two extractors, since flattening breaks numbers).
#[derive(Debug, Deserialize)]
pub struct PathNodeQuery {
    level: Option<usize>,
    node: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// Most customers one page of a path node lists.
const MAX_PATH_CUSTOMERS: usize = 1_000;

/// `GET /api/v1/paths/customers?start=EVENT&depth=…&level=1&node=EVENT&offset=0&limit=50`:
/// the customers at one node of those paths, as the Sankey draws it (`(other)` and
/// `(path ended)` are nodes too).
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn path_customers(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Query(query): Query<PathQuery>,
    Query(node): Query<PathNodeQuery>,
) -> Result<Json<PathCustomers>, ApiError> {
    let asked = [query.start.as_deref(), query.end.as_deref()];
    super::privacy::refuse_personal_filters(asked, None, who.map(|Extension(who)| who).as_ref(), &state.pii_keys)?;
    let spec = query.to_spec(state.clock.now())?;
    let (Some(level), Some(event)) = (node.level, node.node.filter(|n| !n.is_empty())) else {
        return Err(AnalyticsError::BadQuery(
            "pass the node as level=1&node=added_to_cart (level 0 is the event the paths start or end at)".into(),
        )
        .into());
    };
    let limit = node.limit.unwrap_or(app::types::PATH_CUSTOMERS_PAGE_SIZE);
    if !(1..=MAX_PATH_CUSTOMERS).contains(&limit) {
        return Err(
            AnalyticsError::BadQuery(format!("limit={limit} is out of range; use 1 to {MAX_PATH_CUSTOMERS}")).into()
        );
    }
    let page = state.analytics.path_customers(spec, level, event, limit, node.offset.unwrap_or(0)).await?;
    Ok(Json(page))
}

/// The funnel's parameters plus the page. (Spelled out rather than `#[serde(flatten)]`ed:
/// flattening makes query-string numbers fail to parse.)
#[derive(Debug, Deserialize)]
pub struct DroppedQuery {
    steps: Option<String>,
    window: Option<i64>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    mode: Option<OrderMode>,
    step: Option<usize>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET /api/v1/funnel/dropped?steps=…&step=2&limit=50&offset=0`: who reached step 2 and
/// not step 3, and what they did next.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn funnel_dropped(
    State(state): State<AppState>,
    who: Option<Extension<Principal>>,
    Query(query): Query<DroppedQuery>,
) -> Result<Json<DroppedPage>, ApiError> {
    let asked = [query.steps.as_deref()];
    super::privacy::refuse_personal_filters(asked, None, who.map(|Extension(who)| who).as_ref(), &state.pii_keys)?;
    let funnel = FunnelQuery {
        steps: query.steps,
        window: query.window,
        from: query.from,
        to: query.to,
        mode: query.mode,
        ..FunnelQuery::default()
    };
    let spec = funnel.to_spec(state.clock.now())?;
    let limit = query.limit.unwrap_or(50).min(500);
    let (step, offset, now_us) =
        (query.step.unwrap_or(1), query.offset.unwrap_or(0), state.clock.now().timestamp_micros());
    Ok(Json(state.analytics.funnel_dropped(spec, step, limit, offset, now_us).await?))
}

#[derive(Debug, Deserialize)]
pub struct DropoffQuery {
    journey: Option<String>,
    window: Option<i64>,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET /api/v1/dropoffs?journey=default&window=86400&from=…&to=…`:
/// for each stage transition, who reached the stage and not the next, and how long they stayed.
#[tracing::instrument(skip_all, err(level = "debug", Debug))]
pub async fn dropoffs(
    State(state): State<AppState>,
    Query(query): Query<DropoffQuery>,
) -> Result<Json<Vec<Dropoff>>, ApiError> {
    let journey = journey(&state, query.journey.as_deref())?;
    let stages = journey.stages.iter().map(|s| s.matchers()).collect();
    let spec = window_and_range(query.window, query.from, query.to, state.clock.now(), stages, OrderMode::Sequential)?;
    Ok(Json(state.analytics.journey_dropoffs(&journey, spec).await?))
}
