//! Every SQL statement the store runs, loaded from `queries/` at compile time.

/// Includes `queries/<path>` as a `&'static str`.
macro_rules! query {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../queries/", $path))
    };
}

pub const BOOKKEEPING: &str = query!("migrations/0000_bookkeeping.sql");
pub const APPLIED_VERSIONS: &str = query!("migrations/applied_versions.sql");
pub const RECORD_VERSION: &str = query!("migrations/record_version.sql");
pub const SCHEMA_V1: &str = query!("migrations/0001_baseline.sql");
pub const MIGRATION_2: &str = query!("migrations/0002_sources_dedup_identity.sql");
pub const MIGRATION_3: &str = query!("migrations/0003_journeys.sql");
pub const MIGRATION_4: &str = query!("migrations/0004_rules_alerts.sql");
pub const MIGRATION_5: &str = query!("migrations/0005_webhooks.sql");
pub const MIGRATION_6: &str = query!("migrations/0006_saved_funnels.sql");
pub const MIGRATION_7: &str = query!("migrations/0007_accounts.sql");
pub const MIGRATION_8: &str = query!("migrations/0008_audit_revocable_sources.sql");
pub const MIGRATION_9: &str = query!("migrations/0009_alert_holdouts.sql");
pub const MIGRATION_10: &str = query!("migrations/0010_event_properties.sql");

pub const AUDIT_INSERT: &str = query!("audit/insert.sql");
pub const AUDIT_SELECT_RECENT: &str = query!("audit/select_recent.sql");

pub const EVENTS_MAX_SEQ: &str = query!("events/max_seq.sql");
pub const EVENTS_SELECT_RECENT: &str = query!("events/select_recent.sql");
pub const EVENTS_SELECT_AFTER: &str = query!("events/select_after.sql");
pub const EVENTS_RECENT_MESSAGE_IDS: &str = query!("events/recent_message_ids.sql");
pub const EVENTS_STORED_MESSAGE_IDS: &str = query!("events/stored_message_ids.sql");

pub const SOURCES_INSERT: &str = query!("sources/insert.sql");
pub const SOURCES_SELECT_ALL: &str = query!("sources/select_all.sql");
pub const SOURCES_REVOKE: &str = query!("sources/revoke.sql");

pub const IDENTITY_LINKED_ANONYMOUS_IDS: &str = query!("identity/select_linked_anonymous_ids.sql");
pub const IDENTITY_CUSTOMER_IDS: &str = query!("identity/customer_ids.sql");

pub const DEAD_LETTERS_MAX_ID: &str = query!("dead_letters/max_id.sql");
pub const DEAD_LETTERS_SELECT_RECENT: &str = query!("dead_letters/select_recent.sql");
pub const DEAD_LETTERS_SELECT_ONE: &str = query!("dead_letters/select_one.sql");
pub const DEAD_LETTERS_MARK_REPLAYED: &str = query!("dead_letters/mark_replayed.sql");

/// Every query that reads, for the test that prepares them all against a migrated database.
#[cfg(test)]
pub const READ_QUERIES: &[&str] = &[
    APPLIED_VERSIONS,
    EVENTS_MAX_SEQ,
    EVENTS_SELECT_RECENT,
    EVENTS_SELECT_AFTER,
    EVENTS_RECENT_MESSAGE_IDS,
    EVENTS_STORED_MESSAGE_IDS,
    SOURCES_SELECT_ALL,
    IDENTITY_LINKED_ANONYMOUS_IDS,
    IDENTITY_CUSTOMER_IDS,
    DEAD_LETTERS_MAX_ID,
    DEAD_LETTERS_SELECT_RECENT,
    DEAD_LETTERS_SELECT_ONE,
    INDEX_LOAD_EVENTS,
    INDEX_COUNT_EVENTS,
    INDEX_LOAD_LINKS,
    INDEX_PROPERTY_VALUES,
    INDEX_PROPERTY_DISTINCT_VALUES,
    INDEX_PROPERTY_VALUE_HASHES,
    INDEX_CHANNEL_VALUES,
    ANALYTICS_CUSTOMER_TIMELINE,
    ANALYTICS_EVENTS_BY_SEQ,
    JOURNEYS_SELECT_ALL,
    IDENTITY_RESOLVE_CUSTOMER,
    RULES_SELECT_ALL,
    ALERTS_SELECT,
    ALERTS_SELECT_ONE,
    ALERTS_SELECT_CHANGED_SINCE,
    ALERTS_COUNTERS,
    ALERTS_LATEST_PER_RULE_CUSTOMER,
    ALERTS_ANCHORS_SINCE,
    ALERTS_INSERT_OR_IGNORE,
    ALERTS_COUNT,
    ALERTS_GROUPS_BY_RULE,
    ALERTS_GROUPS_BY_CUSTOMER,
    ALERTS_FOR_OUTCOMES,
    CUSTOMERS_TRAITS,
    ANALYTICS_PROPERTY_KEYS,
    HEALTH_VOLUME_BY_SOURCE,
    HEALTH_LAG_AND_SKEW,
    HEALTH_EVENT_NAMES,
    HEALTH_PROPERTY_KEYS,
    CUSTOMERS_SEARCH,
    ERASURE_REMAINING,
    ALERTS_EXISTS,
    AUDIT_SELECT_RECENT,
    WEBHOOKS_SELECT_ALL,
    WEBHOOKS_SELECT_DELIVERIES,
    SAVED_FUNNELS_SELECT_ALL,
    USERS_SELECT_ALL,
    TOKENS_SELECT_ALL,
    SESSIONS_SELECT_ALL,
];

