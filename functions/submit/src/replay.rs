//! Requests whose `Idempotency-Key` is already claimed: replay, wait, or take the key over.

use chrono::{DateTime, Utc};
use shared::{
    Error, Result,
    api::SubmitAccepted,
    idempotency::{Verdict, judge},
    store::{Store, idempotency::Claim},
};
use uuid::Uuid;

pub(crate) enum Settled {
    /// The first request's 202.
    Replay(SubmitAccepted),
    /// The first request never took effect: claim the key anew, replacing this bulk.
    Retake(Uuid),
}

/// Decides what a request with the same key as `held` gets.
pub(crate) async fn settle(
    store: &Store,
    held: &Claim,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Settled> {
    if held.fingerprint != fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    let bulk = store.get_bulk(held.bulk_id).await?;
    match judge(held, bulk.as_ref(), now) {
        Verdict::Replay => {
            let bulk = bulk.ok_or(Error::IdempotencyKeyInUse)?;
            let total = usize::try_from(bulk.total).unwrap_or(usize::MAX);
            Ok(Settled::Replay(SubmitAccepted::new(
                bulk.id,
                total,
                bulk.created_at,
            )))
        }
        Verdict::InProgress => Err(Error::IdempotencyKeyInUse),
        Verdict::Retake { abort_first } => {
            // If the abandoned bulk cannot be aborted it moved on after all: let the client
            // retry, and it will get a replay.
            if abort_first && !store.abort_bulk(held.bulk_id).await? {
                return Err(Error::IdempotencyKeyInUse);
            }
            Ok(Settled::Retake(held.bulk_id))
        }
    }
}
