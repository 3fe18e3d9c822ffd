//! Erasure (the right to be forgotten): one customer, across every identity linked to them,
//! removed from the store (events, identity links, dead letters naming them, alerts and
//! their deliveries), from the event index and from the newest events the live feed keeps.
//! Afterwards every figure is as if they never came.

use crate::{
    hub::Hub,
    index::{EventIndex, IndexError},
    store::{Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error("no customer {0:?}: no event, link, dead letter or alert names them")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What an erasure removed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Erased {
    /// Every identity erased (the customer's user id and anonymous ids).
    pub identities: Vec<String>,
    /// Rows deleted, per table.
    pub rows: Vec<(&'static str, usize)>,
}

impl Erased {
    pub fn total_rows(&self) -> usize {
        self.rows.iter().map(|(_, n)| n).sum()
    }
}

/// Erases the customer known by `id` from the store alone (`wayline customer erase`, with
/// the server stopped).
pub async fn erase_stored(store: &Store, id: &str) -> Result<Erased, ErasureError> {
    let identities = store.customer_ids(id).await?;
    let rows = store.erase_identities(identities.clone()).await?;
    let erased = Erased { identities, rows };
    if erased.total_rows() == 0 {
        return Err(ErasureError::NotFound(id.to_string()));
    }
    Ok(erased)
}

/// Erases the customer known by `id` from a running Wayline: the store, then the index and
/// the live feed's newest events.
pub async fn erase(store: &Store, index: &EventIndex, hub: &Hub, id: &str) -> Result<Erased, ErasureError> {
    let erased = erase_stored(store, id).await?;
    index.forget(erased.identities.clone()).await?;
    hub.forget(&erased.identities);
    tracing::info!(identities = erased.identities.len(), rows = erased.total_rows(), "customer erased");
    Ok(erased)
}
