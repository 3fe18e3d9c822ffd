//! Answers of the JSON API and the event stream as the caller may read them: personal
//! traits and properties masked for viewers (the same functions the pages use).

use app::{
    auth::Principal,
    privacy::{mask_sent_data, mask_text, sees_personal_data, PiiKeys},
};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use crate::hub::Frame;

/// True when `who` reads personal data masked.
pub fn masked_for(who: Option<&Principal>) -> bool {
    !who.is_some_and(|who| sees_personal_data(who.role))
}

/// Refuses a viewer's question that filters or holds on a personal property.
pub fn refuse_personal_filters<'a>(
    steps: impl IntoIterator<Item = Option<&'a str>>,
    held: Option<&str>,
    who: Option<&Principal>,
    keys: &PiiKeys,
) -> Result<(), ApiError> {
    if !masked_for(who) {
        return Ok(());
    }
    match app::privacy::personal_filter(steps.into_iter().flatten(), held, keys) {
        Some(refusal) => Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "personal_data", refusal)),
        None => Ok(()),
    }
}

/// `answer` as JSON, with what customers sent masked for viewers.
pub fn answer<T: Serialize>(answer: T, who: Option<&Principal>, keys: &PiiKeys) -> Result<Json<Value>, ApiError> {
    let mut value = serde_json::to_value(answer).map_err(|e| {
        tracing::error!(error = %e, "could not encode an answer");
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "encoding_failed",
            "the answer could not be encoded; retry",
        )
    })?;
    if masked_for(who) {
        mask_sent_data(&mut value, keys);
    }
    Ok(Json(value))
}

/// A funnel broken down by a personal property: each group's `value` masked for viewers.
pub fn mask_breakdown_values(answer: &mut Value, breakdown: Option<&str>, who: Option<&Principal>, keys: &PiiKeys) {
    if !masked_for(who) || !breakdown.is_some_and(|key| keys.contains(key)) {
        return;
    }
    if let Some(groups) = answer.get_mut("breakdown").and_then(Value::as_array_mut) {
        for group in groups {
            if let Some(Value::String(text)) = group.get_mut("value") {
                *text = mask_text(text);
            }
        }
    }
}

/// An SSE frame re-encoded with what customers sent masked (viewers only; others share the
/// frame encoded once for all). A frame that cannot be read is not sent to a viewer at all.
pub fn frame(frame: Frame, who: Option<&Principal>, keys: &PiiKeys) -> Option<Frame> {
    if !masked_for(who) {
        return Some(frame);
    }
    frame.masked(|frame| {
        let mut value = serde_json::from_str::<Value>(frame.json()).ok()?;
        mask_sent_data(&mut value, keys);
        Some(Frame::new(frame.id, frame.name, &value.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use app::auth::{Credential, Role};

    use super::*;

    fn reader(role: Role) -> Principal {
        Principal { name: format!("{role:?}"), role, via: Credential::Token }
    }

    #[test]
    fn a_frame_is_masked_for_viewers_once_for_all_their_streams() {
        let keys = PiiKeys::new(["email"]);
        let sent =
            Frame::new(Some(7), "events", r#"{"events":[{"properties":{"email":"ada@example.com","plan":"pro"}}]}"#);
        // What every stream receives: clones of the one frame the hub made.
        let (first, second) = (sent.clone(), sent.clone());

        let analyst = frame(first.clone(), Some(&reader(Role::Analyst)), &keys).unwrap();
        assert_eq!(analyst, sent, "an analyst reads the frame as sent");

        let viewer = frame(first, Some(&reader(Role::Viewer)), &keys).unwrap();
        assert!(!viewer.json().contains("ada@example.com"), "{}", viewer.json());
        assert!(viewer.json().contains("\"plan\":\"pro\""), "{}", viewer.json());
        assert_eq!(viewer.id, Some(7));

        // The second viewer's stream gets the masking the first one made: the same bytes.
        let other_viewer = frame(second, None, &keys).unwrap();
        assert_eq!(other_viewer.wire().as_ptr(), viewer.wire().as_ptr());
        // A frame of its own is masked again.
        let fresh = Frame::new(Some(7), "events", sent.json());
        assert_ne!(frame(fresh, None, &keys).unwrap().wire().as_ptr(), viewer.wire().as_ptr());
    }
}
