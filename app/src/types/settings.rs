//! Settings: sources and their write keys, people and tokens, what is masked, the audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{Credential, Role};

/// A source (an app or site that sends events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Only when it is known: the demo source's public key, or a new source's key (shown once).
    pub write_key: Option<String>,
    /// When its write key was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One change in the audit log: who (a user's email or a token's name), with which role and
/// credential, did what (method and route), and the HTTP status it ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub via: Credential,
    pub role: Role,
    pub action: String,
    pub status: u16,
}

/// A person who signs in, as the settings page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who may sign in and which tokens exist, for admins; and what is masked for viewers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessSettings {
    pub users: Vec<Person>,
    pub tokens: Vec<ApiToken>,
    pub pii_keys: Vec<String>,
    /// Days after which events, dead letters, resolved alerts and delivery logs are deleted.
    pub retention_days: Option<u32>,
}
