//! Assertions on the HTTP functions' responses: headers and the documented error envelope.

use chrono::DateTime;
use lambda_http::{Body, Response};
use serde_json::Value;
use uuid::Uuid;

use crate::response_json;

pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("an ASCII header"))
}

/// The `{field, reason}` pairs of an error body.
pub fn field_errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors[]")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Asserts the documented error envelope around `code` and `message`: exactly the six fields,
/// an RFC 3339 UTC `timestamp` and a v4 `error_id`. Returns the body.
pub fn assert_envelope(response: &Response<Body>, code: u16, message: &str) -> Value {
    let (status, body) = response_json(response);
    assert_eq!(status, code, "{body}");
    assert_eq!(header(response, "content-type"), Some("application/json"));
    assert_envelope_body(&body, code, message);
    body
}

/// [`assert_envelope`] on a body alone, however it arrived (over HTTP, say).
pub fn assert_envelope_body(body: &Value, code: u16, message: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["message"], message, "{body}");
    let timestamp = body["timestamp"].as_str().expect("a timestamp");
    assert!(DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'));
    let error_id: Uuid = body["error_id"].as_str().unwrap().parse().expect("a UUID");
    assert_eq!(error_id.get_version_num(), 4);
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code",
            "error_id",
            "errors",
            "message",
            "status",
            "timestamp"
        ]
    );
}
