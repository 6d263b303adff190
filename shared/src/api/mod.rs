//! Wire types for every body in the spec. Field order follows the spec's examples, because
//! serde writes fields in declaration order and customers diff these payloads.

mod envelope;
mod events;
pub mod failure;
mod poll;
mod radars;
mod submit;

use serde::{Deserialize, Serialize};

pub use envelope::{ErrorBody, FieldError};
pub use events::{
    BulkCompleted, CompletedSummary, KindFields, RadarCreated, RadarData, RadarFailure,
};
pub use failure::Refusal;
pub use poll::{InFlightItem, PollEntry, PollResponse, PollSummary};
pub use radars::{
    ACTIVE, AccountData, BILLING_CYCLE, BulkListed, CREATED, DEACTIVATED, INACTIVE, Listed,
    MonthlyUsage, RadarCounts, RadarObject, Success,
};
pub use submit::{AcceptedSummary, SubmitAccepted, SubmitRequest};

/// The `status` field: what kind of body this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
    Processing,
    Completed,
}

/// The `update_type` field of webhook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateType {
    RadarCreated,
    RadarFailure,
    BulkCompleted,
}

#[cfg(test)]
mod tests;
