//! Idempotency claims: which bulk an account's `Idempotency-Key` stands for, and for which body.

use aws_sdk_dynamodb::{
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{CancellationReason, builders::PutBuilder},
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{EXPIRES_AT, Fields, Item, Read, Store, key, n, s};
use crate::{Error, Result, clock, idempotency::RETENTION_HOURS};

/// A key's record: the bulk it stands for and the fingerprint of the body that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub bulk_id: Uuid,
    pub fingerprint: String,
    pub claimed_at: DateTime<Utc>,
}

/// A request to claim a key for a new bulk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub account_id: Uuid,
    /// [`crate::idempotency::IdempotencyKey::digest`].
    pub key_digest: String,
    pub fingerprint: String,
    /// Take the key over from this bulk (an aborted or abandoned attempt). `None`: the key must
    /// be unclaimed or expired.
    pub replacing: Option<Uuid>,
}

fn claim_key(account_id: Uuid, key_digest: &str) -> Item {
    key(
        format!("IDEMPOTENCY#{account_id}#{key_digest}"),
        "IDEMPOTENCY",
    )
}

impl TryFrom<&Item> for Claim {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        Ok(Self {
            bulk_id: fields.parsed("bulk_id")?,
            fingerprint: fields.string("fingerprint")?.to_owned(),
            claimed_at: fields.parsed("claimed_at")?,
        })
    }
}

impl ClaimRequest {
    /// The conditional put that claims the key for `bulk_id`.
    pub(super) fn put(&self, table: &str, bulk_id: Uuid, at: DateTime<Utc>) -> PutBuilder {
        let mut item = claim_key(self.account_id, &self.key_digest);
        item.insert("bulk_id".into(), s(bulk_id.to_string()));
        item.insert("fingerprint".into(), s(&self.fingerprint));
        item.insert("claimed_at".into(), s(clock::rfc3339(at)));
        let expires_at = clock::epoch_seconds(at + Duration::hours(RETENTION_HOURS));
        item.insert(EXPIRES_AT.into(), n(expires_at));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(table)
            .set_item(Some(item));
        match self.replacing {
            // TTL deletes lazily: an expired claim still present counts as free.
            None => put
                .condition_expression("attribute_not_exists(pk) OR #expires < :now")
                .expression_attribute_names("#expires", EXPIRES_AT)
                .expression_attribute_values(":now", n(clock::epoch_seconds(at))),
            Some(old) => put
                .condition_expression("bulk_id = :old")
                .expression_attribute_values(":old", s(old.to_string())),
        }
    }
}

/// When a claim transaction was cancelled because the key is held, the holder's claim (read
/// from the cancellation, at no extra request). `Some(Err(IdempotencyKeyInUse))` when another
/// transaction on the key was in flight. `None` for any other failure.
pub(super) fn held_claim<R>(error: &SdkError<TransactWriteItemsError, R>) -> Option<Result<Claim>> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return None;
    };
    let claim: &CancellationReason = cancelled.cancellation_reasons().first()?;
    match claim.code() {
        Some("ConditionalCheckFailed") => Some(match claim.item() {
            Some(item) => Claim::try_from(item),
            // The key vanished between our read and our write: let the client retry.
            None => Err(Error::IdempotencyKeyInUse),
        }),
        Some("TransactionConflict") => Some(Err(Error::IdempotencyKeyInUse)),
        _ => None,
    }
}

impl Store {
    /// The live claim on an account's key, if any (a strongly consistent read).
    pub async fn find_claim(
        &self,
        account_id: Uuid,
        key_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Claim>> {
        let Some(item) = self
            .get(claim_key(account_id, key_digest), Read::Strong)
            .await?
        else {
            return Ok(None);
        };
        let expires_at: i64 = Fields(&item).number(EXPIRES_AT)?;
        if expires_at < clock::epoch_seconds(now) {
            return Ok(None);
        }
        Claim::try_from(&item).map(Some)
    }
}
