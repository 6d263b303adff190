//! One item: its outcome, its tally, and its bulk's completion when it is the last.
//!
//! Failures are classified here. A 400, 402 or 409 is an outcome, recorded once. Anything
//! else (DynamoDB throttling or errors, a transaction that keeps meeting others) is transient:
//! the message is retried by SQS, and on its last delivery the item is recorded as a 500
//! instead, so that its bulk still completes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::{
    clock,
    error::Chain,
    queue::{ItemMessage, WebhookMessage},
    radar::Radar,
    store::{
        bulks::{Bulk, Completion},
        items::{Marked, Outcome},
        radars::{Creation, NewRadar},
    },
};
use uuid::Uuid;

use crate::{
    Deps, Record,
    events::{self, Refusal},
    faults::{Injected, Step},
    gate::Gate,
};

/// What to do with a message once its item has been handled.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The item is terminal: hand these events on, then acknowledge.
    Done(Vec<WebhookMessage>),
    /// Nothing to do, ever (its bulk was aborted or is gone): acknowledge.
    Dropped,
    /// Its bulk is still being submitted: send it back to the queue for a later try.
    Defer,
    /// Transient failure: SQS redelivers it.
    Retry,
}

/// A transient failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Store(#[from] shared::Error),
    #[error("the creating transaction kept meeting concurrent ones")]
    Contended,
    #[error(transparent)]
    Injected(#[from] Injected),
}

/// Tries at the creating transaction when it meets a concurrent one on the same records
/// (usually the account), each after a short random pause.
const CONTENDED_TRIES: u32 = 4;

pub(crate) async fn handle(
    deps: &Deps,
    record: &Record,
    gate: &Gate,
    dead_letter: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let bulk = match gate {
        Gate::Open(bulk) => bulk,
        Gate::Closed(why) => {
            tracing::info!(why, "dropping an item of a bulk that will not be processed");
            return Verdict::Dropped;
        }
        // A dead letter's bulk was accepted long ago, or it is not there at all.
        Gate::NotYet if !dead_letter => return Verdict::Defer,
        Gate::NotYet | Gate::Unknown => return Verdict::Retry,
    };
    let last_try = dead_letter || record.receive_count >= deps.config.item_max_receive_count;
    let decided = if dead_letter {
        finish(deps, &record.message, bulk, Decision::Exhausted, now).await
    } else {
        finish(deps, &record.message, bulk, Decision::OnMerit, now).await
    };
    match decided {
        Ok(Some(events)) => Verdict::Done(events),
        Ok(None) => Verdict::Dropped,
        Err(failure) if last_try => {
            tracing::error!(error = %Chain(&failure), "last delivery failed; recording a 500");
            match finish(deps, &record.message, bulk, Decision::Exhausted, now).await {
                Ok(Some(events)) => Verdict::Done(events),
                Ok(None) => Verdict::Dropped,
                Err(failure) => {
                    tracing::error!(error = %Chain(&failure), "could not record the 500 either");
                    Verdict::Retry
                }
            }
        }
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "transient failure; SQS will redeliver");
            Verdict::Retry
        }
    }
}

/// How to decide an item not yet decided.
#[derive(Debug, Clone, Copy)]
enum Decision {
    /// Validate, then create or refuse.
    OnMerit,
    /// Record a 500: its deliveries are spent.
    Exhausted,
}

