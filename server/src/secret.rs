//! Secrets Wayline hands out (write keys, API tokens, session cookies) are kept only as their
//! SHA-256: a stolen database lets nobody in. They are long random strings, so a fast hash
//! is enough (passwords, which people choose, use argon2id instead: see `auth::password`).

use sha2::{Digest, Sha256};

/// Hex SHA-256 of a secret.
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_hash_to_known_sha256() {
        assert_eq!(super::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
