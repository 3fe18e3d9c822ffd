//! Server functions: thin calls from the pages into the backend.

use leptos::{prelude::*, server_fn::ServerFn};

use crate::{
    auth::Role,
    error::AppError,
    types::{
        Alert, AlertChange, AlertFilter, AlertInbox, AlertRestore, CustomerHistory, CustomerMatch, DataHealth,
        DroppedPage, FunnelAnswer, FunnelParams, Journey, JourneyMap, LiveEvent, PathAnswer, PathCustomers, PathParams,
        Rule, SavedFunnel, Source,
    },
};

/// Most events one call returns; keeps a page request bounded.
pub const MAX_RECENT_EVENTS: u32 = 500;

/// While the event index loads after a start, how far it has got (percent); `None` once the
/// pages' questions can be answered.
#[server]
pub async fn index_warm_up() -> Result<Option<u8>, AppError> {
    Ok(crate::backend::use_backend()?.warming_up())
}

/// The newest committed events, newest first (at most [`MAX_RECENT_EVENTS`]).
#[server]
pub async fn recent_events(limit: u32) -> Result<Vec<LiveEvent>, AppError> {
    let backend = crate::backend::use_backend()?;
    let events = backend.recent_events(limit.min(MAX_RECENT_EVENTS) as usize).await.map_err(crate::backend::refused)?;
    Ok(crate::backend::for_caller(events, &backend))
}

/// The journey map: stages, transitions over the last `days` (1 to 90), active sessions now;
/// of the customers a channel brought, when one is given.
#[server]
pub async fn load_journey_map(
    journey: Option<String>,
    days: u32,
    channel: Option<String>,
    dates: crate::range::PickedDates,
) -> Result<JourneyMap, AppError> {
    crate::backend::use_backend()?
        .journey_map(journey, days.clamp(1, 90), channel, dates)
        .await
        .map_err(crate::backend::refused)
}

/// Who left between `from_stage` and the next stage over the map's range, by first channel.
#[server]
pub async fn load_leak_by_channel(
    journey: Option<String>,
    from_stage: String,
    days: u32,
    channel: Option<String>,
    dates: crate::range::PickedDates,
) -> Result<crate::types::LeakByChannel, AppError> {
    crate::backend::use_backend()?
        .leak_by_channel(journey, from_stage, days.clamp(1, 90), channel, dates)
        .await
        .map_err(crate::backend::refused)
}

/// The customers in a stage now (of a channel, when one is given), a page from `offset`.
#[server]
pub async fn stage_customers(
    journey: Option<String>,
    stage: String,
    channel: Option<String>,
    offset: usize,
) -> Result<crate::types::StagePage, AppError> {
    crate::backend::use_backend()?
        .stage_customers(journey, stage, channel, offset)
        .await
        .map_err(crate::backend::refused)
}

/// One page of the inbox with its total, groups and customers.
#[server]
pub async fn load_alert_inbox(#[server(default)] query: AlertFilter) -> Result<AlertInbox, AppError> {
    let backend = crate::backend::use_backend()?;
    let inbox = backend.alert_inbox(query).await.map_err(crate::backend::refused)?;
    Ok(crate::backend::for_caller(inbox, &backend))
}

/// Acknowledges, resolves, reopens or assigns several alerts at once (at most
/// [`crate::types::MAX_BULK_ALERTS`]).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn change_alerts(ids: Vec<i64>, update: AlertChange) -> Result<Vec<Alert>, AppError> {
    crate::backend::use_backend()?.change_alerts(ids, update).await.map_err(crate::backend::refused)
}

/// Undoes a change: puts the alerts back as they were, unless someone changed them since.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn restore_alerts(previous: Vec<AlertRestore>) -> Result<Vec<Alert>, AppError> {
    crate::backend::use_backend()?.restore_alerts(previous).await.map_err(crate::backend::refused)
}

/// Event names, property keys, channels and stages the store has seen, for pickers.
#[server]
pub async fn load_vocabulary() -> Result<crate::types::Vocabulary, AppError> {
    crate::backend::use_backend()?.vocabulary().await.map_err(crate::backend::refused)
}

