use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::Status;
use crate::clock;

/// The body a client posts to `POST /v1/radars/bulk`. The handler parses bodies leniently
/// (see [`crate::submission`]) so that it can report every problem; this type is for clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub webhook_url: String,
    pub radars: Vec<Value>,
}

/// The 202 answer to an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAccepted {
    pub status: Status,
    pub code: u16,
    pub message: String,
    pub bulk_id: Uuid,
    pub summary: AcceptedSummary,
    pub timestamp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSummary {
    pub total: usize,
}

impl SubmitAccepted {
    pub fn new(bulk_id: Uuid, total: usize, accepted_at: DateTime<Utc>) -> Self {
        Self {
            status: Status::Success,
            code: 202,
            message: format!(
                "Bulk submission accepted - {total} radars queued for processing. \
                 Poll GET /v1/radars/bulk/{bulk_id} for status or wait for the bulk_completed webhook."
            ),
            bulk_id,
            summary: AcceptedSummary { total },
            timestamp: clock::rfc3339(accepted_at),
        }
    }
}
