//! Accounts: the people who sign in (one role each, argon2id password hashes), API tokens for
//! scripts and BI tools (SHA-256 hashes only, shown once) and the sessions of signed-in
//! people. This module says who is asking; the HTTP guard (`http::guard`) says whether they may.

pub mod password;
mod throttle;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, RwLock},
};

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use duckdb::params;
use rand::Rng;

pub use app::auth::{Credential, Principal, Role};
pub use throttle::LoginThrottle;

use crate::{
    secret::sha256_hex,
    store::{sql, Micros, Store, StoreError},
};

/// What can go wrong with accounts. Messages a person can cause say what to change.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0:?} is not an email address; use the address the person signs in with, e.g. ada@example.com")]
    InvalidEmail(String),
    #[error("the password is not accepted: {0}")]
    InvalidPassword(String),
    #[error("a token needs a name of 1 to 100 characters that says who uses it, e.g. \"metabase\"")]
    InvalidName,
    #[error("a user {0} already exists; set a new password with `wayline user password {0}`, or remove them first")]
    UserExists(String),
    #[error("there is no user {0}; `wayline user list` shows who exists")]
    UnknownUser(String),
    #[error("there is no token {0}; `wayline token list` shows the tokens")]
    UnknownToken(String),
    #[error("the email or the password is wrong")]
    WrongCredentials,
    #[error("too many sign-in attempts; wait {0} s and try again")]
    Throttled(u64),
    #[error("Wayline already has users, so setup is closed; sign in at /login, or ask an admin for an account")]
    AlreadySetUp,
    #[error("could not hash the password: {0}")]
    Hashing(String),
}

/// How long a sign-in lasts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::hours(12), absolute: Duration::days(7) }
    }
}

/// A person who signs in.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    password_hash: String,
}

pub use app::types::ApiToken;

#[derive(Debug, Clone)]
struct LoginSession {
    email: String,
    created_at: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// The accounts, tokens and sessions, held in memory and written through to the store.
pub struct Accounts {
    store: Store,
    policy: SessionPolicy,
    users: RwLock<HashMap<String, User>>,
    /// By the SHA-256 of the secret; revoked ones stay listed.
    tokens: RwLock<HashMap<String, ApiToken>>,
    /// By the SHA-256 of the cookie's value.
    sessions: Mutex<HashMap<String, LoginSession>>,
    /// Serialises changes, so that two first-admin setups cannot both succeed.
    changing: tokio::sync::Mutex<()>,
    throttle: LoginThrottle,
}

/// Prefix of API tokens, so that a leaked one is recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "wlt_";
/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "wayline_session";

/// 256 random bits, URL-safe.
fn secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::thread_rng().gen::<[u8; 32]>())
}

/// The email as stored: trimmed, lower case, checked for a plausible shape.
pub fn normalise_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if plausible {
        Ok(email)
    } else {
        Err(AuthError::InvalidEmail(email))
    }
}

fn role_of(text: &str) -> duckdb::Result<Role> {
    text.parse().map_err(|e: app::auth::UnknownRole| {
        duckdb::Error::FromSqlConversionFailure(0, duckdb::types::Type::Text, Box::new(e))
    })
}