/// Every query that writes, prepared by the same test.
#[cfg(test)]
pub const WRITE_QUERIES: &[&str] = &[
    RECORD_VERSION,
    SOURCES_INSERT,
    DEAD_LETTERS_MARK_REPLAYED,
    RULES_UPSERT,
    RULES_DELETE,
    ALERTS_UPDATE,
    WEBHOOKS_UPSERT,
    WEBHOOKS_DELETE,
    WEBHOOKS_LOG_DELIVERY,
    WEBHOOKS_PENDING_RETRIES,
    SAVED_FUNNELS_UPSERT,
    SAVED_FUNNELS_DELETE,
    USER_INSERT,
    USER_SET_PASSWORD,
    USER_DELETE,
    TOKEN_INSERT,
    TOKEN_REVOKE,
    SESSION_INSERT,
    SESSION_DELETE,
    SESSIONS_DELETE_FOR_USER,
    SESSIONS_DELETE_OLDER,
];

pub const INDEX_LOAD_EVENTS: &str = query!("index/load_events.sql");
pub const INDEX_COUNT_EVENTS: &str = query!("index/count_events.sql");
pub const INDEX_LOAD_LINKS: &str = query!("index/load_links.sql");
pub const INDEX_PROPERTY_VALUES: &str = query!("index/property_values.sql");
pub const INDEX_PROPERTY_DISTINCT_VALUES: &str = query!("index/property_distinct_values.sql");
pub const INDEX_PROPERTY_VALUE_HASHES: &str = query!("index/property_value_hashes.sql");
pub const INDEX_CHANNEL_VALUES: &str = query!("index/channel_values.sql");
pub const ANALYTICS_CUSTOMER_TIMELINE: &str = query!("analytics/customer_timeline.sql");
pub const ANALYTICS_EVENTS_BY_SEQ: &str = query!("analytics/events_by_seq.sql");
pub const ANALYTICS_PROPERTY_KEYS: &str = query!("analytics/property_keys.sql");

pub const JOURNEYS_SELECT_ALL: &str = query!("journeys/select_all.sql");
pub const JOURNEYS_UPSERT: &str = query!("journeys/upsert.sql");
pub const IDENTITY_RESOLVE_CUSTOMER: &str = query!("identity/resolve_customer.sql");

pub const RULES_SELECT_ALL: &str = query!("rules/select_all.sql");
pub const RULES_UPSERT: &str = query!("rules/upsert.sql");
pub const RULES_DELETE: &str = query!("rules/delete.sql");

pub const ALERTS_UPDATE: &str = query!("alerts/update.sql");
pub const ALERTS_SELECT: &str = query!("alerts/select.sql");
pub const ALERTS_SELECT_ONE: &str = query!("alerts/select_one.sql");
pub const ALERTS_SELECT_CHANGED_SINCE: &str = query!("alerts/select_changed_since.sql");
pub const ALERTS_COUNTERS: &str = query!("alerts/counters.sql");
pub const ALERTS_LATEST_PER_RULE_CUSTOMER: &str = query!("alerts/latest_per_rule_customer.sql");
pub const ALERTS_ANCHORS_SINCE: &str = query!("alerts/anchors_since.sql");
pub const ALERTS_INSERT_OR_IGNORE: &str = query!("alerts/insert_or_ignore.sql");
pub const ALERTS_COUNT: &str = query!("alerts/count.sql");
pub const ALERTS_GROUPS_BY_RULE: &str = query!("alerts/groups_by_rule.sql");
pub const ALERTS_GROUPS_BY_CUSTOMER: &str = query!("alerts/groups_by_customer.sql");
pub const ALERTS_FOR_OUTCOMES: &str = query!("alerts/for_outcomes.sql");
pub const CUSTOMERS_TRAITS: &str = query!("customers/traits.sql");

