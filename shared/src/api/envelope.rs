use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Status;

/// One problem with a request or an item: which field, and what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
    /// Present on 409 conflicts only: the radar that already holds this identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicting_radar_id: Option<Uuid>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            conflicting_radar_id: None,
        }
    }
}

/// The error envelope every endpoint answers with (`status: "error"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub status: Status,
    pub code: u16,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub timestamp: String,
    pub error_id: Uuid,
}
