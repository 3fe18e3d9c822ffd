//! The step grammar (`name`, `name[key=value;key=value]`, alternatives `a|b`, steps `a,b`):
//! no panic; a step that parses is written back by its label and parses again to the same
//! step.
#![no_main]

use app::types::StepEvent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for step in text.split(',') {
        for alternative in step.split('|') {
            let Ok(parsed) = StepEvent::parse(alternative) else { continue };
            let label = parsed.label();
            let again = StepEvent::parse(&label).unwrap_or_else(|e| panic!("label {label:?} does not parse: {e}"));
            assert_eq!(again, parsed, "label {label:?} of {alternative:?} parses to another step");
            let _ = parsed.matches_properties(&serde_json::json!({"plan": "pro", "price": 2.5}));
        }
    }
    // The funnel's own reading of a whole steps list, with its limits.
    let query = server::analytics::question::FunnelQuery { steps: Some(text.to_string()), ..Default::default() };
    let now = chrono::DateTime::from_timestamp(1_796_212_800, 0).unwrap();
    let _ = query.to_spec(now);
});
