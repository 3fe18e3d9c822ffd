//! 128-bit keys that stand in for strings in the server's long-lived memories (message ids
//! seen, anchors alerted on, cooldowns): a fraction of the memory of the strings, and no
//! false match in any realistic volume (two keys collide with odds of about n² / 2¹²⁹).

use std::hash::{Hash, Hasher};

/// The key of `parts` (a tuple of the strings and numbers that identify something).
///
/// Stable within one process only (the standard hasher's output may change between Rust
/// releases): memories keyed by it are rebuilt from the store at start-up, never saved.
pub fn hashed_key(parts: &impl Hash) -> u128 {
    let half = |salt: u8| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut hasher);
        parts.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tell_apart_what_their_parts_tell_apart() {
        assert_eq!(hashed_key(&("rule", "ann", 7)), hashed_key(&("rule", "ann", 7)));
        assert_ne!(hashed_key(&("rule", "ann", 7)), hashed_key(&("rule", "ann", 8)));
        // Where one string ends and the next begins is part of the key.
        assert_ne!(hashed_key(&("ab", "c")), hashed_key(&("a", "bc")));
        // The two halves are independent hashes, not one hash twice.
        let key = hashed_key(&("rule", "ann"));
        assert_ne!(key >> 64, key & u128::from(u64::MAX));
    }
}
