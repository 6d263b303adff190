//! The items of a batch: their outcomes, their tallies, and their bulk's completion.
//!
//! Outcomes are decided for the whole batch at once, so that the radars of one account are
//! created (and charged) in one transaction rather than one each; everything after that is per
//! item. Failures are classified here. A 400, 402 or 409 is an outcome, recorded once.
//! Anything else (DynamoDB errors, throttling, transactions that keep meeting others) is
//! transient: the message is retried by SQS, and on its last delivery the item is recorded as a
//! 500 instead, so that its bulk still completes.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures::{StreamExt, future::join_all, stream};
use serde_json::Value;
use shared::{
    clock,
    error::Chain,
    queue::{ItemMessage, WebhookMessage},
    radar::{Identity, Radar},
    store::{
        bulks::{Bulk, Completion},
        items::{Marked, Outcome},
        radars::{Creation, MAX_BATCH, NewRadar},
    },
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    CONCURRENCY, Deps, Record,
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
struct Open<'a> {
    /// Its place in the batch.
    slot: usize,
    record: &'a Record,
    bulk: &'a Bulk,
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
    let decisions = decide_all(deps, &open, dead_letters, now).await;
    let settled: Vec<(usize, Verdict)> = stream::iter(open.iter().zip(decisions))
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
            let custom_fields = events::custom_fields(&item_json(message));
            let exhausted = async {
                match refuse(deps, message, custom_fields, &Refusal::Exhausted, now).await? {
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

/// A valid item, ready for the creating transaction.
struct Prepared {
    at: usize,
    radar_id: Uuid,
    identity: Identity,
    cost: i64,
    data: String,
    outcome: Outcome,
    custom_fields: Value,
}

/// Decides every open item: created, refused (400, 402, 409, or 500 for dead letters), found
/// decided by an earlier delivery, or gone (`None`). In the order of `open`.
async fn decide_all(
    deps: &Deps,
    open: &[Open<'_>],
    dead_letters: bool,
    now: DateTime<Utc>,
) -> Vec<Result<Option<Outcome>, Failure>> {
    let mut decisions: Vec<Option<Result<Option<Outcome>, Failure>>> =
        open.iter().map(|_| None).collect();
    let mut refusals: Vec<(usize, Value, Refusal)> = Vec::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    for (at, item) in open.iter().enumerate() {
        let message = &item.record.message;
        let json = item_json(message);
        let custom_fields = events::custom_fields(&json);
        if dead_letters {
            refusals.push((at, custom_fields, Refusal::Exhausted));
            continue;
        }
        match Radar::parse(&json) {
            Err(errors) => refusals.push((at, custom_fields, Refusal::Invalid(errors))),
            Ok(radar) => match prepare(at, message, &radar, custom_fields, now) {
                Ok(ready) => prepared.push(ready),
                Err(error) => decisions[at] = Some(Err(error.into())),
            },
        }
    }

    for (at, creation) in create_all(deps, open, &prepared).await {
        let ready = prepared.iter().find(|ready| ready.at == at);
        decisions[at] = match (creation, ready) {
            (Ok(Creation::Created), Some(ready)) => Some(Ok(Some(ready.outcome.clone()))),
            (Ok(Creation::AlreadyDecided(earlier)), _) => Some(Ok(Some(earlier))),
            (Ok(Creation::ItemMissing), _) => Some(Ok(None)),
            (Ok(Creation::Conflict { radar_id }), Some(ready)) => {
                let field = ready.identity.field;
                refusals.push((
                    at,
                    ready.custom_fields.clone(),
                    Refusal::Conflict { field, radar_id },
                ));
                None
            }
            (Ok(Creation::InsufficientCredits), Some(ready)) => {
                let cost = ready.cost;
                refusals.push((
                    at,
                    ready.custom_fields.clone(),
                    Refusal::InsufficientCredits { cost },
                ));
                None
            }
            (Ok(_), None) | (Ok(Creation::Contended), _) => Some(Err(Failure::Contended)),
            (Err(failure), _) => Some(Err(failure)),
        };
    }

    let refused = join_all(
        refusals
            .into_iter()
            .map(|(at, custom_fields, refusal)| async move {
                let message = &open[at].record.message;
                (
                    at,
                    refuse(deps, message, custom_fields, &refusal, now).await,
                )
            }),
    )
    .await;
    for (at, decision) in refused {
        decisions[at] = Some(decision);
    }
    decisions
        .into_iter()
        .map(|decision| decision.unwrap_or(Err(Failure::Contended)))
        .collect()
}

/// Runs the creating transactions: one per account (normally the batch holds one bulk, so one
/// account), in chunks of what one transaction can hold.
async fn create_all(
    deps: &Deps,
    open: &[Open<'_>],
    prepared: &[Prepared],
) -> Vec<(usize, Result<Creation, Failure>)> {
    if let Err(injected) = deps.faults.check(Step::Creating) {
        return prepared
            .iter()
            .map(|ready| (ready.at, Err(injected.into())))
            .collect();
    }
    let mut by_account: BTreeMap<Uuid, Vec<&Prepared>> = BTreeMap::new();
    for ready in prepared {
        let account = open[ready.at].record.message.account_id;
        by_account.entry(account).or_default().push(ready);
    }
    let chunks = by_account.into_iter().flat_map(|(account, ready)| {
        ready
            .chunks(MAX_BATCH)
            .map(|chunk| (account, chunk.to_vec()))
            .collect::<Vec<_>>()
    });
    let created = join_all(chunks.map(|(account, chunk)| async move {
        let radars: Vec<NewRadar> = chunk
            .iter()
            .map(|ready| {
                let message = &open[ready.at].record.message;
                NewRadar {
                    radar_id: ready.radar_id,
                    identity: &ready.identity,
                    cost: ready.cost,
                    data: &ready.data,
                    bulk_id: message.bulk_id,
                    item_index: message.item_index,
                    outcome: &ready.outcome,
                }
            })
            .collect();
        let result = deps.store.create_radars(account, &radars).await;
        match result {
            Ok(creations) => chunk
                .iter()
                .zip(creations)
                .map(|(ready, creation)| (ready.at, Ok(creation)))
                .collect::<Vec<_>>(),
            Err(error) => {
                tracing::warn!(%account, error = %Chain(&error), "creating transaction failed");
                let error = Arc::new(error);
                chunk
                    .iter()
                    .map(|ready| (ready.at, Err(Failure::Batch(Arc::clone(&error)))))
                    .collect()
            }
        }
    }))
    .await;
    created.into_iter().flatten().collect()
}

/// Everything the creating transaction needs for one valid item: a new radar id, its data and
/// its `radar_created`, fixed now so that the transaction stores exactly what is delivered.
fn prepare(
    at: usize,
    message: &ItemMessage,
    radar: &Radar,
    custom_fields: Value,
    now: DateTime<Utc>,
) -> shared::Result<Prepared> {
    let radar_id = Uuid::new_v4();
    let data = radar.data(radar_id, clock::rfc3339(now), custom_fields.clone());
    let data_text =
        serde_json::to_string(&data).map_err(|e| shared::Error::Serialize("radar data", e))?;
    Ok(Prepared {
        at,
        radar_id,
        identity: radar.identity(),
        cost: radar.cost(),
        data: data_text,
        outcome: events::created(message, custom_fields.clone(), data, now)?,
        custom_fields,
    })
}

/// The queued item as JSON. Submit queued it as a JSON object; anything else is refused like
/// any invalid item.
fn item_json(message: &ItemMessage) -> Value {
    serde_json::from_str(message.radar.get()).unwrap_or(Value::Null)
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