/// Decides the item (or finds it decided), tallies it, and completes its bulk if it was the
/// last. `None` when the item no longer exists.
async fn finish(
    deps: &Deps,
    message: &ItemMessage,
    bulk: &Bulk,
    decision: Decision,
    now: DateTime<Utc>,
) -> Result<Option<Vec<WebhookMessage>>, Failure> {
    let Some(outcome) = decide(deps, message, decision, now).await? else {
        tracing::warn!("the item is gone; nothing to record");
        return Ok(None);
    };
    tracing::info!(update_id = %outcome.update_id, state = ?outcome.state, "item decided");
    deps.faults.check(Step::Decided)?;
    let complete = deps.store.tally_item(bulk, message.item_index).await?;
    deps.faults.check(Step::Tallied)?;
    let mut events = vec![WebhookMessage::Item {
        bulk_id: bulk.id,
        item_index: message.item_index,
        update_id: outcome.update_id,
    }];
    if complete {
        let proposed = Completion {
            update_id: Uuid::new_v4(),
            completed_at: clock::rfc3339(now),
        };
        let completion = deps.store.complete_bulk(bulk.id, &proposed).await?;
        tracing::info!(completion_id = %completion.update_id, "bulk complete");
        deps.faults.check(Step::Completed)?;
        events.push(WebhookMessage::BulkCompleted {
            bulk_id: bulk.id,
            update_id: completion.update_id,
        });
    }
    Ok(Some(events))
}

async fn decide(
    deps: &Deps,
    message: &ItemMessage,
    decision: Decision,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, Failure> {
    // Submit queued this text as a JSON object; anything else is refused like any invalid item.
    let item: Value = serde_json::from_str(message.radar.get()).unwrap_or(Value::Null);
    let custom_fields = events::custom_fields(&item);
    let radar = match (decision, Radar::parse(&item)) {
        (Decision::Exhausted, _) => {
            return refuse(deps, message, custom_fields, &Refusal::Exhausted, now).await;
        }
        (Decision::OnMerit, Err(errors)) => {
            return refuse(deps, message, custom_fields, &Refusal::Invalid(errors), now).await;
        }
        (Decision::OnMerit, Ok(radar)) => radar,
    };
    for attempt in 1..=CONTENDED_TRIES {
        let radar_id = Uuid::new_v4();
        let created_at = clock::rfc3339(now);
        let data = radar.data(radar_id, created_at, custom_fields.clone());
        let data_text =
            serde_json::to_string(&data).map_err(|e| shared::Error::Serialize("radar data", e))?;
        let outcome = events::created(message, custom_fields.clone(), data, now)?;
        let identity = radar.identity();
        deps.faults.check(Step::Creating)?;
        let creation = deps
            .store
            .create_radar(&NewRadar {
                account_id: message.account_id,
                radar_id,
                identity: &identity,
                cost: radar.cost(),
                data: &data_text,
                bulk_id: message.bulk_id,
                item_index: message.item_index,
                outcome: &outcome,
            })
            .await?;
        let refusal = match creation {
            Creation::Created => return Ok(Some(outcome)),
            Creation::AlreadyDecided(earlier) => return Ok(Some(earlier)),
            Creation::ItemMissing => return Ok(None),
            Creation::Conflict { radar_id } => Refusal::Conflict {
                field: identity.field,
                radar_id,
            },
            Creation::InsufficientCredits => Refusal::InsufficientCredits { cost: radar.cost() },
            Creation::Contended => {
                tracing::info!(attempt, "creating transaction met a concurrent one");
                if attempt < CONTENDED_TRIES {
                    tokio::time::sleep(jitter(attempt)).await;
                }
                continue;
            }
        };
        return refuse(deps, message, custom_fields, &refusal, now).await;
    }
    Err(Failure::Contended)
}

/// Records a failure outcome, unless the item was decided meanwhile.
async fn refuse(
    deps: &Deps,
    message: &ItemMessage,
    custom_fields: Value,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, Failure> {
    let outcome = events::failed(message, custom_fields, refusal, now)?;
    let marked = deps
        .store
        .mark_item_terminal(message.bulk_id, message.item_index, &outcome)
        .await?;
    Ok(match marked {
        Marked::Now => Some(outcome),
        Marked::Already(earlier) => Some(earlier),
        Marked::Missing => None,
    })
}

/// A pause of 10-40 ms times the attempt, random so that contenders spread out.
fn jitter(attempt: u32) -> Duration {
    let mut byte = [0u8; 1];
    let spread = getrandom::fill(&mut byte).map_or(0, |()| u64::from(byte[0]) * 30 / 255);
    Duration::from_millis((10 + spread) * u64::from(attempt))
}
