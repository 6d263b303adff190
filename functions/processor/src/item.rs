//! The items of a batch: their verdicts, their tallies, and their bulk's completion.
//!
//! Outcomes are decided for the whole batch at once ([`decide`]); everything after that is
//! per item. Failures are classified here. A 400, 402 or 409 is an outcome, recorded once.
//! Anything else (DynamoDB errors, throttling, transactions that keep meeting others) is
//! transient: the message is retried by SQS, and on its last delivery the item is recorded as a
//! 500 instead, so that its bulk still completes.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use shared::{
    clock,
    error::Chain,
    queue::{ItemMessage, WebhookMessage},
    store::{
        bulks::{Bulk, Completion},
        items::Outcome,
    },
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    CONCURRENCY, Deps, Record, decide,
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
    /// The creating transaction of the item's batch failed.
    #[error(transparent)]
    Batch(Arc<shared::Error>),
    #[error("the creating transaction kept meeting concurrent ones")]
    Contended,
    #[error(transparent)]
    Injected(#[from] Injected),
}

/// An item whose bulk is open, with that bulk.
pub(crate) struct Open<'a> {
    /// Its place in the batch.
    pub(crate) slot: usize,
    pub(crate) record: &'a Record,
    pub(crate) bulk: &'a Bulk,
}

/// Handles every item of a batch; the verdicts are in the order of `records`.
pub(crate) async fn handle_all(
    deps: &Deps,
    records: &[Record],
    gates: &BTreeMap<Uuid, Gate>,
    dead_letters: bool,
    now: DateTime<Utc>,
) -> Vec<Verdict> {
    let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(records.len());
    let mut open = Vec::new();
    for (slot, record) in records.iter().enumerate() {
        verdicts.push(match &gates[&record.message.bulk_id] {
            Gate::Open(bulk) => {
                open.push(Open { slot, record, bulk });
                None
            }
            Gate::Closed(why) => {
                tracing::info!(message_id = %record.message_id, why, "dropping an item");
                Some(Verdict::Dropped)
            }
            // A dead letter's bulk was accepted long ago, or it is not there at all.
            Gate::NotYet if !dead_letters => Some(Verdict::Defer),
            Gate::NotYet | Gate::Unknown => Some(Verdict::Retry),
        });
    }
    let decisions = decide::decide_all(deps, &open, dead_letters, now).await;
    // The futures are made before they are streamed: a stream holding the closure would not be
    // provably `Send`, and callers that spawn the batch (the local bridge) need it to be.
    let settling: Vec<_> = open
        .iter()
        .zip(decisions)
        .map(|(item, decision)| {
            let message = &item.record.message;
            let span = tracing::info_span!(
                "item",
                message_id = %item.record.message_id,
                bulk_id = %message.bulk_id,
                item_index = message.item_index,
                account_id = %message.account_id,
            );
            async move {
                let last_try =
                    dead_letters || item.record.receive_count >= deps.config.item_max_receive_count;
                let verdict = conclude(deps, item, decision, last_try, now).await;
                (item.slot, verdict)
            }
            .instrument(span)
        })
        .collect();
    let settled: Vec<(usize, Verdict)> = stream::iter(settling)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (slot, verdict) in settled {
        verdicts[slot] = Some(verdict);
    }
    verdicts
        .into_iter()
        .map(|verdict| verdict.unwrap_or(Verdict::Retry))
        .collect()
}

/// Settles a decided item, or handles its failure.
async fn conclude(
    deps: &Deps,
    item: &Open<'_>,
    decision: Result<Option<Outcome>, Failure>,
    last_try: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let message = &item.record.message;
    let settled = match decision {
        Ok(Some(outcome)) => settle(deps, message, item.bulk, &outcome, now)
            .await
            .map(Some),
        Ok(None) => Ok(None),
        Err(failure) => Err(failure),
    };
    match settled {
        Ok(Some(events)) => Verdict::Done(events),
        Ok(None) => {
            tracing::warn!("the item is gone; nothing to record");
            Verdict::Dropped
        }
        Err(failure) if last_try => {
            tracing::error!(error = %Chain(&failure), "last delivery failed; recording a 500");
            let custom_fields = events::custom_fields(&decide::item_json(message));
            let exhausted = async {
                let refusal = Refusal::Exhausted {
                    dead_lettered: false,
                };
                match decide::refuse(deps, message, custom_fields, &refusal, now).await? {
                    Some(outcome) => settle(deps, message, item.bulk, &outcome, now)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            };
            match exhausted.await {
                Ok(Some(events)) => Verdict::Done(events),
                Ok(None) => Verdict::Dropped,
                Err(failure) => {
                    tracing::error!(error = %Chain(&failure), "could not record the 500 either");
                    Verdict::Retry
                }
            }
        }
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "transient failure; SQS will redeliver it");
            Verdict::Retry
        }
    }
}

/// After an item's outcome is stored: tally it, complete its bulk if it was the last, and name
/// the events to hand on.
async fn settle(
    deps: &Deps,
    message: &ItemMessage,
    bulk: &Bulk,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookMessage>, Failure> {
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
    Ok(events)
}
