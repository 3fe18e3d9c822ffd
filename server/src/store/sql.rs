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
pub const SCHEMA_V1: &str = query!("schema.sql");

pub const EVENTS_MAX_SEQ: &str = query!("events/max_seq.sql");
pub const EVENTS_SELECT_RECENT: &str = query!("events/select_recent.sql");
pub const EVENTS_SELECT_AFTER: &str = query!("events/select_after.sql");

pub const DEAD_LETTERS_MAX_ID: &str = query!("dead_letters/max_id.sql");
pub const DEAD_LETTERS_SELECT_RECENT: &str = query!("dead_letters/select_recent.sql");

/// Every query that reads, for the test that prepares them all against a migrated database.
#[cfg(test)]
pub const READ_QUERIES: &[&str] = &[
    APPLIED_VERSIONS,
    EVENTS_MAX_SEQ,
    EVENTS_SELECT_RECENT,
    EVENTS_SELECT_AFTER,
    DEAD_LETTERS_MAX_ID,
    DEAD_LETTERS_SELECT_RECENT,
];

pub const CHECKPOINT: &str = query!("store/checkpoint.sql");
