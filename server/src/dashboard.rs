//! The server's side of [`app::backend::DashboardBackend`]: what the pages' server functions
//! call. Thin: each answer comes from the analytics, journeys and alerts modules, which build
//! the app's wire types directly (the same types the REST API gives as JSON).

use std::sync::Arc;

use app::{
    backend::{BackendFuture, DashboardBackend},
    error::AppError,
    types::{
        resolve_range, AccessSettings, Alert, AlertChange, AlertFilter, AlertInbox, AlertRestore, AuditEntry,
        ChannelLeak, CustomerHistory, CustomerMatch, DataHealth, Direction, DroppedPage, FunnelAnswer, FunnelCharts,
        FunnelParams, Journey, JourneyMap, LeakByChannel, LiveEvent, OrderMode, PathAnswer, PathCustomers, PathParams,
        Person, PreviousPaths, PreviousPeriod, PreviousTransitions, Rule, SavedFunnel, Source, Span, StageCustomer,
        INBOX_PAGE_SIZE, MAX_BULK_ALERTS,
    },
};

use crate::{
    alerts::Alerts,
    analytics::{
        cards::Alerted,
        funnel::FunnelSpec,
        question::{window_and_range, FunnelQuery, PathQuery},
        Active, Analytics,
    },
    charts,
    feed::live_event,
    http::error::ApiError,
    journeys::{Journeys, DEFAULT_JOURNEY},
    rules::Rules,
    saved_funnels::SavedFunnels,
    store::Store,
};

/// Minutes of inactivity after which a session no longer counts as active on the map.
pub const ACTIVE_MINUTES: i64 = 30;
/// A transition counts customers who reach the next stage within this window.
const TRANSITION_WINDOW_SECONDS: i64 = 7 * 86_400;

/// Answers the dashboard.
pub struct Dashboard {
    pub store: Store,
    pub analytics: Analytics,
    pub journeys: Arc<Journeys>,
    pub alerts: Alerts,
    pub rules: Arc<Rules>,
    pub ingestor: crate::ingest::Ingestor,
    pub sources: Arc<crate::sources::Sources>,
    pub saved_funnels: SavedFunnels,
    pub accounts: Arc<crate::auth::Accounts>,
    pub pii_keys: app::privacy::PiiKeys,
    pub index: crate::index::EventIndex,
    pub hub: crate::hub::Hub,
    pub audit: crate::audit::Audit,
    pub retention_days: Option<u32>,
}

/// Groups of each kind the inbox shows.
const INBOX_GROUPS: usize = 20;
/// The deepest page the inbox goes to (older alerts are for the JSON API and its filters).
const MAX_INBOX_OFFSET: usize = 10_000;

/// Refuses a bulk change over [`MAX_BULK_ALERTS`] alerts.
fn bulk_limit(count: usize) -> Result<(), AppError> {
    match count {
        0 => Err(AppError::BadRequest("no alerts given; select at least one".into())),
        n if n > MAX_BULK_ALERTS => Err(AppError::BadRequest(format!(
            "{n} alerts in one change is over the limit of {MAX_BULK_ALERTS}; change them a page at a time"
        ))),
        _ => Ok(()),
    }
}

/// A failure inside the server: the details go to the server's log and never to the browser,
/// which learns which part failed (`part` builds the variant) and that it may retry.
fn hidden(part: fn(String) -> AppError, error: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %error, "a dashboard request failed");
    part("the server could not answer; retry, and if it keeps failing the details are in the server's log".into())
}

/// A failure of the database or the event index.
fn store_failed(error: impl std::fmt::Display) -> AppError {
    hidden(AppError::Store, error)
}

/// A domain error as the pages read it: the mapping the JSON API uses (`http::error`), so a
/// refusal reads alike everywhere and internals stay in the log.
fn edge(error: impl Into<ApiError>) -> AppError {
    error.into().into()
}

