//! Numbered schema migrations, embedded in the binary and applied at start-up.

use duckdb::{params, Connection};

use super::{sql, StoreError};

/// One schema change: its number, a name, and the SQL that applies it.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// All migrations in order. Append new ones; never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "baseline schema: events and dead letters", sql: sql::SCHEMA_V1 },
    Migration { version: 2, name: "sources, identity links, dead-letter replay", sql: sql::MIGRATION_2 },
    Migration { version: 3, name: "journeys", sql: sql::MIGRATION_3 },
    Migration { version: 4, name: "rules and alerts", sql: sql::MIGRATION_4 },
    Migration { version: 5, name: "webhooks", sql: sql::MIGRATION_5 },
    Migration { version: 6, name: "saved funnels", sql: sql::MIGRATION_6 },
    Migration { version: 7, name: "accounts: users, API tokens, sessions", sql: sql::MIGRATION_7 },
    Migration { version: 8, name: "audit log; revocable write keys", sql: sql::MIGRATION_8 },
    Migration { version: 9, name: "alert holdouts", sql: sql::MIGRATION_9 },
    Migration { version: 10, name: "event properties by key", sql: sql::MIGRATION_10 },
];

/// Applies every migration the database has not seen yet, each in its own transaction,
/// and returns the versions it applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<i32>, StoreError> {
    conn.execute_batch(sql::BOOKKEEPING)?;
    let applied: Vec<i32> =
        conn.prepare(sql::APPLIED_VERSIONS)?.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    if let Some(&newest) = applied.iter().max() {
        let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
        if newest > known {
            return Err(StoreError::NewerSchema { found: newest, known });
        }
    }
    let mut ran = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration.sql)
            .map_err(|source| StoreError::Migration { version: migration.version, source })?;
        tx.execute(sql::RECORD_VERSION, params![migration.version, migration.name])?;
        tx.commit()?;
        ran.push(migration.version);
    }
    Ok(ran)
}
