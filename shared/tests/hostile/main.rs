//! Hostile input to the parsers that read what callers send: the submit envelope
//! ([`shared::submission::Submission::parse`]), one item ([`shared::radar::Radar::parse`]) and a
//! single create's body ([`shared::single::SingleCreate::parse`]).
//! Whatever arrives (arbitrary bytes, deep nesting, huge numbers and strings, odd Unicode),
//! neither panics, and every refusal is the documented 400 envelope naming a field the API has.
//!
//! Case counts are kept small enough for `make test` (a few seconds in all); set
//! `PROPTEST_CASES` to run more.

mod envelope;
mod items;
mod single;
mod strategies;

use chrono::Utc;
use serde_json::Value;
use shared::{Error, FieldError};
use uuid::Uuid;

/// Asserts that `errors` make the documented 400 envelope: at least one `{field, reason}`,
/// each field one that `is_known` accepts and each reason non-empty, and the body holds exactly
/// `status`, `code`, `message`, `errors`, `timestamp` and `error_id`.
fn assert_documented_400(errors: &[FieldError], is_known: impl Fn(&str) -> bool) {
    assert!(!errors.is_empty(), "a refusal names at least one field");
    for error in errors {
        assert!(is_known(&error.field), "unexpected field {:?}", error.field);
        assert!(
            !error.reason.is_empty(),
            "{} has an empty reason",
            error.field
        );
    }
    let body = Error::InvalidRequest(errors.to_vec()).to_body(Uuid::new_v4(), Utc::now());
    let body = serde_json::to_value(&body).expect("the envelope serialises");
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], 400);
    assert_eq!(body["message"], "Invalid request body");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("an object")
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
    assert!(matches!(&body["errors"], Value::Array(list) if list.len() == errors.len()));
}