/// How many channels the biggest leak is split into before the rest are "(other)".
const LEAK_CHANNELS: usize = 8;

/// A transition's funnel split by channel as who reached it and who left, most left first.
fn leaks_by_channel(split: &app::types::FunnelResult) -> Vec<ChannelLeak> {
    let mut leaks: Vec<ChannelLeak> = split
        .breakdown
        .iter()
        .filter_map(|group| {
            let reached = group.steps.first()?.customers;
            let continued = group.steps.get(1).map_or(0, |s| s.customers);
            Some(ChannelLeak { channel: group.value.clone(), reached, left: reached.saturating_sub(continued) })
        })
        .filter(|leak| leak.reached > 0)
        .collect();
    leaks.sort_by(|a, b| b.left.cmp(&a.left).then_with(|| a.channel.cmp(&b.channel)));
    leaks
}

/// The funnel's range: its chosen days, or its last N days up to `now`.
fn funnel_range(params: &FunnelParams, now: chrono::DateTime<chrono::Utc>) -> Result<Span, AppError> {
    resolve_range(params.days.clamp(1, 365), params.from, params.to, now).map_err(AppError::BadRequest)
}

/// The builder's parameters as the analytics' funnel question (empty fields left out).
fn funnel_query(params: &FunnelParams, range: Span) -> FunnelQuery {
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    FunnelQuery {
        steps: Some(params.steps.clone()),
        window: Some(params.window_seconds),
        from: Some(range.from),
        to: Some(range.to),
        mode: Some(params.mode),
        exclude: text(&params.exclude),
        breakdown: text(&params.breakdown),
        top: None,
        hold: text(&params.hold),
        trend: Some(params.trend),
        channel: text(&params.channel),
        skip_page_views: Some(params.skip_page_views),
    }
}

/// The paths' range: their chosen days, or their last N days up to `now`.
fn path_range(params: &PathParams, now: chrono::DateTime<chrono::Utc>) -> Result<Span, AppError> {
    resolve_range(params.days.clamp(1, 365), params.from, params.to, now).map_err(AppError::BadRequest)
}

/// The paths question the page asks, as the JSON API would ask it.
fn path_query(params: &PathParams, range: Span) -> PathQuery {
    let event = Some(params.event.trim().to_string()).filter(|e| !e.is_empty());
    let (start, end) = match params.direction {
        Direction::After => (event, None),
        Direction::Before => (None, event),
    };
    PathQuery {
        start,
        end,
        depth: Some(params.depth),
        top: Some(params.top),
        from: Some(range.from),
        to: Some(range.to),
        skip_page_views: Some(params.skip_page_views),
    }
}

impl Dashboard {
    fn journey(&self, name: Option<&str>) -> Result<Journey, AppError> {
        let name = name.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_JOURNEY);
        self.journeys.get(name).ok_or_else(|| {
            AppError::BadRequest(format!("no journey named {name:?}; pick one of the journeys listed on the map"))
        })
    }
}

impl DashboardBackend for Dashboard {
    fn recent_events(&self, limit: usize) -> BackendFuture<Vec<LiveEvent>> {
        let store = self.store.clone();
        Box::pin(async move {
            let events = store.recent_events(limit).await.map_err(store_failed)?;
            Ok(events.iter().map(live_event).collect())
        })
    }

