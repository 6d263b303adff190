//! Bulk records: who submitted what, where its events go, and where the submission stands.
//!
//! A bulk is written `submitting` before any of its items is queued and becomes `accepted` only
//! once every item is stored and queued. A submission that fails part-way is marked `aborted`.
//! The processor acts on items of `accepted` bulks only (checked in the same transaction that
//! creates a radar), so a 500 from submit means none of its queued items ever takes effect.
//! A bulk still `submitting` after [`ABANDONED_AFTER`] lost its submit request (a crash or a
//! timeout) and is as good as aborted: whoever finds it so may mark it `aborted`.

use std::{fmt, str::FromStr};

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, builders::UpdateBuilder,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{
    EXPIRES_AT, Fields, Item, NEW_RECORD, Read, Store,
    idempotency::{Claim, ClaimRequest},
    key, n, s, unless_condition_failed,
};
use crate::{Error, Result, clock, webhook_url::WebhookUrl};

/// How long a submit request may keep a bulk `submitting`. Submit answers within API Gateway's
/// 30 s, so a bulk older than this in that state was abandoned.
pub const ABANDONED_AFTER: Duration = Duration::minutes(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkState {
    /// Stored; its items are being stored and queued. Nothing may act on it yet.
    Submitting,
    /// Every item is stored and queued: the processor may work on it.
    Accepted,
    /// Submission failed part-way: every queued item of it is dropped.
    Aborted,
}

impl BulkState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Submitting => "submitting",
            Self::Accepted => "accepted",
            Self::Aborted => "aborted",
        }
    }
}

impl fmt::Display for BulkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BulkState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "submitting" => Ok(Self::Submitting),
            "accepted" => Ok(Self::Accepted),
            "aborted" => Ok(Self::Aborted),
            _ => Err(()),
        }
    }
}

/// One submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bulk {
    pub id: Uuid,
    pub account_id: Uuid,
    pub webhook_url: WebhookUrl,
    pub total: u32,
    pub state: BulkState,
    pub created_at: DateTime<Utc>,
    /// When DynamoDB's TTL removes the bulk and, with the same value, its items.
    pub expires_at: i64,
    /// Set once, by whichever processor finds the bulk's last item terminal.
    pub completion: Option<Completion>,
    /// How its radars are paid for; fixed when the bulk is accepted.
    pub funding: Funding,
}

/// How a bulk's radars are paid for.
///
/// Normally the whole bulk is paid for up front: when the bulk is accepted, the cost of its
/// valid items is taken from the account in the same write ([`Store::accept_bulk`]), its items
/// are created without touching the account, and the cost of those that did not become radars
/// is given back once, when the bulk completes ([`Store::settle_bulk`]). So an account's
/// record is written twice a bulk rather than once a batch, and one account's items never
/// contend for it. A bulk whose account cannot cover it all is metered instead: each batch pays
/// for its radars as it creates them, and the items that find the balance spent get a 402.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// Paid for per batch, in the transaction that creates its radars.
    Metered,
    /// This many credits were taken from the account when the bulk was accepted.
    Reserved(i64),
}

/// The bulk's `bulk_completed`: its `update_id` and `completed_at` are fixed when the bulk is
/// found complete, so every delivery attempt assembles the same body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub update_id: Uuid,
    pub completed_at: DateTime<Utc>,
}

impl Bulk {
    /// Still `submitting`, long after its submit request must have ended.
    pub fn is_abandoned(&self, now: DateTime<Utc>) -> bool {
        self.state == BulkState::Submitting && now - self.created_at >= ABANDONED_AFTER
    }
}

/// What a submission retried under an `Idempotency-Key` gets, given the bulk the key already
/// stands for (with the same body): the bulk's state decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryVerdict {
    /// The first request went through: answer with its 202.
    Replay,
    /// The first request is still at work: the caller should retry shortly.
    InProgress,
    /// The first request failed or was abandoned: submit anew under the same key. When
    /// `abort_first`, its bulk is still `submitting` and must be marked aborted first.
    Retake { abort_first: bool },
}

pub fn judge_retry(bulk: Option<&Bulk>, now: DateTime<Utc>) -> RetryVerdict {
    match bulk {
        Some(bulk) if bulk.is_abandoned(now) => RetryVerdict::Retake { abort_first: true },
        Some(bulk) => match bulk.state {
            BulkState::Accepted => RetryVerdict::Replay,
            BulkState::Submitting => RetryVerdict::InProgress,
            BulkState::Aborted => RetryVerdict::Retake { abort_first: false },
        },
        // The bulk outlived its retention: the key is as good as new.
        None => RetryVerdict::Retake { abort_first: false },
    }
}

pub(super) fn bulk_pk(id: Uuid) -> String {
    format!("BULK#{id}")
}

pub(super) const BULK_SK: &str = "BULK";

pub(super) fn bulk_key(id: Uuid) -> Item {
    key(bulk_pk(id), BULK_SK)
}

