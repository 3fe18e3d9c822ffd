//! Saved funnels: a funnel kept under a name so a product owner can open it again, or a
//! teammate can find it, without keeping the URL. The definition is the funnel builder's
//! document (steps, window, order mode, range in days, exclusions, breakdown, the property held
//! constant, trend period); whoever saves it has checked that it is a funnel the analytics can
//! answer. Saved funnels are rare admin writes and few, so they are read from the table each
//! time rather than cached.

use app::types::{FunnelParams, SavedFunnel};
use chrono::NaiveDateTime;
use duckdb::params;

use crate::store::{sql, Micros, Store, StoreError};

/// The longest name a saved funnel may have.
pub const MAX_NAME_CHARS: usize = 80;
/// Most funnels saved.
pub const MAX_SAVED_FUNNELS: usize = 200;
/// Longest saved definition (JSON).
pub const MAX_DEFINITION_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SavedFunnelError {
    #[error("the funnel needs a name: type one (up to {MAX_NAME_CHARS} characters) next to Save")]
    NoName,
    #[error("the name is {0} characters long; shorten it to {MAX_NAME_CHARS} or fewer")]
    NameTooLong(usize),
    #[error("no saved funnel is named {0:?}; the list of saved funnels shows their names")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the stored definition of {name:?} is not a funnel the builder reads ({message}); save the funnel again")]
    Corrupt { name: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A name as it is saved: trimmed, not empty, at most [`MAX_NAME_CHARS`] characters.
pub fn clean_name(name: &str) -> Result<String, SavedFunnelError> {
    let name = name.trim();
    match name.chars().count() {
        0 => Err(SavedFunnelError::NoName),
        n if n > MAX_NAME_CHARS => Err(SavedFunnelError::NameTooLong(n)),
        _ => Ok(name.to_string()),
    }
}

/// The saved funnels in the store.
#[derive(Clone)]
pub struct SavedFunnels {
    store: Store,
}

impl SavedFunnels {
    pub fn new(store: Store) -> Self {
        SavedFunnels { store }
    }

    /// Every saved funnel, by name (case ignored).
    pub async fn list(&self) -> Result<Vec<SavedFunnel>, SavedFunnelError> {
        let rows: Vec<(String, String, NaiveDateTime)> = self
            .store
            .read(|conn| {
                let mut stmt = conn.prepare(sql::SAVED_FUNNELS_SELECT_ALL)?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(name, definition, updated_at)| {
                let definition = serde_json::from_str(&definition)
                    .map_err(|e| SavedFunnelError::Corrupt { name: name.clone(), message: e.to_string() })?;
                Ok(SavedFunnel { name, definition, updated_at: updated_at.and_utc() })
            })
            .collect()
    }

    /// Saves `definition` under `name`, replacing a funnel saved under the same name; returns
    /// the name as saved.
    pub async fn save(&self, name: &str, definition: &FunnelParams) -> Result<String, SavedFunnelError> {
        let name = clean_name(name)?;
        let definition = serde_json::to_string(definition)
            .map_err(|e| SavedFunnelError::Corrupt { name: name.clone(), message: e.to_string() })?;
        if definition.len() > MAX_DEFINITION_BYTES {
            return Err(SavedFunnelError::TooLarge(format!(
                "the funnel is {} bytes, over the {MAX_DEFINITION_BYTES}-byte limit; use fewer or shorter steps",
                definition.len()
            )));
        }
        let existing = self.list().await?;
        if existing.len() >= MAX_SAVED_FUNNELS && !existing.iter().any(|f| f.name == name) {
            return Err(SavedFunnelError::TooLarge(format!(
                "there are already {MAX_SAVED_FUNNELS} saved funnels, the most Wayline keeps; delete one first"
            )));
        }
        let saved = name.clone();
        let now = self.store.clock().now();
        self.store
            .change(move |conn| {
                conn.execute(sql::SAVED_FUNNELS_UPSERT, params![name, definition, Micros::of(now)])?;
                Ok(())
            })
            .await?;
        Ok(saved)
    }

    /// Forgets the funnel saved under `name`.
    pub async fn delete(&self, name: &str) -> Result<(), SavedFunnelError> {
        let owned = name.to_string();
        let deleted =
            self.store.change(move |conn| Ok(conn.execute(sql::SAVED_FUNNELS_DELETE, params![owned])?)).await?;
        if deleted == 0 {
            return Err(SavedFunnelError::NotFound(name.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriterConfig;

    fn saved_funnels() -> SavedFunnels {
        let store = Store::open_in_memory(WriterConfig::default(), Box::new(|_| {})).unwrap();
        SavedFunnels::new(store)
    }

    #[tokio::test]
    async fn funnels_are_saved_replaced_listed_by_name_and_deleted() {
        let funnels = saved_funnels();
        let question = |steps: &str, days: u32| FunnelParams { steps: steps.into(), days, ..FunnelParams::default() };
        assert_eq!(funnels.save("  Checkout ", &question("view,cart,buy", 30)).await.unwrap(), "Checkout");
        funnels.save("activation", &question("signed_up,invited", 30)).await.unwrap();
        // The same name again replaces the definition, not adds a second funnel.
        let weekly = question("view,cart,buy", 7);
        funnels.save("Checkout", &weekly).await.unwrap();

        let listed = funnels.list().await.unwrap();
        let names: Vec<&str> = listed.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["activation", "Checkout"], "by name, case ignored");
        assert_eq!(listed[1].definition, weekly);

        funnels.delete("activation").await.unwrap();
        assert_eq!(funnels.list().await.unwrap().len(), 1);
        let missing = funnels.delete("activation").await.unwrap_err();
        assert!(matches!(missing, SavedFunnelError::NotFound(_)), "{missing}");
    }

    #[tokio::test]
    async fn a_name_must_be_given_and_not_too_long() {
        let funnels = saved_funnels();
        let blank = funnels.save("   ", &FunnelParams::default()).await.unwrap_err();
        assert!(blank.to_string().contains("needs a name"), "{blank}");
        let long = funnels.save(&"x".repeat(81), &FunnelParams::default()).await.unwrap_err();
        assert!(long.to_string().contains("81 characters"), "{long}");
        assert!(funnels.list().await.unwrap().is_empty());
    }
}