    fn journey_map(
        &self,
        journey: Option<String>,
        days: u32,
        channel: Option<String>,
        dates: app::range::PickedDates,
    ) -> BackendFuture<JourneyMap> {
        let channel = channel.filter(|c| !c.trim().is_empty());
        let found = self.journey(journey.as_deref());
        let (analytics, journeys) = (self.analytics.clone(), self.journeys.list());
        let now = self.store.clock().now();
        Box::pin(async move {
            let journey = found?;
            let range = resolve_range(days, dates.from, dates.to, now).map_err(AppError::BadRequest)?;
            let over = |range: Span| -> Result<FunnelSpec, AppError> {
                let stages = journey.stages.iter().map(|s| s.matchers()).collect();
                let spec = window_and_range(
                    Some(TRANSITION_WINDOW_SECONDS),
                    Some(range.from),
                    Some(range.to),
                    now,
                    stages,
                    OrderMode::Sequential,
                )
                .map_err(edge)?;
                Ok(FunnelSpec { channel: channel.clone(), ..spec })
            };
            let transitions = analytics.journey_dropoffs(&journey, over(range)?).await.map_err(edge)?;
            let previous = match dates.compare {
                true => {
                    let before = range.previous();
                    let transitions = analytics.journey_dropoffs(&journey, over(before)?).await.map_err(edge)?;
                    Some(PreviousTransitions { range: before, transitions })
                }
                false => None,
            };
            let active = Active { minutes: ACTIVE_MINUTES, channel: channel.clone() };
            let occupancy = analytics.active_stages(journey.clone(), active, now).await.map_err(edge)?;
            let channels = analytics.channels().await.map_err(edge)?;
            Ok(JourneyMap {
                journey,
                journeys: journeys.into_iter().map(|j| j.name).collect(),
                transitions,
                occupancy,
                days,
                range,
                previous,
                channel,
                channels,
            })
        })
    }

