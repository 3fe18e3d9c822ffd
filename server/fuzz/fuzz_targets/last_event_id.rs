//! Where a reconnecting SSE client resumes: the `Last-Event-ID` header's bytes, else the
//! `lastEventId` query parameter. No panic; a header holding a number wins; otherwise a resume
//! point is the query's number, as the query string decodes.
#![no_main]

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use server::http::stream::{resume_point, StreamQuery};

fuzz_target!(|data: &[u8]| {
    let (header, query) = match data.iter().position(|&b| b == b'\n') {
        Some(cut) => (&data[..cut], &data[cut + 1..]),
        None => (data, &[][..]),
    };
    let mut headers = HeaderMap::new();
    let header_number = match HeaderValue::from_bytes(header) {
        Ok(value) => {
            let number = value.to_str().ok().and_then(|text| text.trim().parse::<i64>().ok());
            headers.insert("last-event-id", value);
            number
        }
        Err(_) => None,
    };
    let Ok(parsed) = serde_urlencoded::from_bytes::<StreamQuery>(query) else { return };
    let point = resume_point(&headers, &parsed);
    match header_number {
        Some(number) => assert_eq!(point, Some(number), "the header's number wins"),
        None => {
            if let Some(point) = point {
                let pairs: HashMap<String, String> = serde_urlencoded::from_bytes(query).unwrap_or_default();
                let asked = pairs.get("lastEventId").and_then(|v| v.parse::<i64>().ok());
                assert_eq!(asked, Some(point), "a resume point that was not asked for");
            }
        }
    }
});
