//! The audit log: every change a signed-in person or an API token makes (the guard records
//! each write it lets through, with its outcome), for admins to read in settings and at
//! `GET /api/v1/audit`.

use std::sync::Arc;

use app::{
    auth::{Credential, Principal, Role},
    types::AuditEntry,
};
use chrono::{DateTime, Utc};
use duckdb::params;

use crate::store::{sql, Store, StoreError};

/// Most entries one read returns.
pub const MAX_ENTRIES: usize = 1_000;

/// Routes under this name a customer; the log must not keep them.
const ERASURE_PREFIX: &str = "/api/v1/customers/";

/// Cheap to clone; all clones share one writer lock.
#[derive(Clone)]
pub struct Audit {
    store: Store,
    /// One entry at a time: ids count up from the largest stored.
    writing: Arc<tokio::sync::Mutex<()>>,
}

/// What the log says a request did: its method and route, with a customer's id left out
/// (after an erasure no row may name them).
pub fn action(method: &str, path: &str) -> String {
    match path.strip_prefix(ERASURE_PREFIX) {
        Some(rest) => {
            let after_id = rest.split_once('/').map(|(_, after)| format!("/{after}")).unwrap_or_default();
            format!("{method} {ERASURE_PREFIX}(a customer){after_id}")
        }
        None => match path.strip_prefix("/api/").filter(|rest| !rest.starts_with("v1/")) {
            // A dashboard server function (`/api/save_rule1234…`): what it does, in words.
            Some(function) => {
                format!("dashboard: {}", function.trim_end_matches(|c: char| c.is_ascii_digit()).replace('_', " "))
            }
            None => format!("{method} {path}"),
        },
    }
}

impl Audit {
    pub fn new(store: Store) -> Self {
        Audit { store, writing: Arc::default() }
    }

    /// Records that `who` did `action` at `at`, ending with `status`.
    pub async fn record(
        &self,
        who: &Principal,
        action: String,
        status: u16,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _one_at_a_time = self.writing.lock().await;
        let (actor, via, role) = (who.name.clone(), credential_name(who.via), who.role.as_str());
        self.store
            .change(move |conn| {
                conn.execute(sql::AUDIT_INSERT, params![at.naive_utc(), actor, via, role, action, i32::from(status)])?;
                Ok(())
            })
            .await
    }

    /// The newest `limit` entries (at most [`MAX_ENTRIES`]), newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_ENTRIES) as i64;
        self.store
            .read(move |conn| {
                let mut stmt = conn.prepare(sql::AUDIT_SELECT_RECENT)?;
                let rows = stmt.query_map(params![limit], |row| {
                    let via: String = row.get(3)?;
                    let role: String = row.get(4)?;
                    let status: i32 = row.get(6)?;
                    Ok(AuditEntry {
                        id: row.get(0)?,
                        at: row.get::<_, chrono::NaiveDateTime>(1)?.and_utc(),
                        actor: row.get(2)?,
                        via: if via == "token" { Credential::Token } else { Credential::Session },
                        role: role.parse().unwrap_or(Role::Viewer),
                        action: row.get(5)?,
                        status: u16::try_from(status).unwrap_or(0),
                    })
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
    }
}

fn credential_name(via: Credential) -> &'static str {
    match via {
        Credential::Session => "session",
        Credential::Token => "token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    #[test]
    fn an_erasure_is_logged_without_the_customer() {
        assert_eq!(action("DELETE", "/api/v1/customers/ada@example.com"), "DELETE /api/v1/customers/(a customer)");
        assert_eq!(action("POST", "/api/v1/customers/ada@example.com/x"), "POST /api/v1/customers/(a customer)/x");
        assert_eq!(action("PUT", "/api/v1/rules/churn"), "PUT /api/v1/rules/churn");
        let save_rule = <app::server_fns::SaveRule as leptos::server_fn::ServerFn>::PATH;
        assert_eq!(action("POST", save_rule), "dashboard: save rule");
        assert_eq!(action("POST", "/api/change_alerts987"), "dashboard: change alerts");
    }

    #[tokio::test]
    async fn entries_are_kept_newest_first_with_who_and_how() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let audit = Audit::new(store);
        let ada = Principal { name: "ada@example.com".into(), role: Role::Admin, via: Credential::Session };
        let bot = Principal { name: "nightly export".into(), role: Role::Analyst, via: Credential::Token };
        let at = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap().to_utc();
        audit.record(&ada, action("PUT", "/api/v1/rules/churn"), 200, at).await.unwrap();
        audit.record(&bot, action("DELETE", "/api/v1/rules/churn"), 403, at).await.unwrap();
        let entries = audit.recent(10).await.unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].id, entries[0].actor.as_str(), entries[0].via, entries[0].status),
            (2, "nightly export", Credential::Token, 403)
        );
        assert_eq!(
            (entries[1].action.as_str(), entries[1].role, entries[1].at),
            ("PUT /api/v1/rules/churn", Role::Admin, at)
        );
        assert_eq!(audit.recent(1).await.unwrap().len(), 1);
    }
}