/// Who alerts may be assigned to.
#[server]
pub async fn list_assignees() -> Result<Vec<String>, AppError> {
    crate::backend::use_backend()?.assignees().await.map_err(crate::backend::refused)
}

/// A customer's timeline and alerts.
#[server]
pub async fn load_customer(id: String) -> Result<CustomerHistory, AppError> {
    let backend = crate::backend::use_backend()?;
    let customer = backend.customer(id).await.map_err(crate::backend::refused)?;
    Ok(crate::backend::for_caller(customer, &backend))
}

/// A funnel's figures and charts.
#[server]
pub async fn load_funnel(params: FunnelParams) -> Result<FunnelAnswer, AppError> {
    let backend = crate::backend::use_backend()?;
    crate::backend::refuse_personal_filters([&*params.steps, &*params.exclude], Some(&params.hold), &backend)
        .map_err(crate::backend::refused)?;
    let breakdown = params.breakdown.trim().to_string();
    let mut view = backend.funnel(params).await.map_err(crate::backend::refused)?;
    if !crate::backend::principal().is_some_and(|who| crate::privacy::sees_personal_data(who.role)) {
        crate::privacy::mask_breakdown(&mut view, &breakdown, &backend.pii_keys());
    }
    Ok(view)
}

/// Every saved funnel, by name.
#[server]
pub async fn list_saved_funnels() -> Result<Vec<SavedFunnel>, AppError> {
    crate::backend::use_backend()?.saved_funnels().await.map_err(crate::backend::refused)
}

/// Saves the funnel under a name; returns the name as saved.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn save_funnel(name: String, params: FunnelParams) -> Result<String, AppError> {
    crate::backend::use_backend()?.save_funnel(name, params).await.map_err(crate::backend::refused)
}

/// Forgets a saved funnel.
#[server]
pub async fn delete_saved_funnel(name: String) -> Result<(), AppError> {
    crate::backend::use_backend()?.delete_funnel(name).await.map_err(crate::backend::refused)
}

/// Who dropped after a funnel step, [`crate::types::DROPPED_PAGE_SIZE`] from `offset`.
#[server]
pub async fn load_funnel_dropped(params: FunnelParams, step: usize, offset: usize) -> Result<DroppedPage, AppError> {
    let backend = crate::backend::use_backend()?;
    crate::backend::refuse_personal_filters([&*params.steps, &*params.exclude], Some(&params.hold), &backend)
        .map_err(crate::backend::refused)?;
    backend.funnel_dropped(params, step, offset).await.map_err(crate::backend::refused)
}

/// Paths from (or to) an event.
#[server]
pub async fn load_paths(params: PathParams) -> Result<PathAnswer, AppError> {
    let backend = crate::backend::use_backend()?;
    crate::backend::refuse_personal_filters([&*params.event], None, &backend).map_err(crate::backend::refused)?;
    backend.paths(params).await.map_err(crate::backend::refused)
}

/// Did acting on a rule's alerts help (its goal, treated against held out)?
#[server]
pub async fn load_rule_outcomes(id: String) -> Result<crate::types::RuleOutcomes, AppError> {
    let backend = crate::backend::use_backend()?;
    backend.rule_outcomes(id).await.map_err(crate::backend::refused)
}

/// Retention by cohort, with its heatmap.
#[server]
pub async fn load_retention(params: crate::types::RetentionParams) -> Result<crate::types::RetentionAnswer, AppError> {
    let backend = crate::backend::use_backend()?;
    backend.retention(params).await.map_err(crate::backend::refused)
}

/// The customers at one node of the paths (`event` at `level`), a page from `offset`.
#[server]
pub async fn load_path_customers(
    params: PathParams,
    level: usize,
    event: String,
    offset: usize,
) -> Result<PathCustomers, AppError> {
    let backend = crate::backend::use_backend()?;
    crate::backend::refuse_personal_filters([&*params.event], None, &backend).map_err(crate::backend::refused)?;
    backend.path_customers(params, level, event, offset).await.map_err(crate::backend::refused)
}

