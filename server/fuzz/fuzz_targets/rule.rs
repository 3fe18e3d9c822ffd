//! Rule documents as `PUT /api/v1/rules/{id}` takes them: no panic; a rule that passes its
//! check survives being written out and read back unchanged.
#![no_main]

use app::types::Rule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rule) = serde_json::from_slice::<Rule>(data) else { return };
    if rule.check().is_err() {
        return;
    }
    let written = serde_json::to_vec(&rule).unwrap();
    let again: Rule = serde_json::from_slice(&written).expect("a written rule reads back");
    assert_eq!(again, rule);
    assert!(again.check().is_ok(), "a checked rule fails its check after a round trip");
    let _ = rule.condition.patterns();
});
