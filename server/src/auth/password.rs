//! Passwords: argon2id hashes in PHC strings (salt and parameters inside), generated passwords
//! for new users, and the length rules a chosen password must meet.

use argon2::{
    password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier},
    Argon2,
};
use rand::{distributions::Alphanumeric, Rng};

use super::AuthError;

/// The shortest password a person may choose.
pub const MIN_CHARS: usize = 10;
/// The longest: hashing cost grows with length, so a huge "password" is refused unread.
pub const MAX_CHARS: usize = 256;
/// Characters in a generated password (about 119 bits of randomness).
const GENERATED_CHARS: usize = 20;

/// Checks a chosen password's length, naming the rule it breaks.
pub fn check(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(AuthError::InvalidPassword(format!("use at least {MIN_CHARS} characters")));
    }
    if chars > MAX_CHARS {
        return Err(AuthError::InvalidPassword(format!("use at most {MAX_CHARS} characters")));
    }
    Ok(())
}

/// A random password for a new user or a reset.
pub fn generate() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(GENERATED_CHARS).map(char::from).collect()
}

/// The argon2id hash (default parameters, random salt) as a PHC string. Slow on purpose:
/// call it off the async executor.
pub fn hash(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// True when `password` matches the stored PHC string. Slow on purpose, like [`hash`].
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_argon2id() {
        let stored = hash("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse batterY", &stored));
        assert!(!verify("correct horse battery", "not a phc string"));
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), GENERATED_CHARS);
        assert_ne!(a, b);
        assert!(check(&a).is_ok());
    }

    #[test]
    fn chosen_passwords_must_have_a_sensible_length() {
        assert!(check("short").unwrap_err().to_string().contains("at least 10"));
        assert!(check(&"x".repeat(300)).unwrap_err().to_string().contains("at most 256"));
        assert!(check("ten chars!").is_ok());
    }
}