/// Every rule.
#[server]
pub async fn list_rules() -> Result<Vec<Rule>, AppError> {
    crate::backend::use_backend()?.rules().await.map_err(crate::backend::refused)
}

/// Creates or replaces a rule. Sent as JSON: the condition is a nested document, which the
/// default URL encoding cannot carry.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn save_rule(rule: Rule) -> Result<(), AppError> {
    crate::backend::use_backend()?.save_rule(rule).await.map_err(crate::backend::refused)
}

/// What a rule (saved or not) would have raised over the last `days` of history; raises
/// nothing. Sent as JSON, as [`save_rule`] is.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn backtest_rule(rule: Rule, days: u32) -> Result<crate::types::BacktestResult, AppError> {
    crate::backend::use_backend()?.backtest(rule, days).await.map_err(crate::backend::refused)
}

/// Deletes a rule.
#[server]
pub async fn delete_rule(id: String) -> Result<(), AppError> {
    crate::backend::use_backend()?.delete_rule(id).await.map_err(crate::backend::refused)
}

/// The data health report.
#[server]
pub async fn load_health() -> Result<DataHealth, AppError> {
    let backend = crate::backend::use_backend()?;
    let health = backend.health().await.map_err(crate::backend::refused)?;
    Ok(crate::backend::for_caller(health, &backend))
}

/// Replays a dead letter.
#[server]
pub async fn replay_dead_letter(id: i64) -> Result<(), AppError> {
    crate::backend::use_backend()?.replay_dead_letter(id).await.map_err(crate::backend::refused)
}

/// Every source.
#[server]
pub async fn list_sources() -> Result<Vec<Source>, AppError> {
    crate::backend::use_backend()?.sources().await.map_err(crate::backend::refused)
}

/// Registers a source; its write key is in the answer, and only there.
#[server]
pub async fn create_source(name: String) -> Result<Source, AppError> {
    crate::backend::use_backend()?.create_source(name).await.map_err(crate::backend::refused)
}

/// Users, API tokens and what is masked for viewers.
#[server]
pub async fn load_access() -> Result<crate::types::AccessSettings, AppError> {
    crate::backend::use_backend()?.access().await.map_err(crate::backend::refused)
}

/// Revokes an API token: refused from now on.
#[server]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    crate::backend::use_backend()?.revoke_token(id).await.map_err(crate::backend::refused)
}

/// Revokes a source's write key: refused from now on (its events stay).
#[server]
pub async fn revoke_source(id: String) -> Result<(), AppError> {
    crate::backend::use_backend()?.revoke_source(id).await.map_err(crate::backend::refused)
}

/// Every journey.
#[server]
pub async fn list_journeys() -> Result<Vec<Journey>, AppError> {
    crate::backend::use_backend()?.journeys().await.map_err(crate::backend::refused)
}

/// Saves a journey (sent as JSON: stages are nested).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn save_journey(journey: Journey) -> Result<(), AppError> {
    crate::backend::use_backend()?.save_journey(journey).await.map_err(crate::backend::refused)
}

/// Customers by id or trait.
#[server]
pub async fn search_customers(text: String) -> Result<Vec<CustomerMatch>, AppError> {
    let backend = crate::backend::use_backend()?;
    let wanted = text.trim().to_lowercase();
    let mut found = backend.search_customers(text).await.map_err(crate::backend::refused)?;
    // A viewer finds customers by id only: finding one by an email would tell them whose
    // email it is, which the masking hides.
    if !crate::backend::principal().is_some_and(|who| crate::privacy::sees_personal_data(who.role)) {
        found.retain(|c| c.customer_id.to_lowercase().contains(&wanted));
    }
    Ok(crate::backend::for_caller(found, &backend))
}

/// The customers seen last and the most active lately (the customers page before a search).
#[server]
pub async fn load_customer_lists() -> Result<crate::types::CustomerLists, AppError> {
    let backend = crate::backend::use_backend()?;
    let lists = backend.customer_lists().await.map_err(crate::backend::refused)?;
    Ok(crate::backend::for_caller(lists, &backend))
}

