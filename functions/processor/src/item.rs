//! The items of a batch: their verdicts, their tallies, and their bulk's completion.
//!
//! Outcomes are decided for the whole batch at once ([`decide`]), failures are handled per
//! item, and the decided items of each bulk are tallied together. Failures are classified here.
//! A 400, 402 or 409 is an outcome, recorded once. Anything else (DynamoDB errors, throttling,
//! transactions that keep meeting others) is transient: the message is retried by SQS, and on
//! its last delivery the item is recorded as a 500 instead, so that its bulk still completes.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures::{StreamExt, future::join_all, stream};
use shared::{
    clock,
    error::Chain,
    queue::WebhookMessage,
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
    let concluding: Vec<_> = open
        .iter()
        .zip(decisions)
        .map(|(item, decision)| {
            let span = item_span(item);
            async move {
                let last_try =
                    dead_letters || item.record.receive_count >= deps.config.item_max_receive_count;
                (item, conclude(deps, item, decision, last_try, now).await)
            }
            .instrument(span)
        })
        .collect();
    let concluded: Vec<(&Open, Concluded)> = stream::iter(concluding)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut decided: BTreeMap<Uuid, Vec<(&Open, Outcome)>> = BTreeMap::new();
    for (item, concluded) in concluded {
        match concluded {
            Concluded::Decided(outcome) => decided
                .entry(item.bulk.id)
                .or_default()
                .push((item, outcome)),
            Concluded::Retry => verdicts[item.slot] = Some(Verdict::Retry),
        }
    }
    let settling = decided.into_values().map(|items| settle(deps, items, now));
    for (slot, verdict) in join_all(settling).await.into_iter().flatten() {
        verdicts[slot] = Some(verdict);
    }
    verdicts
        .into_iter()
        .map(|verdict| verdict.unwrap_or(Verdict::Retry))
        .collect()
}

fn item_span(item: &Open<'_>) -> tracing::Span {
    let message = &item.record.message;
    tracing::info_span!(
        "item",
        message_id = %item.record.message_id,
        bulk_id = %message.bulk_id,
        item_index = message.item_index,
        account_id = %message.account_id,
    )
}

/// Where an item stands once its decision is made, or its failure handled.
enum Concluded {
    /// Its outcome is stored: tally it, then hand its event on.
    Decided(Outcome),
    /// Transient failure: SQS redelivers it.
    Retry,
}

/// Handles a decided item's failure: transient, or on its last try recorded as a 500.
async fn conclude(
    deps: &Deps,
    item: &Open<'_>,
    decision: Result<Outcome, Failure>,
    last_try: bool,
    now: DateTime<Utc>,
) -> Concluded {
    let message = &item.record.message;
    let decision = decision.and_then(|outcome| {
        deps.faults.check(Step::Decided)?;
        Ok(outcome)
    });
    match decision {
        Ok(outcome) => {
            tracing::info!(update_id = %outcome.update_id, state = ?outcome.state, "item decided");
            Concluded::Decided(outcome)
        }
        Err(failure) if last_try => {
            tracing::error!(error = %Chain(&failure), "last delivery failed; recording a 500");
            let custom_fields = events::custom_fields(&decide::item_json(message));
            let refusal = Refusal::Exhausted {
                dead_lettered: false,
            };
            match decide::refuse(deps, item.bulk, message, custom_fields, &refusal, now).await {
                Ok(outcome) => Concluded::Decided(outcome),
                Err(failure) => {
                    tracing::error!(error = %Chain(&failure), "could not record the 500 either");
                    Concluded::Retry
                }
            }
        }
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "transient failure; SQS will redeliver it");
            Concluded::Retry
        }
    }
}

/// After the outcomes of a bulk's items in the batch are stored: tally them at once, complete
/// the bulk if they were its last, and name the events each hands on. The verdicts are by
/// slot. The `bulk_completed` goes with the last of them: if fixing the completion fails, only
/// that item is retried, and its redelivery finds the bulk complete and fixes it.
async fn settle(
    deps: &Deps,
    items: Vec<(&Open<'_>, Outcome)>,
    now: DateTime<Utc>,
) -> Vec<(usize, Verdict)> {
    let Some(&(last, _)) = items.last() else {
        return Vec::new();
    };
    let bulk = last.bulk;
    let indexes: Vec<u32> = items
        .iter()
        .map(|(item, _)| item.record.message.item_index)
        .collect();
    let tallied = async {
        let complete = deps.store.tally_items(bulk, &indexes).await?;
        deps.faults.check(Step::Tallied)?;
        Ok::<_, Failure>(complete)
    };
    let complete = match tallied
        .instrument(tracing::info_span!("tally", bulk_id = %bulk.id))
        .await
    {
        Ok(complete) => complete,
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "could not tally; SQS will redeliver the items");
            return items
                .iter()
                .map(|(item, _)| (item.slot, Verdict::Retry))
                .collect();
        }
    };
    let completion = if complete {
        Some(complete_bulk(deps, bulk, now).await)
    } else {
        None
    };
    items
        .into_iter()
        .map(|(item, outcome)| {
            let mut events = vec![WebhookMessage::Item {
                bulk_id: bulk.id,
                item_index: item.record.message.item_index,
                update_id: outcome.update_id,
            }];
            match &completion {
                Some(Ok(event)) if item.slot == last.slot => events.push(*event),
                Some(Err(_)) if item.slot == last.slot => return (item.slot, Verdict::Retry),
                _ => {}
            }
            (item.slot, Verdict::Done(events))
        })
        .collect()
}

/// Fixes a complete bulk's completion: its `bulk_completed` event.
async fn complete_bulk(
    deps: &Deps,
    bulk: &Bulk,
    now: DateTime<Utc>,
) -> Result<WebhookMessage, Failure> {
    let proposed = Completion {
        update_id: Uuid::new_v4(),
        completed_at: clock::rfc3339(now),
    };
    let fixed = async {
        let completion = deps.store.complete_bulk(bulk.id, &proposed).await?;
        tracing::info!(completion_id = %completion.update_id, "bulk complete");
        deps.faults.check(Step::Completed)?;
        Ok::<_, Failure>(completion)
    };
    match fixed.await {
        Ok(completion) => Ok(WebhookMessage::BulkCompleted {
            bulk_id: bulk.id,
            update_id: completion.update_id,
        }),
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "could not fix the completion; retrying its last item");
            Err(failure)
        }
    }
}
