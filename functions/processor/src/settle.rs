//! Step 5: every item brought to a stored outcome, tallied towards its bulk, and the bulk
//! completed if they were its last.
//!
//! Failures are classified here. A refusal (400, 402, 409) is an outcome, recorded once.
//! Anything else (DynamoDB errors, throttling, transactions that keep meeting others) is
//! transient: the message is retried by SQS, and on its last delivery the item is recorded as a
//! 500 instead, so that its bulk still completes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, future::join_all, stream};
use serde_json::Value;
use shared::{
    api::Refusal,
    error::Chain,
    queue::WebhookMessage,
    radar::Radar,
    store::{
        bulks::{Bulk, Completion, Funding},
        completion::Tallied,
        credits,
        items::{ItemState, Marked, Outcome},
    },
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    CONCURRENCY, Deps, Record, Verdict, create::Tried, decide::Item, events, failure::Failure,
    faults::Step, metrics,
};

/// How long after its bulk's submission an item the balance cannot cover may wait for the
/// refunds of the account's other bulks, before it takes its 402. A prepaid bulk settles when
/// its last item is decided, within minutes even when its items meet faults and retries; the
/// bound keeps an account whose reserve never comes back (a bug, a hand edit) from holding its
/// items forever.
const WAIT_FOR_REFUNDS: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Settles every item the creating step tried: each one's verdict.
pub(crate) async fn settle_all(
    deps: &Deps,
    tried: Vec<(Item, Tried)>,
    dead_letters: bool,
    now: DateTime<Utc>,
) -> Vec<(Record, Verdict)> {
    // The futures are made before they are streamed: a stream holding the closure would not be
    // provably `Send`, and callers that spawn the batch (the local bridge) need it to be.
    let concluding: Vec<_> = tried
        .into_iter()
        .map(|(item, tried)| {
            let span = item_span(&item);
            async move {
                let last_try =
                    dead_letters || item.record.receive_count >= deps.config.item_max_receive_count;
                let outcome = conclude(deps, &item, tried, last_try, now).await;
                (item, outcome)
            }
            .instrument(span)
        })
        .collect();
    let concluded: Vec<(Item, Result<Outcome, Verdict>)> = stream::iter(concluding)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut verdicts = Vec::new();
    let mut decided: BTreeMap<Uuid, Vec<(Item, Outcome)>> = BTreeMap::new();
    for (item, outcome) in concluded {
        match outcome {
            Ok(outcome) => decided
                .entry(item.bulk.id)
                .or_default()
                .push((item, outcome)),
            Err(verdict) => verdicts.push((item.record, verdict)),
        }
    }
    let tallying = decided.into_values().map(|items| tally(deps, items, now));
    verdicts.extend(join_all(tallying).await.into_iter().flatten());
    verdicts
}

fn item_span(item: &Item) -> tracing::Span {
    let message = &item.record.body;
    tracing::info_span!(
        "item",
        message_id = %item.record.message_id,
        bulk_id = %message.bulk_id,
        item_index = message.item_index,
        account_id = %message.account_id,
    )
}

/// The item's stored outcome, or how SQS must deliver it again.
async fn conclude(
    deps: &Deps,
    item: &Item,
    tried: Tried,
    last_try: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, Verdict> {
    let stored = match tried {
        Tried::Stored(outcome) => Ok(outcome),
        Tried::Refused(refusal) => record(deps, item, &refusal, now).await,
        Tried::Short(refusal) if last_try || now - item.bulk.created_at >= WAIT_FOR_REFUNDS => {
            record(deps, item, &refusal, now).await
        }
        Tried::Short(_) => {
            tracing::info!(
                "the balance is short while the account's bulks hold credits; waiting for their refunds"
            );
            return Err(Verdict::Await);
        }
        Tried::Failed(failure) => Err(failure),
    };
    let stored = stored.and_then(|outcome| {
        deps.faults.check(Step::Decided)?;
        Ok(outcome)
    });
    match stored {
        Ok(outcome) => {
            tracing::info!(update_id = %outcome.update_id, state = ?outcome.state, "item decided");
            Ok(outcome)
        }
        Err(failure) if last_try => {
            tracing::error!(error = %Chain(&failure), "last delivery failed; recording a 500");
            let refusal = Refusal::Exhausted {
                dead_lettered: false,
            };
            record(deps, item, &refusal, now).await.map_err(|failure| {
                tracing::error!(error = %Chain(&failure), "could not record the 500 either");
                Verdict::Retry
            })
        }
        Err(Failure::Contended) => {
            tracing::warn!(
                "the creating transaction kept meeting others; SQS will redeliver it soon"
            );
            Err(Verdict::Contended)
        }
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "transient failure; SQS will redeliver it");
            Err(Verdict::Retry)
        }
    }
}

