//! The bodies of the resources around bulk (`../shared/spec/radar-resources.md`): the radar
//! object, pages of radars and bulks, and the account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{KindFields, RadarData, Status};
use crate::clock;

/// The `radar_status` of a radar that runs (every radar just created).
pub const ACTIVE: &str = "active";
/// The `radar_status` of a deactivated radar.
pub const INACTIVE: &str = "inactive";

/// The message of a single create's `201`.
pub const CREATED: &str = "Radar created successfully";
/// The message of a `DELETE`'s `200`.
pub const DEACTIVATED: &str = "Radar deactivation initiated. The radar continues to run until \
                               the end of the current billing cycle.";

/// The public API bills radars monthly: an active radar's next charge is this long after it
/// was created.
pub const BILLING_CYCLE: chrono::Duration = chrono::Duration::days(30);

/// One radar, wherever one is returned (single create, get, list, deactivate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RadarObject {
    pub radar_id: Uuid,
    pub radar_type: String,
    /// `null` for industry radars.
    pub domain: Option<String>,
    /// The URL given at creation (a bulk's radar: its bulk's), or `null`.
    pub webhook_url: Option<String>,
    pub radar_status: String,
    pub created_at: String,
    pub deactivated_at: Option<String>,
    /// 30 days after creation while active; `null` once inactive.
    pub next_charge_at: Option<String>,
    pub custom_fields: Value,
    #[serde(flatten)]
    pub kind: KindFields,
}

impl RadarObject {
    /// The radar that `data` (its `radar_created` data, as stored) describes, deactivated at
    /// `deactivated_at` if it was. A `created_at` that does not parse leaves `next_charge_at`
    /// `null` rather than inventing a date.
    pub fn new(
        data: RadarData,
        webhook_url: Option<String>,
        deactivated_at: Option<DateTime<Utc>>,
    ) -> Self {
        let next_charge_at = match deactivated_at {
            Some(_) => None,
            None => DateTime::parse_from_rfc3339(&data.created_at)
                .ok()
                .map(|created| clock::rfc3339(created.with_timezone(&Utc) + BILLING_CYCLE)),
        };
        Self {
            radar_id: data.radar_id,
            radar_type: data.radar_type,
            domain: data.domain,
            webhook_url,
            radar_status: if deactivated_at.is_some() {
                INACTIVE
            } else {
                ACTIVE
            }
            .to_owned(),
            created_at: data.created_at,
            deactivated_at: deactivated_at.map(clock::rfc3339),
            next_charge_at,
            custom_fields: data.custom_fields,
            kind: data.kind,
        }
    }
}

/// The success envelope around one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Success<T> {
    pub status: Status,
    pub code: u16,
    pub timestamp: String,
    pub message: String,
    pub data: T,
}

impl<T> Success<T> {
    pub fn new(code: u16, message: impl Into<String>, data: T, now: DateTime<Utc>) -> Self {
        Self {
            status: Status::Success,
            code,
            timestamp: clock::rfc3339(now),
            message: message.into(),
            data,
        }
    }
}

/// The success envelope around one page of a list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed<T> {
    pub status: Status,
    pub code: u16,
    pub timestamp: String,
    pub message: String,
    pub data: Vec<T>,
    pub has_more: bool,
    /// What `?cursor=` takes to read the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl<T> Listed<T> {
    pub fn new(
        message: impl Into<String>,
        data: Vec<T>,
        next_cursor: Option<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            status: Status::Success,
            code: 200,
            timestamp: clock::rfc3339(now),
            message: message.into(),
            data,
            has_more: next_cursor.is_some(),
            next_cursor,
        }
    }
}

/// One bulk of an account, as `GET /v1/radars/bulk` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkListed {
    pub bulk_id: Uuid,
    /// `processing` or `completed`.
    pub status: Status,
    pub summary: super::PollSummary,
    pub created_at: String,
    /// When its `bulk_completed` was fixed; `null` while processing.
    pub completed_at: Option<String>,
}

/// `GET /v1/account`'s `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountData {
    pub account_id: Uuid,
    /// Credits left: what the next radars are paid from.
    pub balance: i64,
    pub radars: RadarCounts,
    pub usage: MonthlyUsage,
}

/// How many of the account's radars are active and inactive now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadarCounts {
    pub active: u64,
    pub inactive: u64,
}

/// What happened in one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyUsage {
    /// `YYYY-MM`.
    pub month: String,
    pub radars_activated: u64,
    pub radars_deactivated: u64,
    /// Bulk items that ended in `radar_failure`.
    pub radars_failed: u64,
}
