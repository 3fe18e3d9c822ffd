//! Property columns: one event property's value for every event, by sequence number,
//! dictionary-encoded (4 bytes an event). The event index materialises a property the first
//! time a question needs it (a breakdown, a property held constant, a step filter) and keeps
//! it current from then on, as PostHog materialises hot properties: reading the value from
//! each event's JSON in DuckDB for every question cost more than the whole funnel.

use std::collections::HashMap;

use serde_json::value::RawValue;

use rustc_hash::FxHashMap;

use crate::store::value_text;

/// No value: the event does not carry the property (or it is null).
pub const NONE: u32 = u32::MAX;

/// One property's values, by sequence number.
#[derive(Debug, Clone, Default)]
pub struct PropertyColumn {
    /// Value id per sequence number.
    ids: Vec<u32>,
    dictionary: Vec<String>,
    lookup: FxHashMap<String, u32>,
}

impl PropertyColumn {
    /// The value id of event `seq`, or [`NONE`].
    pub fn get(&self, seq: i64) -> u32 {
        usize::try_from(seq).ok().and_then(|i| self.ids.get(i).copied()).unwrap_or(NONE)
    }

    /// The id of a value, if some event carries it.
    pub fn id_of(&self, value: &str) -> Option<u32> {
        self.lookup.get(value).copied()
    }

    /// Values by id.
    pub fn dictionary(&self) -> &[String] {
        &self.dictionary
    }

    /// Records event `seq`'s value.
    pub fn set(&mut self, seq: i64, value: &str) {
        let id = self.intern(value);
        self.set_id(seq, id);
    }

    /// The id of a value, given one if it is new.
    pub fn intern(&mut self, value: &str) -> u32 {
        match self.lookup.get(value) {
            Some(&id) => id,
            None => {
                let id = self.dictionary.len() as u32;
                self.dictionary.push(value.to_string());
                self.lookup.insert(value.to_string(), id);
                id
            }
        }
    }

    /// Records event `seq`'s value by its id (from [`PropertyColumn::intern`]).
    pub fn set_id(&mut self, seq: i64, id: u32) {
        let Ok(i) = usize::try_from(seq) else { return };
        if self.ids.len() <= i {
            self.ids.resize(i + 1, NONE);
        }
        self.ids[i] = id;
    }

    /// Makes room for the events up to `seq` at once, before a bulk load.
    pub fn reserve_through(&mut self, seq: i64) {
        let len = usize::try_from(seq).map_or(0, |s| s + 1);
        if self.ids.len() < len {
            self.ids.resize(len, NONE);
        }
    }

    /// Memory held, estimated.
    pub fn approximate_bytes(&self) -> usize {
        self.ids.capacity() * 4 + self.dictionary.iter().map(|v| 2 * (v.len() + 24) + 16).sum::<usize>()
    }
}

/// Property conditions resolved against the columns: the value id each column must hold;
/// `None` when a column is missing or a wanted value is carried by no event (nothing passes).
pub type Conditions<'a> = Option<Vec<(&'a PropertyColumn, u32)>>;

/// Resolves `(property, value)` filters against the columns `column` finds.
pub fn conditions<'a>(
    filters: &[(String, String)],
    column: impl Fn(&str) -> Option<&'a PropertyColumn>,
) -> Conditions<'a> {
    filters.iter().map(|(key, want)| column(key).and_then(|c| Some((c, c.id_of(want)?)))).collect()
}

/// Whether event `seq` passes the conditions.
pub fn holds(conditions: &Conditions<'_>, seq: i64) -> bool {
    conditions.as_ref().is_some_and(|c| c.iter().all(|(column, want)| column.get(seq) == *want))
}

/// The values of `keys` in an event's properties (JSON object text), as DuckDB's
/// `json_extract_string` gives them (so that values read at materialisation and values kept
/// live get the same ids): strings unquoted, other values as compact JSON text, null and
/// missing as `None`.
pub fn extract<'k>(properties: &str, keys: impl Iterator<Item = &'k str>) -> Vec<Option<String>> {
    let parsed: Option<HashMap<String, &RawValue>> = serde_json::from_str(properties).ok();
    keys.map(|key| value_text(parsed.as_ref()?.get(key)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_duckdb_reads_them() {
        let props = r#"{"channel":"e\"mail","qty":2.50,"vip":true,"gone":null,"tags":[ "a" ]}"#;
        let keys = ["channel", "qty", "vip", "gone", "tags", "missing"];
        let values = extract(props, keys.iter().copied());
        assert_eq!(
            values,
            vec![
                Some("e\"mail".to_string()),
                Some("2.5".to_string()),
                Some("true".to_string()),
                None,
                Some("[\"a\"]".to_string()),
                None
            ]
        );
        assert_eq!(extract("not json", ["a"].into_iter()), vec![None]);
    }

    #[test]
    fn a_column_encodes_values_by_sequence_number() {
        let mut column = PropertyColumn::default();
        column.set(3, "email");
        column.set(5, "cpc");
        column.set(6, "email");
        assert_eq!((column.get(3), column.get(5), column.get(6)), (0, 1, 0));
        assert_eq!((column.get(4), column.get(99), column.get(-1)), (NONE, NONE, NONE));
        assert_eq!(column.id_of("cpc"), Some(1));
        assert_eq!(column.dictionary(), ["email", "cpc"]);
    }
}
