use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use uuid::Uuid;

use super::Status;
use crate::clock;

const PROCESSING: &str = "Bulk submission is being processed";
const COMPLETED: &str = "Bulk submission completed";

/// The answer to `GET /v1/radars/bulk/{bulk_id}`: `processing` while any item is in flight,
/// then `completed`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollResponse {
    pub status: Status,
    pub code: u16,
    pub timestamp: String,
    pub message: String,
    pub bulk_id: Uuid,
    pub summary: PollSummary,
    pub radars: Vec<PollEntry>,
}

impl PollResponse {
    /// The answer for a bulk whose items stand as `summary` says: `completed` once every item
    /// is terminal, else `processing`.
    pub fn new(
        bulk_id: Uuid,
        summary: PollSummary,
        radars: Vec<PollEntry>,
        now: DateTime<Utc>,
    ) -> Self {
        let complete = summary.processing == 0 && summary.created + summary.failed == summary.total;
        let (status, message) = if complete {
            (Status::Completed, COMPLETED)
        } else {
            (Status::Processing, PROCESSING)
        };
        Self {
            status,
            code: 200,
            timestamp: clock::rfc3339(now),
            message: message.to_owned(),
            bulk_id,
            summary,
            radars,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollSummary {
    pub total: u32,
    pub processing: u32,
    pub created: u32,
    pub failed: u32,
}

/// One item of a poll answer: in flight, or the terminal event exactly as the webhook carries it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PollEntry {
    InFlight(InFlightItem),
    Terminal(Box<RawValue>),
}

/// By hand, because serde's untagged enums buffer their input and a `RawValue` cannot be read
/// from a buffer: read the raw entry once, then see whether it is an in-flight one.
impl<'de> Deserialize<'de> for PollEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(match serde_json::from_str::<InFlightItem>(raw.get()) {
            Ok(item) => Self::InFlight(item),
            Err(_) => Self::Terminal(raw),
        })
    }
}

/// An item still being processed (`status: "processing"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlightItem {
    pub item_index: u32,
    pub status: Status,
    pub custom_fields: Value,
}
