use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use uuid::Uuid;

use super::{ErrorBody, Status, UpdateType};

/// `radar_created`: one item became a radar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarCreated {
    pub update_id: Uuid,
    pub update_type: UpdateType,
    pub completed_at: String,
    pub bulk_id: Uuid,
    pub item_index: u32,
    pub custom_fields: Value,
    pub status: Status,
    pub data: RadarData,
}

/// The created radar, in the shape the single-create endpoints return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarData {
    pub radar_id: Uuid,
    pub radar_type: String,
    /// `null` for industry radars.
    pub domain: Option<String>,
    pub radar_status: String,
    pub created_at: String,
    pub custom_fields: Value,
    #[serde(flatten)]
    pub kind: KindFields,
}

/// A radar's own fields by kind, each present only when it has a value: a contact's
/// identifiers, an industry radar's keyword and countries, a company radar's filters. The same
/// in `radar_created.data` and wherever the API shows a radar.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departments: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniorities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_titles: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

/// `radar_failure`: one item ended in a 400, 402, 409 or (after retries) 500. As the spec puts
/// it, the error envelope the single-create endpoint would answer is spread into the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarFailure {
    pub update_id: Uuid,
    pub update_type: UpdateType,
    pub completed_at: String,
    /// Kept for backwards compatibility; always equal to `completed_at`.
    pub discovered_at: String,
    pub bulk_id: Uuid,
    pub item_index: u32,
    pub custom_fields: Value,
    /// `status`, `code`, `message`, `errors`, `timestamp`, `error_id`.
    #[serde(flatten)]
    pub error: ErrorBody,
}

/// `bulk_completed`: every item is terminal. `radars` holds each item's stored event, byte for
/// byte as it was delivered, in `item_index` order.
#[derive(Debug, Serialize, Deserialize)]
pub struct BulkCompleted {
    pub update_id: Uuid,
    pub update_type: UpdateType,
    pub bulk_id: Uuid,
    pub completed_at: String,
    pub summary: CompletedSummary,
    pub radars: Vec<Box<RawValue>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedSummary {
    pub total: u32,
    pub created: u32,
    pub failed: u32,
}
