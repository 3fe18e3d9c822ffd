//! Channels as a question: a customer's channel is that of their first event with
//! attribution (first touch), and "direct" when none has any, so the journey map and funnels
//! can be narrowed to the customers one channel brought. Each event's own channel is derived
//! as it is indexed (`index::channel`).

use crate::index::{channel::DIRECT, columns::NONE, CustomerEvents, IndexData};

/// Which customers a question counts, by their channel.
#[derive(Debug, Clone, Copy)]
pub enum ChannelFilter {
    /// Every customer.
    All,
    /// Customers whose first touch has this id in the channel column ([`NONE`]: direct).
    Only(u32),
    /// No customer: nobody came through the channel asked for.
    Nobody,
}

impl ChannelFilter {
    /// The filter for `wanted` (none: every customer) over the index's channel column, which
    /// must have been materialised.
    pub fn new(data: &IndexData, wanted: Option<&str>) -> Self {
        let Some(wanted) = wanted else { return ChannelFilter::All };
        match (data.channels(), wanted == DIRECT) {
            (Some(_), true) => ChannelFilter::Only(NONE),
            (Some(column), false) => column.id_of(wanted).map_or(ChannelFilter::Nobody, ChannelFilter::Only),
            (None, true) => ChannelFilter::All,
            (None, false) => ChannelFilter::Nobody,
        }
    }

    pub fn admits(&self, customer: &CustomerEvents) -> bool {
        match self {
            ChannelFilter::All => true,
            ChannelFilter::Only(id) => customer.first_touch() == *id,
            ChannelFilter::Nobody => false,
        }
    }
}

/// The channels some event carries, by name, and direct.
pub fn seen(data: &IndexData) -> Vec<String> {
    let mut names: Vec<String> = data.channels().map(|c| c.dictionary().to_vec()).unwrap_or_default();
    names.push(DIRECT.to_string());
    names.sort();
    names.dedup();
    names
}
