//! Journey documents as `PUT /api/v1/journeys/{name}` takes them: no panic; a journey that
//! passes its check survives a round trip, and each stage's events parse.
#![no_main]

use app::types::Journey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(journey) = serde_json::from_slice::<Journey>(data) else { return };
    if journey.check().is_err() {
        return;
    }
    let written = serde_json::to_vec(&journey).unwrap();
    let again: Journey = serde_json::from_slice(&written).expect("a written journey reads back");
    assert_eq!(again, journey);
    for stage in &journey.stages {
        let _ = stage.matchers();
    }
});