/// The newest changes people and tokens made (at most 200).
#[server]
pub async fn load_audit_log() -> Result<Vec<crate::types::AuditEntry>, AppError> {
    crate::backend::use_backend()?.audit_log(200).await.map_err(crate::backend::refused)
}

/// Erases a customer, across every identity linked to them, from everything Wayline keeps.
#[server]
pub async fn erase_customer(id: String) -> Result<String, AppError> {
    crate::backend::use_backend()?.erase_customer(id).await.map_err(crate::backend::refused)
}

/// Server functions above the viewer's level that only read (the audit log records changes).
pub const ADMIN_READS: &[&str] = &[<LoadAccess as ServerFn>::PATH, <LoadAuditLog as ServerFn>::PATH];

/// The least role each server function needs, by its URL. The server's guard enforces this
/// table in front of every call from a browser; a server function missing from it is refused
/// to everyone, and a test fails until it is listed.
pub const REQUIRED_ROLES: &[(&str, Role)] = &[
    (<IndexWarmUp as ServerFn>::PATH, Role::Viewer),
    (<RecentEvents as ServerFn>::PATH, Role::Viewer),
    (<LoadJourneyMap as ServerFn>::PATH, Role::Viewer),
    (<LoadLeakByChannel as ServerFn>::PATH, Role::Viewer),
    (<StageCustomers as ServerFn>::PATH, Role::Viewer),
    (<LoadAlertInbox as ServerFn>::PATH, Role::Viewer),
    (<LoadVocabulary as ServerFn>::PATH, Role::Viewer),
    // Who may be assigned alerts: staff, whom a viewer sees on the cards anyway.
    (<ListAssignees as ServerFn>::PATH, Role::Viewer),
    (<LoadCustomer as ServerFn>::PATH, Role::Viewer),
    (<LoadFunnel as ServerFn>::PATH, Role::Viewer),
    (<ListSavedFunnels as ServerFn>::PATH, Role::Viewer),
    (<LoadFunnelDropped as ServerFn>::PATH, Role::Viewer),
    (<LoadPaths as ServerFn>::PATH, Role::Viewer),
    (<LoadPathCustomers as ServerFn>::PATH, Role::Viewer),
    (<LoadRetention as ServerFn>::PATH, Role::Viewer),
    (<LoadRuleOutcomes as ServerFn>::PATH, Role::Viewer),
    (<ListRules as ServerFn>::PATH, Role::Viewer),
    (<LoadHealth as ServerFn>::PATH, Role::Viewer),
    (<ListSources as ServerFn>::PATH, Role::Viewer),
    (<ListJourneys as ServerFn>::PATH, Role::Viewer),
    (<SearchCustomers as ServerFn>::PATH, Role::Viewer),
    (<LoadCustomerLists as ServerFn>::PATH, Role::Viewer),
    // Changing an alert is acting on a customer, who is personal data.
    (<ChangeAlerts as ServerFn>::PATH, Role::Analyst),
    (<RestoreAlerts as ServerFn>::PATH, Role::Analyst),
    (<SaveFunnel as ServerFn>::PATH, Role::Analyst),
    (<DeleteSavedFunnel as ServerFn>::PATH, Role::Analyst),
    (<SaveRule as ServerFn>::PATH, Role::Analyst),
    // Tried while writing a rule; lists customers, as the inbox does for analysts.
    (<BacktestRule as ServerFn>::PATH, Role::Analyst),
    (<DeleteRule as ServerFn>::PATH, Role::Analyst),
    (<SaveJourney as ServerFn>::PATH, Role::Analyst),
    (<ReplayDeadLetter as ServerFn>::PATH, Role::Admin),
    (<CreateSource as ServerFn>::PATH, Role::Admin),
    (<RevokeSource as ServerFn>::PATH, Role::Admin),
    (<LoadAccess as ServerFn>::PATH, Role::Admin),
    (<RevokeToken as ServerFn>::PATH, Role::Admin),
    (<EraseCustomer as ServerFn>::PATH, Role::Admin),
    (<LoadAuditLog as ServerFn>::PATH, Role::Admin),
];
