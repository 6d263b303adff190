//! The `radar_created` and `radar_failure` bodies, built once, when an item's outcome is
//! decided: the stored text is what every delivery and every poll serves from then on.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::{
    FieldError, Result,
    api::{ErrorBody, RadarCreated, RadarData, RadarFailure, Status, UpdateType},
    clock,
    queue::ItemMessage,
    radar,
    store::items::{ItemState, Outcome},
};
use uuid::Uuid;

/// Why an item failed: each a documented failure code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: one entry per failing field.
    Invalid(Vec<FieldError>),
    /// 402: the balance is below the radar's cost.
    InsufficientCredits { cost: i64 },
    /// 409: `field` names the identity rule, `radar_id` the radar holding it.
    Conflict { field: &'static str, radar_id: Uuid },
    /// 500: every delivery of the item failed; `dead_lettered` when it is finalised from the
    /// dead-letter queue rather than on its last delivery.
    Exhausted { dead_lettered: bool },
}

impl Refusal {
    pub(crate) fn code(&self) -> u16 {
        match self {
            Self::Invalid(_) => 400,
            Self::InsufficientCredits { .. } => 402,
            Self::Conflict { .. } => 409,
            Self::Exhausted { .. } => 500,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "Invalid request body",
            Self::InsufficientCredits { .. } => "Insufficient balance",
            Self::Conflict { .. } => radar::CONFLICT_MESSAGE,
            Self::Exhausted { .. } => "Internal server error",
        }
    }

    fn errors(&self) -> Vec<FieldError> {
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
            Self::Conflict { field, radar_id } => vec![radar::conflict(field, *radar_id)],
            Self::Exhausted { .. } => vec![FieldError::new(
                "radar",
                "Processing failed after every retry. Nothing was created or charged; submit \
                 this radar again in a new bulk.",
            )],
        }
    }
}

/// The item's `custom_fields`, as submit stored them: the object given, else `{}`.
pub(crate) fn custom_fields(item: &Value) -> Value {
    match item.get("custom_fields") {
        Some(object @ Value::Object(_)) => object.clone(),
        _ => Value::Object(serde_json::Map::new()),
    }
}

/// A created item's outcome: its `radar_created`, with a fresh `update_id`.
pub(crate) fn created(
    message: &ItemMessage,
    custom_fields: Value,
    data: RadarData,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let event = RadarCreated {
        update_id: Uuid::new_v4(),
        update_type: UpdateType::RadarCreated,
        completed_at: clock::rfc3339(now),
        bulk_id: message.bulk_id,
        item_index: message.item_index,
        custom_fields,
        status: Status::Success,
        data,
    };
    Ok(Outcome {
        state: ItemState::Created,
        update_id: event.update_id,
        event: serde_json::to_string(&event)
            .map_err(|e| shared::Error::Serialize("radar_created", e))?,
    })
}

/// A failed item's outcome: its `radar_failure`, the error envelope spread into it.
pub(crate) fn failed(
    message: &ItemMessage,
    custom_fields: Value,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let at = clock::rfc3339(now);
    let event = RadarFailure {
        update_id: Uuid::new_v4(),
        update_type: UpdateType::RadarFailure,
        completed_at: at.clone(),
        discovered_at: at.clone(),
        bulk_id: message.bulk_id,
        item_index: message.item_index,
        custom_fields,
        error: ErrorBody {
            status: Status::Error,
            code: refusal.code(),
            message: refusal.message().to_owned(),
            errors: refusal.errors(),
            timestamp: at,
            error_id: Uuid::new_v4(),
        },
    };
    Ok(Outcome {
        state: ItemState::Failed,
        update_id: event.update_id,
        event: serde_json::to_string(&event)
            .map_err(|e| shared::Error::Serialize("radar_failure", e))?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message() -> ItemMessage {
        ItemMessage {
            bulk_id: "5f9da22e-4778-427c-b7e4-dab2a8d9d709".parse().unwrap(),
            item_index: 1,
            account_id: Uuid::nil(),
            radar: serde_json::value::to_raw_value(&json!({})).unwrap(),
        }
    }

    #[test]
    fn a_conflict_reads_like_the_specs_example() {
        let holder: Uuid = "3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0".parse().unwrap();
        let refusal = Refusal::Conflict {
            field: "domain",
            radar_id: holder,
        };
        let now = "2026-05-25T11:17:26Z".parse().unwrap();
        let outcome = failed(&message(), json!({"segment": "fintech"}), &refusal, now).unwrap();
        let event: Value = serde_json::from_str(&outcome.event).unwrap();

        assert_eq!(outcome.state, ItemState::Failed);
        assert_eq!(event["update_id"], outcome.update_id.to_string());
        assert_eq!(event["update_type"], "radar_failure");
        assert_eq!(event["completed_at"], "2026-05-25T11:17:26Z");
        assert_eq!(event["discovered_at"], event["completed_at"]);
        assert_eq!(event["timestamp"], event["completed_at"]);
        assert_eq!(event["item_index"], 1);
        assert_eq!(event["custom_fields"], json!({"segment": "fintech"}));
        assert_eq!(event["status"], "error");
        assert_eq!(event["code"], 409);
        assert_eq!(event["message"], "Conflict: Radar already exists");
        assert_eq!(
            event["errors"],
            json!([{
                "field": "domain",
                "reason": "A radar with this domain and type already exists for your account. \
                           Conflicting radar_id: 3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0. \
                           You can view it using GET /radars/{radar_id}",
                "conflicting_radar_id": "3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0"
            }])
        );
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
        }
    }

    #[test]
    fn custom_fields_default_to_an_empty_object() {
        assert_eq!(
            custom_fields(&json!({"custom_fields": {"a": 1}})),
            json!({"a": 1})
        );
        assert_eq!(custom_fields(&json!({"custom_fields": [1]})), json!({}));
        assert_eq!(custom_fields(&json!({})), json!({}));
    }
}
