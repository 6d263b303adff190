//! The `radar_created` and `radar_failure` bodies, built once, when an item's outcome is
//! decided: the stored text is what every delivery and every poll serves from then on. What a
//! failure says is [`Refusal`]'s; this only wraps it in the event.

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::{
    Result,
    api::{RadarCreated, RadarData, RadarFailure, Refusal, Status, UpdateType},
    clock,
    queue::ItemMessage,
    store::items::{ItemState, Outcome},
};
use uuid::Uuid;

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
        discovered_at: at,
        bulk_id: message.bulk_id,
        item_index: message.item_index,
        custom_fields,
        error: refusal.body(Uuid::new_v4(), now),
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
}