impl From<&Bulk> for Item {
    fn from(bulk: &Bulk) -> Self {
        let mut item = bulk_key(bulk.id);
        item.insert("bulk_id".into(), s(bulk.id.to_string()));
        item.insert("account_id".into(), s(bulk.account_id.to_string()));
        item.insert("webhook_url".into(), s(bulk.webhook_url.as_str()));
        item.insert("total".into(), n(bulk.total));
        item.insert("state".into(), s(bulk.state.as_str()));
        item.insert("created_at".into(), s(clock::rfc3339(bulk.created_at)));
        item.insert(EXPIRES_AT.into(), n(bulk.expires_at));
        if let Funding::Reserved(credits) = bulk.funding {
            item.insert(RESERVED.into(), n(credits));
        }
        if let Some(completion) = &bulk.completion {
            item.insert(COMPLETION_ID.into(), s(completion.update_id.to_string()));
            item.insert(
                COMPLETED_AT.into(),
                s(clock::rfc3339(completion.completed_at)),
            );
        }
        item
    }
}

pub(super) const COMPLETION_ID: &str = "completion_id";
pub(super) const COMPLETED_AT: &str = "completed_at";
/// Credits taken when the bulk was accepted; absent on a metered bulk.
pub(super) const RESERVED: &str = "reserved";

impl TryFrom<&Item> for Bulk {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        Ok(Self {
            id: fields.parsed("bulk_id")?,
            account_id: fields.parsed("account_id")?,
            webhook_url: fields.webhook_url("webhook_url")?,
            total: fields.number("total")?,
            state: fields.parsed("state")?,
            created_at: fields.parsed("created_at")?,
            expires_at: fields.number(EXPIRES_AT)?,
            completion: match item.get(COMPLETION_ID) {
                None => None,
                Some(_) => Some(Completion {
                    update_id: fields.parsed(COMPLETION_ID)?,
                    completed_at: fields.parsed(COMPLETED_AT)?,
                }),
            },
            funding: fields
                .optional_number(RESERVED)?
                .map_or(Funding::Metered, Funding::Reserved),
        })
    }
}

/// What [`Store::begin_bulk`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The bulk is stored as `submitting` (and the idempotency key, if any, points at it).
    Started,
    /// The idempotency key is held by another request: here is its claim.
    ClaimHeld(Claim),
}

impl Store {
    /// Stores a new bulk as `submitting`; with an idempotency key, claims the key for it in the
    /// same transaction, so a key never points at a bulk that does not exist.
    pub async fn begin_bulk(&self, bulk: &Bulk, claim: Option<&ClaimRequest>) -> Result<Begun> {
        let Some(claim) = claim else {
            self.client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(Item::from(bulk)))
                .condition_expression(NEW_RECORD)
                .send()
                .await
                .map_err(Error::dynamo)?;
            return Ok(Begun::Started);
        };
        let bulk_put = Put::builder()
            .table_name(self.table())
            .set_item(Some(Item::from(bulk)))
            .condition_expression(NEW_RECORD)
            .build()
            .map_err(Error::dynamo)?;
        let claim_put = claim
            .put(self.table(), bulk.id, bulk.created_at)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(Error::dynamo)?;
        let result = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim_put).build())
            .transact_items(TransactWriteItem::builder().put(bulk_put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Begun::Started),
            Err(error) => match super::idempotency::held_claim(&error) {
                Some(held) => held.map(Begun::ClaimHeld),
                None => Err(Error::dynamo(error)),
            },
        }
    }

    /// `submitting` → `aborted`. Returns false when the bulk was no longer `submitting`.
    pub async fn abort_bulk(&self, id: Uuid) -> Result<bool> {
        self.move_bulk(id, BulkState::Submitting, BulkState::Aborted)
            .await
    }

    pub(super) async fn move_bulk(&self, id: Uuid, from: BulkState, to: BulkState) -> Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(bulk_key(id)))
            .update_expression("SET #state = :to")
            .condition_expression("#state = :from")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }

    /// [`Self::move_bulk`]'s update, for a transaction.
    pub(super) fn move_update(&self, id: Uuid, from: BulkState, to: BulkState) -> UpdateBuilder {
        Update::builder()
            .table_name(self.table())
            .set_key(Some(bulk_key(id)))
            .condition_expression("#state = :from")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
    }

    /// The bulk as it is now (a strongly consistent read).
    pub async fn get_bulk(&self, id: Uuid) -> Result<Option<Bulk>> {
        let item = self.get(bulk_key(id), Read::Strong).await?;
        item.as_ref().map(Bulk::try_from).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(state: BulkState, created_at: DateTime<Utc>) -> Bulk {
        Bulk {
            id: Uuid::new_v4(),
            account_id: Uuid::new_v4(),
            webhook_url: WebhookUrl::from_stored("https://a.io").unwrap(),
            total: 1,
            state,
            created_at,
            expires_at: 0,
            completion: None,
            funding: Funding::Metered,
        }
    }

    #[test]
    fn verdicts_follow_the_first_bulks_state() {
        let now = Utc::now();
        let long_ago = now - ABANDONED_AFTER - chrono::Duration::seconds(1);
        let judged = |state, at| judge_retry(Some(&bulk(state, at)), now);
        assert_eq!(judged(BulkState::Accepted, now), RetryVerdict::Replay);
        assert_eq!(judged(BulkState::Accepted, long_ago), RetryVerdict::Replay);
        assert_eq!(judged(BulkState::Submitting, now), RetryVerdict::InProgress);
        assert_eq!(
            judged(BulkState::Submitting, long_ago),
            RetryVerdict::Retake { abort_first: true }
        );
        assert_eq!(
            judged(BulkState::Aborted, now),
            RetryVerdict::Retake { abort_first: false }
        );
        assert_eq!(
            judge_retry(None, now),
            RetryVerdict::Retake { abort_first: false }
        );
    }
}
