//! What the dashboard needs from the server, declared here so that `server` can implement it
//! without a dependency cycle. `server` provides an implementation as Leptos context.

use std::{future::Future, pin::Pin, sync::Arc};

use crate::{
    error::AppError,
    types::{
        Alert, AlertChange, AlertFilter, AlertInbox, AlertRestore, CustomerHistory, CustomerMatch, DataHealth,
        DroppedPage, FunnelAnswer, FunnelParams, Journey, JourneyMap, LiveEvent, PathAnswer, PathCustomers, PathParams,
        Rule, SavedFunnel, Source,
    },
};

/// A boxed future answering one backend call.
pub type BackendFuture<T> = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send>>;

/// The server-side services the pages read from.
pub trait DashboardBackend: Send + Sync + 'static {
    /// The newest `limit` committed events, newest first.
    fn recent_events(&self, limit: usize) -> BackendFuture<Vec<LiveEvent>>;
    /// The journey's stages, transitions over the last `days` and active sessions now, of the
    /// customers `channel` brought (all when `None`).
    fn journey_map(
        &self,
        journey: Option<String>,
        days: u32,
        channel: Option<String>,
        dates: crate::range::PickedDates,
    ) -> BackendFuture<JourneyMap>;
    /// Who left between `from_stage` and the next stage over the map's range, by first channel.
    fn leak_by_channel(
        &self,
        journey: Option<String>,
        from_stage: String,
        days: u32,
        channel: Option<String>,
        dates: crate::range::PickedDates,
    ) -> BackendFuture<crate::types::LeakByChannel>;
    /// The customers (of `channel`, if given) whose active session is in `stage` now, longest
    /// there first.
    fn stage_customers(
        &self,
        journey: Option<String>,
        stage: String,
        channel: Option<String>,
        offset: usize,
    ) -> BackendFuture<crate::types::StagePage>;
    /// A customer's timeline by session, with stages, and the alerts about them.
    fn customer(&self, id: String) -> BackendFuture<CustomerHistory>;
    /// A funnel with its charts.
    fn funnel(&self, params: FunnelParams) -> BackendFuture<FunnelAnswer>;
    /// Every saved funnel, by name.
    fn saved_funnels(&self) -> BackendFuture<Vec<SavedFunnel>>;
    /// Saves a funnel the analytics can answer under `name` (replacing one of that name) and
    /// returns the name as saved.
    fn save_funnel(&self, name: String, params: FunnelParams) -> BackendFuture<String>;
    /// Forgets a saved funnel.
    fn delete_funnel(&self, name: String) -> BackendFuture<()>;
    /// The customers who reached `step` (1-based) but not the next, a page from `offset`.
    fn funnel_dropped(&self, params: FunnelParams, step: usize, offset: usize) -> BackendFuture<DroppedPage>;
    /// What customers did after (or before) an event.
    fn paths(&self, params: PathParams) -> BackendFuture<PathAnswer>;
    /// What a rule would have raised over the last `days`.
    fn backtest(&self, rule: Rule, days: u32) -> BackendFuture<crate::types::BacktestResult>;
    /// Did acting on a rule's alerts help?
    fn rule_outcomes(&self, id: String) -> BackendFuture<crate::types::RuleOutcomes>;
    /// Retention by cohort, with its heatmap.
    fn retention(&self, params: crate::types::RetentionParams) -> BackendFuture<crate::types::RetentionAnswer>;
    /// The customers at one node of those paths, a page from `offset`.
    fn path_customers(
        &self,
        params: PathParams,
        level: usize,
        event: String,
        offset: usize,
    ) -> BackendFuture<PathCustomers>;
    /// Every rule, by id.
    fn rules(&self) -> BackendFuture<Vec<Rule>>;
    /// Creates or replaces a rule; an invalid one is refused with what to change.
    fn save_rule(&self, rule: Rule) -> BackendFuture<()>;
    fn delete_rule(&self, id: String) -> BackendFuture<()>;
    /// Data health: volume, lag, clock skew, duplicates, dead letters, unknown names, drift.
    fn health(&self) -> BackendFuture<DataHealth>;
    /// Ingests a dead letter again as it was stored.
    fn replay_dead_letter(&self, id: i64) -> BackendFuture<()>;
    /// Every source; the demo source with its public write key.
    fn sources(&self) -> BackendFuture<Vec<Source>>;
    /// Registers a source and returns it with its new write key (shown only now).
    fn create_source(&self, name: String) -> BackendFuture<Source>;
    /// The users, the API tokens and the personal-data keys.
    fn access(&self) -> BackendFuture<crate::types::AccessSettings>;
    /// Revokes an API token.
    fn revoke_token(&self, id: String) -> BackendFuture<()>;
    /// Revokes a source's write key.
    fn revoke_source(&self, id: String) -> BackendFuture<()>;
    /// Every journey.
    fn journeys(&self) -> BackendFuture<Vec<Journey>>;
    /// Creates or replaces a journey; an invalid one is refused with what to change.
    fn save_journey(&self, journey: Journey) -> BackendFuture<()>;
    /// Customers whose id or traits contain `text`.
    fn search_customers(&self, text: String) -> BackendFuture<Vec<CustomerMatch>>;
    /// One page of the inbox ([`crate::types::INBOX_PAGE_SIZE`] alerts from `query.offset`),
    /// with the filter's total, its groups and the page's customers.
    fn alert_inbox(&self, query: AlertFilter) -> BackendFuture<AlertInbox>;
    /// Makes one change to several alerts, all or none.
    fn change_alerts(&self, ids: Vec<i64>, update: AlertChange) -> BackendFuture<Vec<Alert>>;
    /// Puts alerts back as they were before a change, unless changed again since.
    fn restore_alerts(&self, previous: Vec<AlertRestore>) -> BackendFuture<Vec<Alert>>;
    /// The customers seen last and the most active lately, as cards.
    fn customer_lists(&self) -> BackendFuture<crate::types::CustomerLists>;
    /// What the store has seen, for pickers.
    fn vocabulary(&self) -> BackendFuture<crate::types::Vocabulary>;
    /// Who alerts may be assigned to: the users who may act on them.
    fn assignees(&self) -> BackendFuture<Vec<String>>;
    /// Erases a customer across their identities; answers what was removed, in words.
    fn erase_customer(&self, id: String) -> BackendFuture<String>;
    /// The newest `limit` audit entries, newest first.
    fn audit_log(&self, limit: usize) -> BackendFuture<Vec<crate::types::AuditEntry>>;
    /// True while nobody can sign in yet, so the first admin may be created at `/setup`.
    fn setup_open(&self) -> bool;
    /// The traits and properties that hold personal data, masked for viewers.
    fn pii_keys(&self) -> crate::privacy::PiiKeys;
    /// While the event index loads after a start, how far it has got (percent): the pages'
    /// questions are refused until then. `None` once it is ready.
    fn warming_up(&self) -> Option<u8>;
}

