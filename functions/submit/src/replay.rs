//! Requests whose `Idempotency-Key` is already claimed: replay, wait, or take the key over.

use chrono::{DateTime, Utc};
use shared::{
    Error, Result,
    api::SubmitAccepted,
    credentials,
    store::{
        Store,
        bulks::{Begun, Bulk, RetryVerdict, judge_retry},
        idempotency::{Claim, ClaimRequest},
    },
};
use uuid::Uuid;

/// How many times a request may find its key taken over under it before it gives up with a
/// 409: each round is one conditional write that another request won.
const CLAIM_ROUNDS: usize = 3;

/// Answers a retry of an accepted submission before it spends a rate-limit token; otherwise
/// notes in `claim` which failed attempt, if any, the new bulk takes the key over from.
pub(crate) async fn look_up(
    store: &Store,
    claim: &mut ClaimRequest,
    now: DateTime<Utc>,
) -> Result<Option<SubmitAccepted>> {
    let Some(held) = store
        .find_claim(claim.account_id, &claim.key_digest, now)
        .await?
    else {
        return Ok(None);
    };
    match settle(store, &held, &claim.fingerprint, now).await? {
        Settled::Replay(first) => Ok(Some(first)),
        Settled::Retake(previous) => {
            claim.replacing = Some(previous);
            Ok(None)
        }
    }
}

/// Stores `bulk` as `submitting`, claiming the idempotency key for it if there is one.
/// `Some(202)` when the key turns out to belong to an accepted submission with the same body.
pub(crate) async fn begin(
    store: &Store,
    bulk: &Bulk,
    claim: Option<ClaimRequest>,
    now: DateTime<Utc>,
) -> Result<Option<SubmitAccepted>> {
    let Some(mut claim) = claim else {
        store.begin_bulk(bulk, None).await?;
        return Ok(None);
    };
    for _ in 0..CLAIM_ROUNDS {
        let Begun::ClaimHeld(held) = store.begin_bulk(bulk, Some(&claim)).await? else {
            return Ok(None);
        };
        match settle(store, &held, &claim.fingerprint, now).await? {
            Settled::Replay(first) => return Ok(Some(first)),
            Settled::Retake(previous) => claim.replacing = Some(previous),
        }
    }
    Err(Error::IdempotencyKeyInUse)
}

enum Settled {
    /// The first request's 202.
    Replay(SubmitAccepted),
    /// The first request never took effect: claim the key anew, replacing this bulk.
    Retake(Uuid),
}

/// Decides what a request with the same key as `held` gets.
async fn settle(
    store: &Store,
    held: &Claim,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Settled> {
    // A digest like any other: compared in constant time, as every digest in the code is.
    if !credentials::constant_time_eq(held.fingerprint.as_bytes(), fingerprint.as_bytes()) {
        return Err(Error::IdempotencyKeyReused);
    }
    let bulk = store.get_bulk(held.bulk_id).await?;
    match judge_retry(bulk.as_ref(), now) {
        RetryVerdict::Replay => {
            let bulk = bulk.ok_or(Error::IdempotencyKeyInUse)?;
            let total = usize::try_from(bulk.total).unwrap_or(usize::MAX);
            Ok(Settled::Replay(SubmitAccepted::new(
                bulk.id,
                total,
                bulk.created_at,
            )))
        }
        RetryVerdict::InProgress => Err(Error::IdempotencyKeyInUse),
        RetryVerdict::Retake { abort_first } => {
            // If the abandoned bulk cannot be aborted it moved on after all: let the client
            // retry, and it will get a replay.
            if abort_first && !store.abort_bulk(held.bulk_id).await? {
                return Err(Error::IdempotencyKeyInUse);
            }
            Ok(Settled::Retake(held.bulk_id))
        }
    }
}
