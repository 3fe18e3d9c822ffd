use chrono::TimeZone;

use super::*;
use crate::{clock::Clock, store::WriterConfig};

fn start() -> (Store, Clock) {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
    let config = WriterConfig { clock: clock.clone(), ..WriterConfig::default() };
    (Store::open_in_memory(config, Box::new(|_| {})).unwrap(), clock)
}

fn here() -> IpAddr {
    "192.0.2.10".parse().unwrap()
}

#[tokio::test]
async fn a_user_signs_in_with_the_generated_password_and_out_again() {
    let (store, _) = start();
    let accounts = Accounts::load(store, SessionPolicy::default()).await.unwrap();
    assert!(!accounts.has_users());
    let (user, password) = accounts.add_user(" Ada@Example.com ", Role::Analyst).await.unwrap();
    assert_eq!((user.email.as_str(), user.role), ("ada@example.com", Role::Analyst));
    assert!(accounts.has_users());

    let wrong = accounts.sign_in("ada@example.com", "not the password", here()).await.unwrap_err();
    assert!(matches!(wrong, AuthError::WrongCredentials), "{wrong}");
    let unknown = accounts.sign_in("eve@example.com", &password, here()).await.unwrap_err();
    assert!(matches!(unknown, AuthError::WrongCredentials), "{unknown}");

    let cookie = accounts.sign_in("ADA@example.com", &password, here()).await.unwrap();
    let principal = accounts.session_principal(&cookie).unwrap();
    assert_eq!(principal, Principal { name: "ada@example.com".into(), role: Role::Analyst, via: Credential::Session });
    assert_eq!(accounts.session_principal("made-up"), None);

    accounts.sign_out(&cookie).await.unwrap();
    assert_eq!(accounts.session_principal(&cookie), None);
}

#[tokio::test]
async fn sessions_end_when_idle_and_after_their_absolute_limit_and_survive_a_restart() {
    let (store, clock) = start();
    let policy = SessionPolicy { idle: Duration::hours(1), absolute: Duration::hours(5) };
    let accounts = Accounts::load(store.clone(), policy).await.unwrap();
    let (_, password) = accounts.add_user("ada@example.com", Role::Viewer).await.unwrap();

    let idle = accounts.sign_in("ada@example.com", &password, here()).await.unwrap();
    let busy = accounts.sign_in("ada@example.com", &password, here()).await.unwrap();
    for _ in 0..4 {
        clock.advance(Duration::minutes(50));
        assert!(accounts.session_principal(&busy).is_some(), "used every 50 minutes, it stays");
    }
    assert_eq!(accounts.session_principal(&idle), None, "unused for over an hour");

    // Sessions are kept across a restart, still bound by the absolute limit.
    let reloaded = Accounts::load(store, policy).await.unwrap();
    assert!(reloaded.session_principal(&busy).is_some());
    clock.advance(Duration::minutes(90));
    assert_eq!(reloaded.session_principal(&busy), None, "five hours after sign-in");
}

#[tokio::test]
async fn a_new_password_or_removing_the_user_ends_their_sessions() {
    let (store, _) = start();
    let accounts = Accounts::load(store.clone(), SessionPolicy::default()).await.unwrap();
    let (_, first) = accounts.add_user("ada@example.com", Role::Admin).await.unwrap();
    let cookie = accounts.sign_in("ada@example.com", &first, here()).await.unwrap();
    let second = accounts.reset_password("ada@example.com").await.unwrap();
    assert_eq!(accounts.session_principal(&cookie), None);
    assert!(accounts.sign_in("ada@example.com", &first, here()).await.is_err());
    let cookie = accounts.sign_in("ada@example.com", &second, here()).await.unwrap();

    let refused = accounts.add_user("ada@example.com", Role::Viewer).await.unwrap_err();
    assert!(refused.to_string().contains("already exists"), "{refused}");

    accounts.remove_user("ada@example.com").await.unwrap();
    assert_eq!(accounts.session_principal(&cookie), None);
    assert!(Accounts::load(store, SessionPolicy::default()).await.unwrap().users().is_empty());
    let missing = accounts.remove_user("ada@example.com").await.unwrap_err();
    assert!(missing.to_string().contains("wayline user list"), "{missing}");
}

#[tokio::test]
async fn setup_creates_the_first_admin_once() {
    let (store, _) = start();
    let accounts = Accounts::load(store, SessionPolicy::default()).await.unwrap();
    let short = accounts.set_up_first_admin("root@example.com", "short").await.unwrap_err();
    assert!(short.to_string().contains("at least 10"), "{short}");
    let admin = accounts.set_up_first_admin("root@example.com", "a long passphrase").await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    let again = accounts.set_up_first_admin("other@example.com", "another passphrase").await.unwrap_err();
    assert!(matches!(again, AuthError::AlreadySetUp), "{again}");
    assert!(accounts.sign_in("root@example.com", "a long passphrase", here()).await.is_ok());
}

#[tokio::test]
async fn tokens_authenticate_until_revoked_and_are_stored_only_hashed() {
    let (store, _) = start();
    let accounts = Accounts::load(store.clone(), SessionPolicy::default()).await.unwrap();
    let (token, secret) = accounts.add_token("metabase", Role::Viewer).await.unwrap();
    assert!(secret.starts_with(TOKEN_PREFIX) && secret.len() > 40, "{secret}");
    let principal = accounts.token_principal(&secret).unwrap();
    assert_eq!((principal.name.as_str(), principal.role, principal.via), ("metabase", Role::Viewer, Credential::Token));
    assert_eq!(accounts.token_principal("wlt_guessed"), None);
    assert!(matches!(accounts.add_token("  ", Role::Admin).await, Err(AuthError::InvalidName)));

    let stored: String = store
        .read(|conn| Ok(conn.query_row("SELECT string_agg(token_hash, ',') FROM api_tokens", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert!(!stored.contains(&secret) && stored.len() == 64, "only the SHA-256 is kept");

    let reloaded = Accounts::load(store.clone(), SessionPolicy::default()).await.unwrap();
    assert!(reloaded.token_principal(&secret).is_some());
    let revoked = reloaded.revoke_token(&token.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(reloaded.token_principal(&secret), None);
    let after_restart = Accounts::load(store, SessionPolicy::default()).await.unwrap();
    assert_eq!(after_restart.token_principal(&secret), None);
    assert_eq!(after_restart.tokens().len(), 1, "revoked tokens stay listed");
}

#[test]
fn emails_are_normalised_and_nonsense_is_refused() {
    assert_eq!(normalise_email(" Ada@Example.COM ").unwrap(), "ada@example.com");
    for bad in ["", "ada", "@example.com", "ada@", "a da@example.com"] {
        assert!(normalise_email(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_dummy_hash_is_a_real_argon2id_hash_no_password_matches() {
    assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    assert!(!password::verify("", DUMMY_HASH));
}