/// The backend as it is put into Leptos context.
pub type SharedBackend = Arc<dyn DashboardBackend>;

/// The backend from context, or an error saying it was not provided.
pub fn use_backend() -> Result<SharedBackend, AppError> {
    leptos::prelude::use_context::<SharedBackend>().ok_or(AppError::NoBackend)
}

/// `error` with the answer's status set to match ([`AppError::status`]), so that the browser,
/// the server's log and the audit tell a refusal from a failure (server functions otherwise
/// answer every error with a 500).
pub fn refused(error: AppError) -> AppError {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(error.status());
    }
    error
}

/// `answer` as the one asking may read it: masked unless their role sees personal data (and
/// masked when nobody is known to be asking).
pub fn for_caller<T: crate::privacy::Masked>(answer: T, backend: &SharedBackend) -> T {
    let role = principal().map_or(crate::auth::Role::Viewer, |who| who.role);
    crate::privacy::for_role(answer, role, &backend.pii_keys())
}

/// Refuses a viewer's question that filters or holds on a personal property (see
/// [`crate::privacy::personal_filter`]).
pub fn refuse_personal_filters<'a>(
    steps: impl IntoIterator<Item = &'a str>,
    held: Option<&str>,
    backend: &SharedBackend,
) -> Result<(), AppError> {
    if principal().is_some_and(|who| crate::privacy::sees_personal_data(who.role)) {
        return Ok(());
    }
    match crate::privacy::personal_filter(steps, held, &backend.pii_keys()) {
        Some(refusal) => Err(AppError::Forbidden(refusal)),
        None => Ok(()),
    }
}

/// Who is asking, as the server's guard recorded it on the request being answered.
pub fn principal() -> Option<crate::auth::Principal> {
    leptos::prelude::use_context::<http::request::Parts>()?.extensions.get::<crate::auth::Principal>().cloned()
}
