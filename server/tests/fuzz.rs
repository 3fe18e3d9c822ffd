//! Property tests: whatever bytes or JSON arrive, ingestion never panics and never answers
//! with a server error (5xx); it accepts, or refuses with a reason.

use axum::response::IntoResponse;
use chrono::Utc;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use server::{
    http::error::ApiError,
    ingest::{segment::parse_message, Arrival, CallType, Endpoint, Inherited},
    leptos_options,
    sources::DEMO_WRITE_KEY,
    Database, Wayline,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn endpoints() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        Just(Endpoint::Batch),
        Just(Endpoint::Single(CallType::Track)),
        Just(Endpoint::Single(CallType::Page)),
        Just(Endpoint::Single(CallType::Identify)),
        Just(Endpoint::Single(CallType::Alias)),
        Just(Endpoint::Single(CallType::Group)),
    ]
}

fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 :.TZ+-]{0,30}".prop_map(Value::String),
        prop_oneof![Just("2026-11-23T10:00:00Z"), Just("9999-12-31T23:59:59Z"), Just("0000-01-01T00:00:00Z")]
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_string()),
                        Just("userId".to_string()),
                        Just("anonymousId".to_string()),
                        Just("event".to_string()),
                        Just("properties".to_string()),
                        Just("context".to_string()),
                        Just("timestamp".to_string()),
                        Just("sentAt".to_string()),
                        Just("originalTimestamp".to_string()),
                        Just("previousId".to_string()),
                        Just("groupId".to_string()),
                        Just("batch".to_string()),
                        "[a-z]{1,8}",
                    ],
                    inner,
                ),
                0..8
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn parsing_any_json_message_never_panics(value in json_values(), path in prop::option::of(Just(CallType::Track))) {
        let arrival = Arrival { source_id: "s".into(), received_at: Utc::now() };
        let _ = parse_message(path, &value.to_string(), Inherited::default(), &arrival);
    }
}

#[test]
fn arbitrary_bodies_never_get_a_server_error() {
    let rt = runtime();
    let wayline = rt.block_on(async {
        let options = leptos_options(std::path::Path::new("target/site"), "127.0.0.1:0".parse().unwrap());
        Wayline::open(Database::InMemory, options, vec![]).await.unwrap()
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 400, ..ProptestConfig::default() });
    let bodies = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        json_values().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(json_values(), 0..20)
            .prop_map(|items| serde_json::to_vec(&json!({ "batch": items })).unwrap()),
    ];
    runner
        .run(&(endpoints(), bodies, any::<bool>()), |(endpoint, body, with_key)| {
            let key = with_key.then_some(DEMO_WRITE_KEY);
            let outcome = rt.block_on(wayline.state.ingestor.ingest(endpoint, &body, key, Utc::now()));
            if let Err(error) = outcome {
                let status = ApiError::from(error).into_response().status();
                prop_assert!(status.is_client_error(), "got {status} for {:?}", String::from_utf8_lossy(&body));
            }
            Ok(())
        })
        .unwrap();
}