pub const WEBHOOKS_SELECT_ALL: &str = query!("webhooks/select_all.sql");
pub const WEBHOOKS_UPSERT: &str = query!("webhooks/upsert.sql");
pub const WEBHOOKS_DELETE: &str = query!("webhooks/delete.sql");
pub const WEBHOOKS_LOG_DELIVERY: &str = query!("webhooks/log_delivery.sql");
pub const WEBHOOKS_PENDING_RETRIES: &str = query!("webhooks/pending_retries.sql");
pub const WEBHOOKS_SELECT_DELIVERIES: &str = query!("webhooks/select_deliveries.sql");

pub const SAVED_FUNNELS_SELECT_ALL: &str = query!("saved_funnels/select_all.sql");
pub const SAVED_FUNNELS_UPSERT: &str = query!("saved_funnels/upsert.sql");
pub const SAVED_FUNNELS_DELETE: &str = query!("saved_funnels/delete.sql");

pub const USERS_SELECT_ALL: &str = query!("accounts/users_select_all.sql");
pub const USER_INSERT: &str = query!("accounts/user_insert.sql");
pub const USER_SET_PASSWORD: &str = query!("accounts/user_set_password.sql");
pub const USER_DELETE: &str = query!("accounts/user_delete.sql");
pub const TOKENS_SELECT_ALL: &str = query!("accounts/tokens_select_all.sql");
pub const TOKEN_INSERT: &str = query!("accounts/token_insert.sql");
pub const TOKEN_REVOKE: &str = query!("accounts/token_revoke.sql");
pub const SESSIONS_SELECT_ALL: &str = query!("accounts/sessions_select_all.sql");
pub const SESSION_INSERT: &str = query!("accounts/session_insert.sql");
pub const SESSION_DELETE: &str = query!("accounts/session_delete.sql");
pub const SESSIONS_DELETE_FOR_USER: &str = query!("accounts/sessions_delete_for_user.sql");
pub const SESSIONS_DELETE_OLDER: &str = query!("accounts/sessions_delete_older.sql");

pub const CHECKPOINT: &str = query!("store/checkpoint.sql");
pub const MEMORY_BYTES: &str = query!("store/memory_bytes.sql");
const WRITER_SETTINGS: &str = query!("store/writer_settings.sql");

/// The writer connection's settings, with the checkpoint threshold and the memory limit
/// (numbers, so nothing else can be spliced into the statement; `SET` takes no parameters).
pub fn writer_settings(checkpoint_kib: u32, duckdb_memory_mib: u32) -> String {
    WRITER_SETTINGS
        .replace("{checkpoint_kib}", &checkpoint_kib.to_string())
        .replace("{duckdb_memory_mib}", &duckdb_memory_mib.to_string())
}
pub const HEALTH_VOLUME_BY_SOURCE: &str = query!("health/volume_by_source.sql");
pub const HEALTH_LAG_AND_SKEW: &str = query!("health/lag_and_skew.sql");
pub const HEALTH_EVENT_NAMES: &str = query!("health/event_names.sql");
pub const HEALTH_PROPERTY_KEYS: &str = query!("health/property_keys.sql");
pub const CUSTOMERS_SEARCH: &str = query!("customers/search.sql");

/// Erasure, in the order it runs (deliveries before the alerts they name).
pub const ERASURE_STATEMENTS: [(&str, &str); 7] = [
    ("event_properties", query!("erasure/event_properties.sql")),
    ("events", query!("erasure/events.sql")),
    ("events_anonymous_ids", query!("erasure/events_anonymous_ids.sql")),
    ("identity_links", query!("erasure/identity_links.sql")),
    ("dead_letters", query!("erasure/dead_letters.sql")),
    ("webhook_deliveries", query!("erasure/webhook_deliveries.sql")),
    ("alerts", query!("erasure/alerts.sql")),
];
pub const ERASURE_REMAINING: &str = query!("erasure/remaining.sql");
pub const ALERTS_EXISTS: &str = query!("alerts/exists.sql");

/// Retention, in the order it runs (deliveries before the alerts they name).
pub const RETENTION_STATEMENTS: [(&str, &str); 5] = [
    ("event_properties", query!("retention/event_properties.sql")),
    ("events", query!("retention/events.sql")),
    ("dead_letters", query!("retention/dead_letters.sql")),
    ("webhook_deliveries", query!("retention/webhook_deliveries.sql")),
    ("alerts", query!("retention/alerts.sql")),
];

pub const DOCTOR_DUPLICATE_EVENTS: &str = query!("doctor/duplicate_events.sql");
pub const DOCTOR_DELETE_DUPLICATE_EVENTS: &str = query!("doctor/delete_duplicate_events.sql");
pub const DOCTOR_DELETE_ORPHAN_PROPERTIES: &str = query!("doctor/delete_orphan_properties.sql");
pub const DOCTOR_REPEATED_SEQS: &str = query!("doctor/repeated_seqs.sql");
pub const DOCTOR_COUNTS: &str = query!("doctor/counts.sql");
