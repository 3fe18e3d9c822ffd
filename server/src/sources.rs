//! Sources: the apps and sites that send events, each with a write key. Keys are shown once
//! when created and stored only as SHA-256 hashes; requests are matched by hashing their key.

use std::{collections::HashMap, sync::RwLock};

use rand::Rng;

use crate::store::{SourceRecord, Store, StoreError};

/// The source the demo traffic and the README's examples use.
pub const DEMO_SOURCE_ID: &str = "demo";
/// The demo source's write key. It is public on purpose: it exists so that a fresh install
/// works out of the box. Real senders get their own key from `wayline source add`.
pub const DEMO_WRITE_KEY: &str = "wl_demo_public_write_key";

/// Hex SHA-256 of a write key.
pub fn hash_key(key: &str) -> String {
    crate::secret::sha256_hex(key)
}

/// A new random write key: `wl_` and 32 hex digits (128 bits).
pub fn new_key(rng: &mut impl Rng) -> String {
    format!("wl_{:032x}", rng.gen::<u128>())
}

/// The registered sources, looked up by key hash.
pub struct Sources {
    store: Store,
    by_hash: RwLock<HashMap<String, String>>,
}

impl Sources {
    /// Loads every source and makes sure the demo source exists. Its public key is accepted
    /// only when `accept_demo_key` (the server runs with `--demo`): on every other install
    /// it is a key anyone could read in the README.
    pub async fn load(store: Store, accept_demo_key: bool) -> Result<Self, StoreError> {
        let mut records = store.sources().await?;
        if !records.iter().any(|r| r.id == DEMO_SOURCE_ID) {
            let demo = SourceRecord {
                id: DEMO_SOURCE_ID.into(),
                name: "Demo".into(),
                key_hash: hash_key(DEMO_WRITE_KEY),
                created_at: store.clock().now(),
                revoked_at: None,
            };
            store.insert_source(demo.clone()).await?;
            records.push(demo);
        }
        let by_hash = records
            .into_iter()
            .filter(|r| r.revoked_at.is_none() && (accept_demo_key || r.id != DEMO_SOURCE_ID))
            .map(|r| (r.key_hash, r.id))
            .collect();
        Ok(Sources { store, by_hash: RwLock::new(by_hash) })
    }

    /// The source id a write key belongs to.
    pub fn authenticate(&self, key: &str) -> Option<String> {
        let hash = hash_key(key.trim());
        self.by_hash.read().ok()?.get(&hash).cloned()
    }

    /// Whether the source's write key is accepted now.
    pub fn accepts(&self, source_id: &str) -> bool {
        self.by_hash.read().is_ok_and(|by_hash| by_hash.values().any(|id| id == source_id))
    }

    /// Revokes a source's write key: refused from now on, and after a restart. False when
    /// there is no such source or it was revoked before.
    pub async fn revoke(&self, source_id: &str) -> Result<bool, StoreError> {
        let revoked = self.store.revoke_source(source_id, self.store.clock().now()).await?;
        if let Ok(mut by_hash) = self.by_hash.write() {
            by_hash.retain(|_, id| id != source_id);
        }
        Ok(revoked)
    }

    /// Registers a new source and returns it with its write key (shown only now).
    pub async fn create(&self, name: &str) -> Result<(SourceRecord, String), StoreError> {
        let (key, id) = {
            let mut rng = rand::thread_rng();
            (new_key(&mut rng), format!("src_{:08x}", rng.gen::<u32>()))
        };
        let record = SourceRecord {
            id,
            name: name.trim().to_string(),
            key_hash: hash_key(&key),
            created_at: self.store.clock().now(),
            revoked_at: None,
        };
        self.store.insert_source(record.clone()).await?;
        if let Ok(mut by_hash) = self.by_hash.write() {
            by_hash.insert(record.key_hash.clone(), record.id.clone());
        }
        Ok((record, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    #[test]
    fn new_keys_have_the_documented_shape() {
        let key = new_key(&mut rand::thread_rng());
        assert!(key.starts_with("wl_") && key.len() == 35, "{key}");
    }

    #[tokio::test]
    async fn created_keys_authenticate_and_survive_a_reload_while_others_do_not() {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        let sources = Sources::load(store.clone(), true).await.unwrap();
        assert_eq!(sources.authenticate(DEMO_WRITE_KEY).as_deref(), Some(DEMO_SOURCE_ID));
        let (record, key) = sources.create("Web shop").await.unwrap();
        assert_eq!(sources.authenticate(&key), Some(record.id.clone()));
        assert_eq!(sources.authenticate("wl_wrong"), None);

        let reloaded = Sources::load(store.clone(), true).await.unwrap();
        assert_eq!(reloaded.authenticate(&key), Some(record.id.clone()));
        let stored = store.sources().await.unwrap();
        assert_eq!(stored.len(), 2, "the demo source is created once");
        assert!(stored.iter().all(|s| s.key_hash.len() == 64 && !s.key_hash.contains("wl_")));

        // Without --demo the public key is refused; real keys still work.
        let without_demo = Sources::load(store.clone(), false).await.unwrap();
        assert_eq!(without_demo.authenticate(DEMO_WRITE_KEY), None);
        assert!(!without_demo.accepts(DEMO_SOURCE_ID) && without_demo.accepts(&record.id));

        assert!(without_demo.authenticate(&key).is_some());

        // A revoked key is refused at once and after a restart; revoking twice says so.
        assert!(without_demo.revoke(&record.id).await.unwrap());
        assert_eq!(without_demo.authenticate(&key), None);
        assert!(!without_demo.revoke(&record.id).await.unwrap());
        let restarted = Sources::load(store, true).await.unwrap();
        assert_eq!(restarted.authenticate(&key), None);
        assert_eq!(restarted.authenticate(DEMO_WRITE_KEY).as_deref(), Some(DEMO_SOURCE_ID));
    }
}
