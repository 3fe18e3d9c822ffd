//! The query strings of the analytics routes (funnel and who dropped, paths and a node's
//! customers, drop-offs, active stages), decoded as axum decodes them and checked as the
//! handlers check them: no panic, whatever the numbers and dates; a refusal is a bad query.
#![no_main]

use app::types::OrderMode;
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use server::{
    analytics::{
        question::{window_and_range, FunnelQuery, PathQuery},
        AnalyticsError,
    },
    http::analytics::StagesQuery,
};

fn refused_as_a_bad_query<T>(result: Result<T, AnalyticsError>) {
    if let Err(error) = result {
        assert!(matches!(error, AnalyticsError::BadQuery(_)), "not a bad query: {error:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&route, query)) = data.split_first() else { return };
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
    match route % 4 {
        0 => {
            if let Ok(funnel) = serde_urlencoded::from_bytes::<FunnelQuery>(query) {
                refused_as_a_bad_query(funnel.to_spec(now));
            }
        }
        1 => {
            if let Ok(paths) = serde_urlencoded::from_bytes::<PathQuery>(query) {
                refused_as_a_bad_query(paths.to_spec(now));
            }
        }
        2 => {
            // Drop-offs: the journey's window and range.
            if let Ok(funnel) = serde_urlencoded::from_bytes::<FunnelQuery>(query) {
                refused_as_a_bad_query(window_and_range(
                    funnel.window,
                    funnel.from,
                    funnel.to,
                    now,
                    Vec::new(),
                    OrderMode::Sequential,
                ));
            }
        }
        _ => {
            if let Ok(stages) = serde_urlencoded::from_bytes::<StagesQuery>(query) {
                let active = stages.active();
                assert!((1..=1440).contains(&active.minutes));
            }
        }
    }
});
