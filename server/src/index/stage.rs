//! Which journey stage each event of the index is in: by its name, or, for names a stage
//! claims by property conditions, by the values in the materialised property columns. Read
//! by the analytics (occupancy, drop-offs) and by the rule engine (off-path changes).

use app::types::Journey;

use super::{
    columns::{self, Conditions, PropertyColumn},
    Entry,
};

/// Which stage each event of the index is in: by name id, or, for names a stage claims by
/// property conditions, by the values in the materialised property columns.
#[derive(Debug, Default)]
pub struct StageClassifier<'a> {
    by_name: Vec<Option<usize>>,
    /// Per name id: (stage, the (column, value id) pairs that must all hold; `None` when a
    /// wanted value is carried by no event).
    conditioned: Vec<Vec<(usize, Conditions<'a>)>>,
}

impl<'a> StageClassifier<'a> {
    pub fn new(journey: &Journey, names: &[&str], column: impl Fn(&str) -> Option<&'a PropertyColumn>) -> Self {
        let mut conditioned: Vec<Vec<(usize, Conditions<'a>)>> = vec![Vec::new(); names.len()];
        for (stage, matcher) in
            journey.stages.iter().enumerate().flat_map(|(i, s)| s.matchers().into_iter().map(move |m| (i, m)))
        {
            if matcher.filters.is_empty() {
                continue;
            }
            for (id, _) in names.iter().enumerate().filter(|(_, n)| **n == matcher.name) {
                conditioned[id].push((stage, columns::conditions(&matcher.filters, &column)));
            }
        }
        StageClassifier { by_name: names.iter().map(|n| journey.stage_of(n)).collect(), conditioned }
    }

    pub fn stage(&self, event: &Entry) -> Option<usize> {
        let id = event.name() as usize;
        let claimed = self
            .conditioned
            .get(id)
            .and_then(|c| c.iter().find(|(_, conditions)| columns::holds(conditions, event.seq())));
        claimed.map(|(stage, _)| *stage).or_else(|| self.by_name.get(id).copied().flatten())
    }
}