/// Records a failure outcome, unless the item was decided meanwhile: the item's outcome.
async fn record(
    deps: &Deps,
    item: &Item,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Result<Outcome, Failure> {
    let message = &item.record.body;
    let outcome = events::failed(message, item.custom_fields.clone(), refusal, now)?;
    let marked = deps
        .store
        .mark_item_terminal(&item.bulk, message.item_index, &outcome)
        .await?;
    let outcome = match marked {
        Marked::Now => {
            metrics::failed(refusal);
            outcome
        }
        Marked::Already(earlier) => earlier,
    };
    if matches!(refusal, Refusal::Exhausted { .. }) && outcome.state == ItemState::Failed {
        drop_orphan(deps, item).await?;
    }
    Ok(outcome)
}

/// A prepaid item creates its radar before its outcome, so an item that ends in a 500 may
/// have left its radar behind (a delivery stopped between the two writes, and none came
/// after). Whoever records the 500 deletes it; if that fails, the item's dead letter does.
async fn drop_orphan(deps: &Deps, item: &Item) -> Result<(), Failure> {
    if !matches!(item.bulk.funding, Funding::Reserved(_)) {
        return Ok(());
    }
    let json = serde_json::from_str(item.record.body.radar.get()).unwrap_or(Value::Null);
    let Ok(radar) = Radar::parse(&json) else {
        return Ok(());
    };
    let message = &item.record.body;
    if deps
        .store
        .drop_radar(
            message.account_id,
            &radar.identity(),
            message.bulk_id,
            message.item_index,
            None,
        )
        .await?
    {
        tracing::warn!("deleted the radar of an item that ended in a 500");
    }
    Ok(())
}

/// Tallies the decided items of one bulk at once, completes the bulk if they were its last,
/// and names the events each hands on. The `bulk_completed` goes with the last of them: if
/// fixing the completion fails, only that item is retried, and its redelivery finds the bulk
/// complete and fixes it.
async fn tally(
    deps: &Deps,
    items: Vec<(Item, Outcome)>,
    now: DateTime<Utc>,
) -> Vec<(Record, Verdict)> {
    let Some((last, _)) = items.last() else {
        return Vec::new();
    };
    let bulk = std::sync::Arc::clone(&last.bulk);
    let counted: Vec<Tallied> = items
        .iter()
        .map(|(item, outcome)| Tallied {
            index: item.record.body.item_index,
            cost: credits::cost_of(outcome),
        })
        .collect();
    let tallied = async {
        let complete = deps.store.tally_items(&bulk, &counted).await?;
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
                .into_iter()
                .map(|(item, _)| (item.record, Verdict::Retry))
                .collect();
        }
    };
    let mut completion = if complete {
        Some(complete_bulk(deps, &bulk, now).await)
    } else {
        None
    };
    let count = items.len();
    items
        .into_iter()
        .enumerate()
        .map(|(at, (item, outcome))| {
            let mut events = vec![WebhookMessage::Item {
                bulk_id: bulk.id,
                item_index: item.record.body.item_index,
                update_id: outcome.update_id,
            }];
            if at + 1 == count {
                match completion.take() {
                    Some(Ok(event)) => events.push(event),
                    Some(Err(_)) => return (item.record, Verdict::Retry),
                    None => {}
                }
            }
            (item.record, Verdict::Done(events))
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
        completed_at: now,
    };
    let fixed = async {
        let completion = deps.store.complete_bulk(bulk.id, &proposed).await?;
        tracing::info!(completion_id = %completion.update_id, "bulk complete");
        deps.store
            .settle_bulk(bulk, completion.completed_at)
            .await?;
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
