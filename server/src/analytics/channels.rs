//! Channels as a question: a customer's channel is that of their first event with
//! attribution (first touch), and "direct" when none has any, so the journey map and funnels
//! can be narrowed to the customers one channel brought. Each event's own channel is derived
//! as it is indexed (`index::channel`).

use crate::index::{
    channel::DIRECT,
    columns::{PropertyColumn, NONE},
    CustomerEvents, Entry, IndexData,
};

/// The channel id (in the column) of a customer's first event with attribution; [`NONE`]
/// for direct.
pub fn first_touch(events: &[Entry], column: &PropertyColumn) -> u32 {
    events.iter().map(|e| column.get(e.seq())).find(|&id| id != NONE).unwrap_or(NONE)
}

/// Which customers a question counts, by their channel.
#[derive(Debug, Clone, Copy)]
pub enum ChannelFilter<'a> {
    /// Every customer.
    All,
    /// Customers whose first touch has this id in the column ([`NONE`]: direct).
    Only(&'a PropertyColumn, u32),
    /// No customer: nobody came through the channel asked for.
    Nobody,
}

impl<'a> ChannelFilter<'a> {
    /// The filter for `wanted` (none: every customer) over the index's channel column, which
    /// must have been materialised.
    pub fn new(data: &'a IndexData, wanted: Option<&str>) -> Self {
        let Some(wanted) = wanted else { return ChannelFilter::All };
        match (data.channels(), wanted == DIRECT) {
            (Some(column), true) => ChannelFilter::Only(column, NONE),
            (Some(column), false) => {
                column.id_of(wanted).map_or(ChannelFilter::Nobody, |id| ChannelFilter::Only(column, id))
            }
            (None, true) => ChannelFilter::All,
            (None, false) => ChannelFilter::Nobody,
        }
    }

    pub fn admits(&self, customer: &CustomerEvents) -> bool {
        match self {
            ChannelFilter::All => true,
            ChannelFilter::Only(column, id) => first_touch(&customer.events, column) == *id,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_counted_by_their_first_touch() {
        let mut column = PropertyColumn::default();
        column.set(2, "email");
        column.set(5, "paid search");
        let entry = |seq: i64| Entry::new(seq * 10, seq, 0, false);
        let email_first = [entry(1), entry(2), entry(5)];
        assert_eq!(column.dictionary()[first_touch(&email_first, &column) as usize], "email");
        assert_eq!(first_touch(&[entry(1), entry(3)], &column), NONE, "no attribution: direct");
    }
}