    fn leak_by_channel(
        &self,
        journey: Option<String>,
        from_stage: String,
        days: u32,
        channel: Option<String>,
        dates: app::range::PickedDates,
    ) -> BackendFuture<LeakByChannel> {
        let channel = channel.filter(|c| !c.trim().is_empty());
        let found = self.journey(journey.as_deref());
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let journey = found?;
            let at = journey.stages.iter().position(|s| s.name == from_stage).filter(|&i| i + 1 < journey.stages.len());
            let Some(at) = at else {
                return Err(AppError::BadRequest(format!(
                    "{from_stage:?} is not a stage with a next one in this journey; pick one of its stages but the last"
                )));
            };
            let range = resolve_range(days, dates.from, dates.to, now).map_err(AppError::BadRequest)?;
            let pair = [&journey.stages[at], &journey.stages[at + 1]];
            let spec = window_and_range(
                Some(TRANSITION_WINDOW_SECONDS),
                Some(range.from),
                Some(range.to),
                now,
                pair.iter().map(|s| s.matchers()).collect(),
                OrderMode::Sequential,
            )
            .map_err(edge)?;
            // One scan of that transition, split by the channel that first brought each customer.
            let spec = FunnelSpec { channel, breakdown: Some(crate::index::Column::Channel), ..spec };
            let split = analytics.funnel(spec, app::types::TrendPeriod::Day, LEAK_CHANNELS).await.map_err(edge)?;
            Ok(LeakByChannel {
                from_stage: pair[0].name.clone(),
                to_stage: pair[1].name.clone(),
                channels: leaks_by_channel(&split),
            })
        })
    }

    fn stage_customers(
        &self,
        journey: Option<String>,
        stage: String,
        channel: Option<String>,
        offset: usize,
    ) -> BackendFuture<app::types::StagePage> {
        let active = Active { minutes: ACTIVE_MINUTES, channel: channel.filter(|c| !c.trim().is_empty()) };
        let found = self.journey(journey.as_deref());
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let journey = found?;
            let index = journey.stages.iter().position(|s| s.name == stage).ok_or_else(|| {
                AppError::BadRequest(format!("the {:?} journey has no stage {stage:?}", journey.name))
            })?;
            let found = analytics.stage_customers(journey, index, active, now).await.map_err(edge)?;
            Ok(app::types::StagePage {
                total: found.len() as u64,
                offset,
                customers: found
                    .into_iter()
                    .skip(offset)
                    .take(app::types::STAGE_PAGE_SIZE)
                    .map(|(customer_id, seconds_in_stage)| StageCustomer { customer_id, seconds_in_stage })
                    .collect(),
            })
        })
    }

    fn customer(&self, id: String) -> BackendFuture<CustomerHistory> {
        let found = self.journey(None);
        let (analytics, alerts) = (self.analytics.clone(), self.alerts.clone());
        Box::pin(async move {
            let journey = found?;
            let timeline = analytics.customer_timeline(&id, journey.clone()).await.map_err(edge)?;
            let filter =
                AlertFilter { customer: Some(timeline.customer_id.clone()), limit: Some(50), ..Default::default() };
            let alerts = alerts.list(filter).await.map_err(edge)?;
            let card =
                analytics.customer_cards(&journey, vec![timeline.customer_id.clone()]).await.map_err(edge)?.pop();
            Ok(CustomerHistory { timeline, alerts, card })
        })
    }

    fn funnel(&self, params: FunnelParams) -> BackendFuture<FunnelAnswer> {
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let range = funnel_range(&params, now)?;
            let spec = funnel_query(&params, range).to_spec(now).map_err(edge)?;
            let funnel = analytics.funnel(spec, params.trend, 5).await.map_err(edge)?;
            let previous = match params.compare {
                true => {
                    let before = range.previous();
                    let spec = funnel_query(&params, before).to_spec(now).map_err(edge)?;
                    let steps = analytics.funnel(spec, params.trend, 5).await.map_err(edge)?.steps;
                    Some(PreviousPeriod { range: before, steps })
                }
                false => None,
            };
            let chart = |drawn: Result<String, charts::ChartError>| drawn.map_err(|e| hidden(AppError::Chart, e));
            // Exported charts travel alone: each says what it counts, when and with which filters.
            let title = params.describe(range);
            let charts = FunnelCharts {
                steps_svg: chart(charts::funnel_steps(&funnel.steps, &title))?,
                time_to_convert_svg: chart(charts::time_to_convert(
                    &funnel.time_to_convert,
                    &format!("Time to complete · {title}"),
                ))?,
                trend_svg: chart(charts::conversion_trend(
                    &funnel.trend,
                    &format!("Conversion by {} entered · {title}", params.trend.as_str()),
                ))?,
            };
            Ok(FunnelAnswer { funnel, charts, range, previous })
        })
    }

    fn saved_funnels(&self) -> BackendFuture<Vec<SavedFunnel>> {
        let saved = self.saved_funnels.clone();
        Box::pin(async move { saved.list().await.map_err(edge) })
    }

    fn save_funnel(&self, name: String, params: FunnelParams) -> BackendFuture<String> {
        let saved = self.saved_funnels.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            // Only a funnel the analytics can answer is worth keeping.
            funnel_query(&params, funnel_range(&params, now)?).to_spec(now).map_err(edge)?;
            saved.save(&name, &params).await.map_err(edge)
        })
    }

    fn delete_funnel(&self, name: String) -> BackendFuture<()> {
        let saved = self.saved_funnels.clone();
        Box::pin(async move { saved.delete(&name).await.map_err(edge) })
    }

    fn funnel_dropped(&self, params: FunnelParams, step: usize, offset: usize) -> BackendFuture<DroppedPage> {
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let spec = funnel_query(&params, funnel_range(&params, now)?).to_spec(now).map_err(edge)?;
            let now_us = now.timestamp_micros();
            analytics.funnel_dropped(spec, step, app::types::DROPPED_PAGE_SIZE, offset, now_us).await.map_err(edge)
        })
    }

    fn paths(&self, params: PathParams) -> BackendFuture<PathAnswer> {
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let range = path_range(&params, now)?;
            let spec = path_query(&params, range).to_spec(now).map_err(edge)?;
            let paths = analytics.paths(spec).await.map_err(edge)?;
            let previous = match params.compare {
                true => {
                    let before = range.previous();
                    let spec = path_query(&params, before).to_spec(now).map_err(edge)?;
                    Some(PreviousPaths { range: before, paths: analytics.paths(spec).await.map_err(edge)? })
                }
                false => None,
            };
            Ok(PathAnswer { paths, range, previous })
        })
    }

    fn backtest(&self, mut rule: app::types::Rule, days: u32) -> BackendFuture<app::types::BacktestResult> {
        let (store, index, journeys) = (self.store.clone(), self.index.clone(), self.journeys.clone());
        Box::pin(async move {
            if rule.id.is_empty() {
                rule.id = "backtest".into();
            }
            let now = store.clock().now();
            crate::rule_engine::backtest::backtest(&index, &store, &journeys, rule, days, now).await.map_err(edge)
        })
    }

    fn rule_outcomes(&self, id: String) -> BackendFuture<app::types::RuleOutcomes> {
        let (store, index, rules) = (self.store.clone(), self.index.clone(), self.rules.clone());
        Box::pin(async move {
            let rule = rules.get(&id).ok_or_else(|| edge(crate::rules::RuleError::NotFound(id)))?;
            crate::outcomes::of_rule(&store, &index, rule, store.clock().now()).await.map_err(edge)
        })
    }

    fn retention(&self, params: app::types::RetentionParams) -> BackendFuture<app::types::RetentionAnswer> {
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let query = crate::analytics::question::RetentionQuery {
                start: Some(params.start.clone()),
                returning: Some(params.returning.clone()),
                period: Some(params.period),
                periods: Some(params.periods),
                breakdown: Some(params.breakdown.clone()),
                ..Default::default()
            };
            let result = analytics.retention(query.to_question(now).map_err(edge)?).await.map_err(edge)?;
            let start = result.start_event.as_deref().unwrap_or("their first event");
            let back = result.return_event.as_deref().unwrap_or("any event");
            let title = format!("Came back ({back}) by {} after {start} (UTC)", params.period.as_str());
            let heatmap_svg = charts::retention_heatmap(&result, &title).map_err(|e| hidden(AppError::Chart, e))?;
            Ok(app::types::RetentionAnswer { result, heatmap_svg })
        })
    }

    fn path_customers(
        &self,
        params: PathParams,
        level: usize,
        event: String,
        offset: usize,
    ) -> BackendFuture<PathCustomers> {
        let analytics = self.analytics.clone();
        let now = self.store.clock().now();
        Box::pin(async move {
            let spec = path_query(&params, path_range(&params, now)?).to_spec(now).map_err(edge)?;
            let page = app::types::PATH_CUSTOMERS_PAGE_SIZE;
            analytics.path_customers(spec, level, event, page, offset).await.map_err(edge)
        })
    }

    fn rules(&self) -> BackendFuture<Vec<Rule>> {
        let listed = self.rules.list();
        Box::pin(async move { Ok(listed) })
    }

    fn save_rule(&self, rule: Rule) -> BackendFuture<()> {
        let rules = self.rules.clone();
        Box::pin(async move { rules.save(rule).await.map_err(edge) })
    }

    fn delete_rule(&self, id: String) -> BackendFuture<()> {
        let rules = self.rules.clone();
        Box::pin(async move { rules.delete(&id).await.map_err(edge) })
    }

    fn health(&self) -> BackendFuture<DataHealth> {
        let (store, journeys, counters) = (self.store.clone(), self.journeys.list(), self.ingestor.counters());
        let now = self.store.clock().now();
        Box::pin(async move {
            let report = crate::health::report(&store, journeys, &counters, now).await.map_err(store_failed)?;
            let volume_svg = charts::volume_by_source(&report.volume, now).map_err(|e| hidden(AppError::Chart, e))?;
            let dead_letters = store.recent_dead_letters(50).await.map_err(store_failed)?;
            Ok(DataHealth { report, volume_svg, dead_letters })
        })
    }

    fn replay_dead_letter(&self, id: i64) -> BackendFuture<()> {
        let ingestor = self.ingestor.clone();
        let now = self.store.clock().now();
        Box::pin(async move { ingestor.replay(id, None, now).await.map(|_| ()).map_err(edge) })
    }

    fn sources(&self) -> BackendFuture<Vec<Source>> {
        let store = self.store.clone();
        // The demo's public key is shown only while it works (with --demo).
        let demo_key_works = self.sources.accepts(crate::sources::DEMO_SOURCE_ID);
        Box::pin(async move {
            let records = store.sources().await.map_err(store_failed)?;
            Ok(records
                .into_iter()
                .map(|r| Source {
                    write_key: (r.id == crate::sources::DEMO_SOURCE_ID && demo_key_works)
                        .then(|| crate::sources::DEMO_WRITE_KEY.to_string()),
                    id: r.id,
                    name: r.name,
                    created_at: r.created_at,
                    revoked_at: r.revoked_at,
                })
                .collect())
        })
    }

    fn access(&self) -> BackendFuture<AccessSettings> {
        let view = AccessSettings {
            users: self
                .accounts
                .users()
                .into_iter()
                .map(|u| Person { email: u.email, role: u.role, created_at: u.created_at })
                .collect(),
            tokens: self.accounts.tokens(),
            pii_keys: self.pii_keys.keys().to_vec(),
            retention_days: self.retention_days,
        };
        Box::pin(async move { Ok(view) })
    }

    fn revoke_token(&self, id: String) -> BackendFuture<()> {
        let accounts = self.accounts.clone();
        Box::pin(async move {
            match accounts.revoke_token(id.trim()).await {
                Ok(_) => Ok(()),
                Err(crate::auth::AuthError::Store(store)) => Err(store_failed(store)),
                Err(refused) => Err(AppError::BadRequest(refused.to_string())),
            }
        })
    }

    fn revoke_source(&self, id: String) -> BackendFuture<()> {
        let sources = self.sources.clone();
        Box::pin(async move {
            match sources.revoke(id.trim()).await.map_err(store_failed)? {
                true => Ok(()),
                false => Err(AppError::BadRequest(format!("no source {id:?} with a working key; reload the list"))),
            }
        })
    }

    fn create_source(&self, name: String) -> BackendFuture<Source> {
        let sources = self.sources.clone();
        Box::pin(async move {
            if name.trim().is_empty() {
                return Err(AppError::BadRequest("give the source a name, e.g. \"Web shop\"".into()));
            }
            let (record, key) = sources.create(&name).await.map_err(store_failed)?;
            Ok(Source {
                id: record.id,
                name: record.name,
                created_at: record.created_at,
                write_key: Some(key),
                revoked_at: None,
            })
        })
    }

    fn journeys(&self) -> BackendFuture<Vec<Journey>> {
        let listed = self.journeys.list();
        Box::pin(async move { Ok(listed) })
    }

    fn save_journey(&self, journey: Journey) -> BackendFuture<()> {
        let journeys = self.journeys.clone();
        Box::pin(async move { journeys.save(journey).await.map_err(edge) })
    }

    fn search_customers(&self, text: String) -> BackendFuture<Vec<CustomerMatch>> {
        let store = self.store.clone();
        Box::pin(async move {
            let found = store.search_customers(&text).await.map_err(store_failed)?;
            Ok(found.into_iter().map(|(customer_id, traits)| CustomerMatch { customer_id, traits }).collect())
        })
    }

    fn alert_inbox(&self, query: AlertFilter) -> BackendFuture<AlertInbox> {
        let (alerts, analytics) = (self.alerts.clone(), self.analytics.clone());
        let (rules, index, now) = (self.rules.clone(), self.index.clone(), self.store.clock().now());
        let found = self.journey(None);
        let given = |text: Option<String>| text.filter(|s| !s.is_empty());
        let filter = AlertFilter {
            rule: given(query.rule),
            assignee: given(query.assignee),
            customer: given(query.customer),
            limit: Some(INBOX_PAGE_SIZE),
            offset: Some(query.offset.unwrap_or(0).min(MAX_INBOX_OFFSET)),
            ..query
        };
        Box::pin(async move {
            let journey = found?;
            let page = alerts.list(filter.clone()).await.map_err(edge)?;
            let total = alerts.count(filter.clone()).await.map_err(edge)?;
            let (by_rule, by_customer) = alerts.groups(filter, INBOX_GROUPS).await.map_err(edge)?;
            let mut ids: Vec<String> = page.iter().map(|a| a.customer_id.clone()).filter(|c| !c.is_empty()).collect();
            ids.sort();
            ids.dedup();
            let customers = analytics.customer_cards(&journey, ids).await.map_err(edge)?;
            let alerted = page
                .iter()
                .filter(|a| !a.customer_id.is_empty())
                .map(|a| Alerted {
                    alert_id: a.id,
                    customer_id: a.customer_id.clone(),
                    occurred_us: a.occurred_at.timestamp_micros(),
                })
                .collect();
            let mut follow_ups = analytics.follow_ups(&journey, alerted).await.map_err(edge)?;
            // The goal of each alert's rule, and whether the customer reached it.
            let asked: Vec<crate::outcomes::GoalAsked> = page
                .iter()
                .filter(|a| !a.customer_id.is_empty())
                .filter_map(|a| {
                    Some(crate::outcomes::GoalAsked {
                        alert_id: a.id,
                        customer_id: a.customer_id.clone(),
                        raised_at: a.created_at,
                        goal: rules.get(&a.rule_id)?.goal?,
                    })
                })
                .collect();
            if !asked.is_empty() {
                for (id, progress) in crate::outcomes::progress(&index, asked, now).await.map_err(edge)? {
                    if let Some(follow_up) = follow_ups.iter_mut().find(|f| f.alert_id == id) {
                        follow_up.goal = Some(progress);
                    }
                }
            }
            Ok(AlertInbox { alerts: page, total, by_rule, by_customer, customers, follow_ups })
        })
    }

    fn change_alerts(&self, ids: Vec<i64>, update: AlertChange) -> BackendFuture<Vec<Alert>> {
        let alerts = self.alerts.clone();
        Box::pin(async move {
            bulk_limit(ids.len())?;
            alerts.change_many(&ids, update).await.map_err(edge)
        })
    }

    fn restore_alerts(&self, previous: Vec<AlertRestore>) -> BackendFuture<Vec<Alert>> {
        let alerts = self.alerts.clone();
        Box::pin(async move {
            bulk_limit(previous.len())?;
            alerts.restore(previous).await.map_err(edge)
        })
    }

    fn customer_lists(&self) -> BackendFuture<app::types::CustomerLists> {
        let analytics = self.analytics.clone();
        let found = self.journey(None);
        let since = self.store.clock().now() - chrono::Duration::days(app::types::MOST_ACTIVE_DAYS);
        Box::pin(async move {
            let journey = found?;
            let size = app::types::CUSTOMER_LIST_SIZE;
            let (recent, active) =
                analytics.recent_and_most_active(size, since.timestamp_micros()).await.map_err(edge)?;
            Ok(app::types::CustomerLists {
                recent: analytics.customer_cards(&journey, recent).await.map_err(edge)?,
                most_active: analytics.customer_cards(&journey, active).await.map_err(edge)?,
            })
        })
    }

    fn vocabulary(&self) -> BackendFuture<app::types::Vocabulary> {
        let analytics = self.analytics.clone();
        let stages: Vec<String> =
            self.journey(None).map(|j| j.stages.into_iter().map(|s| s.name).collect()).unwrap_or_default();
        Box::pin(async move {
            Ok(app::types::Vocabulary {
                events: analytics.event_names().await.map_err(edge)?,
                properties: analytics.property_keys().await.map_err(edge)?,
                channels: analytics.channels().await.map_err(edge)?,
                stages,
            })
        })
    }

    fn assignees(&self) -> BackendFuture<Vec<String>> {
        let mut users: Vec<String> =
            self.accounts.users().into_iter().filter(|u| u.role >= app::auth::Role::Analyst).map(|u| u.email).collect();
        users.sort();
        Box::pin(async move { Ok(users) })
    }

    fn setup_open(&self) -> bool {
        !self.accounts.has_users()
    }

    fn erase_customer(&self, id: String) -> BackendFuture<String> {
        let (store, index, hub) = (self.store.clone(), self.index.clone(), self.hub.clone());
        Box::pin(async move {
            match crate::erasure::erase(&store, &index, &hub, id.trim()).await {
                Ok(erased) => Ok(format!(
                    "Erased {} identities and {} rows; nothing of theirs is left",
                    erased.identities.len(),
                    erased.total_rows()
                )),
                Err(crate::erasure::ErasureError::NotFound(id)) => {
                    Err(AppError::BadRequest(format!("nothing to erase: no customer {id:?} is known")))
                }
                Err(other) => Err(store_failed(other)),
            }
        })
    }

    fn audit_log(&self, limit: usize) -> BackendFuture<Vec<AuditEntry>> {
        let audit = self.audit.clone();
        Box::pin(async move { audit.recent(limit).await.map_err(store_failed) })
    }

    fn pii_keys(&self) -> app::privacy::PiiKeys {
        self.pii_keys.clone()
    }

    fn warming_up(&self) -> Option<u8> {
        self.index.warming_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analytics::AnalyticsError, rules::RuleError};
    use app::types::{BreakdownGroup, FunnelResult, StepResult};

    fn step(step: usize, customers: u64) -> StepResult {
        StepResult {
            step,
            event: String::new(),
            customers,
            conversion_from_first: 0.0,
            conversion_from_previous: 0.0,
            median_seconds: None,
            average_seconds: None,
            time_to_convert: vec![],
        }
    }

    #[test]
    fn a_leak_by_channel_counts_who_left_most_first() {
        let group = |value: &str, reached: u64, continued: u64| BreakdownGroup {
            value: value.into(),
            steps: vec![step(1, reached), step(2, continued)],
        };
        let split = FunnelResult {
            mode: OrderMode::Sequential,
            window_seconds: 3_600,
            steps: vec![step(1, 17), step(2, 9)],
            time_to_convert: vec![],
            // email: 10 reached, 7 went on → 3 left; direct: 6 → 1, 5 left; paid: none reached.
            breakdown: vec![
                group("email", 10, 7),
                group("direct", 6, 1),
                group("paid search", 0, 0),
                group("(other)", 1, 1),
            ],
            trend: vec![],
        };
        let leaks: Vec<(String, u64, u64)> =
            leaks_by_channel(&split).into_iter().map(|l| (l.channel, l.reached, l.left)).collect();
        assert_eq!(
            leaks,
            vec![("direct".to_string(), 6, 5), ("email".to_string(), 10, 3), ("(other)".to_string(), 1, 0)]
        );
    }

    #[test]
    fn duckdb_error_text_never_reaches_the_browser() {
        let failure =
            crate::store::StoreError::WriteFailed("IO Error: could not write /var/lib/secret/wayline.duckdb".into());
        let AppError::Store(message) = store_failed(failure) else { panic!("a failure of the store is a store error") };
        assert!(!message.contains("secret") && !message.contains("IO Error"), "{message}");
        assert!(message.contains("retry"), "{message}");

        let AppError::Store(message) =
            edge(RuleError::Store(crate::store::StoreError::Task("Binder Error: column x".into())))
        else {
            panic!("a store failure behind a rule is hidden")
        };
        assert!(!message.contains("Binder"), "{message}");
        // A refusal the user can act on keeps its words.
        assert!(
            matches!(edge(AnalyticsError::BadQuery("steps: give at least two".into())), AppError::BadRequest(m) if m.contains("two"))
        );
    }
}