impl Accounts {
    /// Loads users, tokens and the sessions that have not run out.
    pub async fn load(store: Store, policy: SessionPolicy) -> Result<Self, AuthError> {
        let now = store.clock().now();
        let cutoff = now - policy.absolute;
        let (users, tokens, sessions) = store
            .change(move |conn| {
                conn.execute(sql::SESSIONS_DELETE_OLDER, params![Micros::of(cutoff)])?;
                let users = conn
                    .prepare(sql::USERS_SELECT_ALL)?
                    .query_map([], |row| {
                        Ok(User {
                            email: row.get(0)?,
                            role: role_of(&row.get::<_, String>(1)?)?,
                            password_hash: row.get(2)?,
                            created_at: row.get::<_, NaiveDateTime>(3)?.and_utc(),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let tokens = conn
                    .prepare(sql::TOKENS_SELECT_ALL)?
                    .query_map([], |row| {
                        let token = ApiToken {
                            id: row.get(0)?,
                            name: row.get(1)?,
                            role: role_of(&row.get::<_, String>(2)?)?,
                            created_at: row.get::<_, NaiveDateTime>(4)?.and_utc(),
                            revoked_at: row.get::<_, Option<NaiveDateTime>>(5)?.map(|t| t.and_utc()),
                        };
                        Ok((row.get::<_, String>(3)?, token))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let sessions = conn
                    .prepare(sql::SESSIONS_SELECT_ALL)?
                    .query_map([], |row| {
                        let created_at = row.get::<_, NaiveDateTime>(2)?.and_utc();
                        // Last use is not written on every request; a restart counts as a use.
                        let session = LoginSession { email: row.get(1)?, created_at, last_seen: now };
                        Ok((row.get::<_, String>(0)?, session))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((users, tokens, sessions))
            })
            .await?;
        Ok(Accounts {
            store,
            policy,
            users: RwLock::new(users.into_iter().map(|u| (u.email.clone(), u)).collect()),
            tokens: RwLock::new(tokens.into_iter().collect()),
            sessions: Mutex::new(sessions.into_iter().collect()),
            changing: tokio::sync::Mutex::new(()),
            throttle: LoginThrottle::default(),
        })
    }

    /// True once anyone can sign in.
    pub fn has_users(&self) -> bool {
        self.users.read().is_ok_and(|users| !users.is_empty())
    }

    /// Every user, by email.
    pub fn users(&self) -> Vec<User> {
        let mut users: Vec<User> = self.users.read().map(|u| u.values().cloned().collect()).unwrap_or_default();
        users.sort_by(|a, b| a.email.cmp(&b.email));
        users
    }

    /// Creates a user with a generated password, returned only now.
    pub async fn add_user(&self, email: &str, role: Role) -> Result<(User, String), AuthError> {
        let password = password::generate();
        let user = self.insert_user(email, role, &password, false).await?;
        Ok((user, password))
    }

    /// Creates the first admin with the password they chose; refused for ever once any user
    /// exists.
    pub async fn set_up_first_admin(&self, email: &str, password: &str) -> Result<User, AuthError> {
        password::check(password)?;
        self.insert_user(email, Role::Admin, password, true).await
    }

    async fn insert_user(&self, email: &str, role: Role, password: &str, first: bool) -> Result<User, AuthError> {
        let email = normalise_email(email)?;
        let _changing = self.changing.lock().await;
        if first && self.has_users() {
            return Err(AuthError::AlreadySetUp);
        }
        if self.users.read().is_ok_and(|users| users.contains_key(&email)) {
            return Err(AuthError::UserExists(email));
        }
        let password = password.to_string();
        let password_hash = tokio::task::spawn_blocking(move || password::hash(&password))
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))??;
        let user = User { email, role, created_at: self.store.clock().now(), password_hash };
        let row = user.clone();
        self.store
            .change(move |conn| {
                let at = Micros::of(row.created_at);
                conn.execute(
                    sql::USER_INSERT,
                    params![row.email, row.role.as_str(), row.password_hash, at, Micros::of(row.created_at)],
                )?;
                Ok(())
            })
            .await?;
        if let Ok(mut users) = self.users.write() {
            users.insert(user.email.clone(), user.clone());
        }
        Ok(user)
    }

    /// Gives a user a new generated password (returned only now) and ends their sessions.
    pub async fn reset_password(&self, email: &str) -> Result<String, AuthError> {
        let email = normalise_email(email)?;
        let _changing = self.changing.lock().await;
        if !self.users.read().is_ok_and(|users| users.contains_key(&email)) {
            return Err(AuthError::UnknownUser(email));
        }
        let password = password::generate();
        let hashed = password.clone();
        let password_hash = tokio::task::spawn_blocking(move || password::hash(&hashed))
            .await
            .map_err(|e| AuthError::Hashing(e.to_string()))??;
        let (row_email, row_hash, now) = (email.clone(), password_hash.clone(), self.store.clock().now());
        self.store
            .change(move |conn| {
                conn.execute(sql::USER_SET_PASSWORD, params![row_hash, Micros::of(now), row_email])?;
                conn.execute(sql::SESSIONS_DELETE_FOR_USER, params![row_email])?;
                Ok(())
            })
            .await?;
        if let Ok(mut users) = self.users.write() {
            if let Some(user) = users.get_mut(&email) {
                user.password_hash = password_hash;
            }
        }
        self.forget_sessions_of(&email);
        Ok(password)
    }

    /// Removes a user and ends their sessions.
    pub async fn remove_user(&self, email: &str) -> Result<(), AuthError> {
        let email = normalise_email(email)?;
        let _changing = self.changing.lock().await;
        if !self.users.read().is_ok_and(|users| users.contains_key(&email)) {
            return Err(AuthError::UnknownUser(email));
        }
        let row_email = email.clone();
        self.store
            .change(move |conn| {
                conn.execute(sql::USER_DELETE, params![row_email])?;
                conn.execute(sql::SESSIONS_DELETE_FOR_USER, params![row_email])?;
                Ok(())
            })
            .await?;
        if let Ok(mut users) = self.users.write() {
            users.remove(&email);
        }
        self.forget_sessions_of(&email);
        Ok(())
    }

    fn forget_sessions_of(&self, email: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, s| s.email != email);
        }
    }

    /// Every token, revoked ones included, oldest first.
    pub fn tokens(&self) -> Vec<ApiToken> {
        let mut tokens: Vec<ApiToken> = self.tokens.read().map(|t| t.values().cloned().collect()).unwrap_or_default();
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        tokens
    }

    /// Creates an API token; its secret is returned only now.
    pub async fn add_token(&self, name: &str, role: Role) -> Result<(ApiToken, String), AuthError> {
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AuthError::InvalidName);
        }
        let secret = format!("{TOKEN_PREFIX}{}", secret());
        let id = format!("tok_{:08x}", rand::thread_rng().gen::<u32>());
        let token = ApiToken { id, name, role, created_at: self.store.clock().now(), revoked_at: None };
        let (row, hash) = (token.clone(), sha256_hex(&secret));
        let row_hash = hash.clone();
        let _changing = self.changing.lock().await;
        self.store
            .change(move |conn| {
                conn.execute(
                    sql::TOKEN_INSERT,
                    params![row.id, row.name, row.role.as_str(), row_hash, Micros::of(row.created_at)],
                )?;
                Ok(())
            })
            .await?;
        if let Ok(mut tokens) = self.tokens.write() {
            tokens.insert(hash, token.clone());
        }
        Ok((token, secret))
    }

    /// Revokes a token: from now on it is refused.
    pub async fn revoke_token(&self, id: &str) -> Result<ApiToken, AuthError> {
        let _changing = self.changing.lock().await;
        let known = self.tokens.read().ok().and_then(|t| t.values().find(|t| t.id == id).cloned());
        let Some(mut token) = known else {
            return Err(AuthError::UnknownToken(id.to_string()));
        };
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let now = self.store.clock().now();
        let row_id = id.to_string();
        self.store
            .change(move |conn| {
                conn.execute(sql::TOKEN_REVOKE, params![Micros::of(now), row_id])?;
                Ok(())
            })
            .await?;
        if let Ok(mut tokens) = self.tokens.write() {
            for stored in tokens.values_mut().filter(|t| t.id == id) {
                stored.revoked_at = Some(now);
            }
        }
        token.revoked_at = Some(now);
        Ok(token)
    }

    /// Who a bearer token belongs to, if it is known and not revoked.
    pub fn token_principal(&self, secret: &str) -> Option<Principal> {
        let tokens = self.tokens.read().ok()?;
        let token = tokens.get(&sha256_hex(secret.trim())).filter(|t| t.revoked_at.is_none())?;
        Some(Principal { name: token.name.clone(), role: token.role, via: Credential::Token })
    }

    /// Checks a password and starts a session; returns the cookie's value. Attempts are
    /// throttled per client address and per account.
    pub async fn sign_in(&self, email: &str, password: &str, client: IpAddr) -> Result<String, AuthError> {
        let email = email.trim().to_lowercase();
        self.throttle.attempt(client, &email).map_err(AuthError::Throttled)?;
        let stored = self.users.read().ok().and_then(|users| users.get(&email).map(|u| u.password_hash.clone()));
        let known = stored.is_some();
        // An unknown account costs the same hashing as a known one: timing tells nothing.
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let password = password.to_string();
        let matches = password.chars().count() <= password::MAX_CHARS
            && tokio::task::spawn_blocking(move || password::verify(&password, &stored)).await.unwrap_or(false);
        if !(known && matches) {
            return Err(AuthError::WrongCredentials);
        }
        let cookie = secret();
        let now = self.store.clock().now();
        let (hash, row_email) = (sha256_hex(&cookie), email.clone());
        let row_hash = hash.clone();
        self.store
            .change(move |conn| {
                conn.execute(sql::SESSION_INSERT, params![row_hash, row_email, Micros::of(now)])?;
                Ok(())
            })
            .await?;
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.insert(hash, LoginSession { email, created_at: now, last_seen: now });
        }
        Ok(cookie)
    }

    /// Who a session cookie belongs to, if the session is still running; a use keeps it alive.
    pub fn session_principal(&self, cookie: &str) -> Option<Principal> {
        let now = self.store.clock().now();
        let email = {
            let mut sessions = self.sessions.lock().ok()?;
            let hash = sha256_hex(cookie);
            let session = sessions.get_mut(&hash)?;
            if now - session.last_seen > self.policy.idle || now - session.created_at > self.policy.absolute {
                sessions.remove(&hash);
                return None;
            }
            session.last_seen = now;
            session.email.clone()
        };
        let role = self.users.read().ok()?.get(&email)?.role;
        Some(Principal { name: email, role, via: Credential::Session })
    }

    /// Ends a session (signing out).
    pub async fn sign_out(&self, cookie: &str) -> Result<(), AuthError> {
        let hash = sha256_hex(cookie);
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&hash);
        }
        self.store
            .change(move |conn| {
                conn.execute(sql::SESSION_DELETE, params![hash])?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// An argon2id hash of a password nobody has, verified against when the account is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$wdyW1/8yJ5NT6SpQ1ZWhNxrFcPEl+A5dPqCLSDEnmHY";

#[cfg(test)]
mod tests;
