//! Why a radar was not created, in the spec's words: the `code`, `message` and `errors[]` that a
//! failed bulk item spreads into its `radar_failure`, and that a single create answers for the
//! same failure (the spec promises they are identical). Every text of it is here, once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ErrorBody, FieldError, Status};
use crate::clock;

/// The `message` of every 400 about a request body or an item.
pub const INVALID_BODY: &str = "Invalid request body";
/// The `message` of every 500.
pub const INTERNAL: &str = "Internal server error";
/// The `message` of a 402.
pub const INSUFFICIENT_BALANCE: &str = "Insufficient balance";
/// The `message` of a 409.
pub const CONFLICT: &str = "Conflict: Radar already exists";

/// Why a radar was not created: each a documented failure code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: one entry per failing field.
    Invalid(Vec<FieldError>),
    /// 402: the balance is below the radar's cost.
    InsufficientCredits { cost: i64 },
    /// 409: `field` names the identity rule, `radar_id` the radar holding it.
    Conflict { field: &'static str, radar_id: Uuid },
    /// 500: every try failed; `dead_lettered` when a bulk item is finalised from the
    /// dead-letter queue rather than on its last delivery.
    Exhausted { dead_lettered: bool },
}

impl Refusal {
    pub fn code(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::InsufficientCredits { .. } => 402,
            Self::Conflict { .. } => 409,
            Self::Exhausted { .. } => 500,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Self::Invalid(_) => INVALID_BODY,
            Self::InsufficientCredits { .. } => INSUFFICIENT_BALANCE,
            Self::Conflict { .. } => CONFLICT,
            Self::Exhausted { .. } => INTERNAL,
        }
    }

    pub fn errors(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errors) => errors.clone(),
            Self::InsufficientCredits { cost } => vec![FieldError::new(
                "balance",
                format!(
                    "Creating this radar costs {cost} credit{}, more than your account's \
                     balance. Nothing was created or charged.",
                    if *cost == 1 { "" } else { "s" }
                ),
            )],
            Self::Conflict { field, radar_id } => vec![conflict(field, *radar_id)],
            Self::Exhausted { .. } => vec![FieldError::new(
                "radar",
                "Processing failed after every retry. Nothing was created or charged; submit \
                 this radar again in a new bulk.",
            )],
        }
    }

    /// The error envelope of this refusal, as of `at`.
    pub fn body(&self, error_id: Uuid, at: DateTime<Utc>) -> ErrorBody {
        ErrorBody {
            status: Status::Error,
            code: self.code(),
            message: self.message().to_owned(),
            errors: self.errors(),
            timestamp: clock::rfc3339(at),
            error_id,
        }
    }
}

/// The 409 error for a radar whose identity `identity_field` is held by
/// `conflicting_radar_id`. The reason follows the spec's example; the literal `{radar_id}` in
/// it is the spec's, not a placeholder left unfilled.
fn conflict(identity_field: &str, conflicting_radar_id: Uuid) -> FieldError {
    let what = match identity_field {
        "domain" => "A radar with this domain and type".to_owned(),
        "identifiers" => "A radar with these identifiers and type".to_owned(),
        "keyword" => "A radar with this keyword and type".to_owned(),
        "radar_type" => "A radar of this type".to_owned(),
        other => format!("A radar with this {other} and type"),
    };
    FieldError {
        field: identity_field.to_owned(),
        reason: format!(
            "{what} already exists for your account. Conflicting radar_id: \
             {conflicting_radar_id}. You can view it using GET /radars/{{radar_id}}"
        ),
        conflicting_radar_id: Some(conflicting_radar_id),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0";

    #[test]
    fn the_domain_conflict_reason_is_the_spec_example() {
        let error = conflict("domain", ID.parse().unwrap());
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            json!({
                "field": "domain",
                "reason": "A radar with this domain and type already exists for your account. Conflicting radar_id: 3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0. You can view it using GET /radars/{radar_id}",
                "conflicting_radar_id": ID
            })
        );
    }

    #[test]
    fn every_identity_field_has_its_own_first_sentence() {
        let tail = format!(
            " already exists for your account. Conflicting radar_id: {ID}. \
             You can view it using GET /radars/{{radar_id}}"
        );
        for (field, first) in [
            ("domain", "A radar with this domain and type"),
            ("identifiers", "A radar with these identifiers and type"),
            ("keyword", "A radar with this keyword and type"),
            ("radar_type", "A radar of this type"),
        ] {
            let error = conflict(field, ID.parse().unwrap());
            assert_eq!(error.field, field);
            assert_eq!(error.reason, format!("{first}{tail}"));
            assert_eq!(error.conflicting_radar_id, Some(ID.parse().unwrap()));
        }
        assert_eq!(CONFLICT, "Conflict: Radar already exists");
    }

    #[test]
    fn failure_codes_carry_their_documented_messages() {
        let cases = [
            (
                Refusal::Invalid(vec![FieldError::new("domain", "x")]),
                400,
                "Invalid request body",
            ),
            (
                Refusal::InsufficientCredits { cost: 1 },
                402,
                "Insufficient balance",
            ),
            (
                Refusal::Conflict {
                    field: "domain",
                    radar_id: Uuid::nil(),
                },
                409,
                "Conflict: Radar already exists",
            ),
            (
                Refusal::Exhausted {
                    dead_lettered: false,
                },
                500,
                "Internal server error",
            ),
        ];
        for (refusal, code, text) in cases {
            assert_eq!(refusal.code(), code);
            assert_eq!(refusal.message(), text);
            assert!(!refusal.errors().is_empty(), "{refusal:?} says why");
            let body = refusal.body(Uuid::nil(), Utc::now());
            assert_eq!((body.code, body.message.as_str()), (code, text));
        }
    }
}
