//! The per-item processor: each queued item becomes exactly one `radar_created` or
//! `radar_failure`, stored on the item before it is handed to the dispatcher, and the item that
//! completes its bulk hands on the bulk's one `bulk_completed`.
//!
//! A batch goes through four steps:
//! 1. [`gate`]: read each bulk of the batch once. Only `accepted` bulks are worked on; items of
//!    aborted, abandoned or vanished bulks are acknowledged and dropped; items that arrive
//!    before their submission finished are sent back to the queue for a few seconds.
//! 2. [`item`]: decide every item (validate; create the valid ones of each account in one
//!    transaction; record the 400s, 402s and 409s), then tally them towards their bulk, one
//!    update per shard, and if they were its last, fix the bulk's completion.
//! 3. Hand every decided event to the webhook queue in batches.
//! 4. Report the messages that must be retried; SQS redelivers those and only those.
//!
//! Every step can be repeated: a redelivered item finds its outcome already decided and hands
//! on the very same event, so a crash anywhere costs a redelivery, never a second radar.

mod decide;
mod events;
mod faults;
mod gate;
mod item;
mod metrics;

use std::{collections::BTreeMap, convert::Infallible, time::Duration};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use lambda_runtime::LambdaEvent;
use shared::{
    config::Config,
    error::Chain,
    queue::{ItemMessage, Queue, WebhookMessage},
    store::Store,
};
use uuid::Uuid;

pub use faults::{Faults, Step};

use crate::{gate::Gate, item::Verdict};

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    /// The item queue, for items that arrive before their submission finished.
    pub items: Queue,
    /// The dispatcher's queue.
    pub webhooks: Queue,
    pub config: Config,
    pub faults: Faults,
}

/// Items of one batch settled at once.
const CONCURRENCY: usize = 10;
/// How long an item that arrived before its bulk was accepted waits before its next try.
const DEFER: Duration = Duration::from_secs(5);

/// What one batch did: the answer for Lambda, and every event handed to the dispatcher.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    pub handed_off: Vec<WebhookMessage>,
}

/// The Lambda handler: a partial batch response naming the messages to retry.
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Infallible> {
    Ok(process_batch(deps, event.payload, Utc::now())
        .await
        .response)
}

/// One message of the batch, read.
#[derive(Debug)]
pub(crate) struct Record {
    message_id: String,
    /// 1 on the first delivery.
    receive_count: u32,
    message: ItemMessage,
}

/// Handles one SQS batch as of `now`.
pub async fn process_batch(deps: &Deps, event: SqsEvent, now: DateTime<Utc>) -> BatchReport {
    let mut report = BatchReport::default();
    let dead_letters = event.records.first().is_some_and(|record| {
        record.event_source_arn.is_some()
            && record.event_source_arn == deps.config.item_dead_letter_queue_arn
    });
    let records: Vec<Record> = event
        .records
        .into_iter()
        .filter_map(|message| read(message, dead_letters, &mut report.response))
        .collect();

    let mut bulk_ids: Vec<Uuid> = records.iter().map(|r| r.message.bulk_id).collect();
    bulk_ids.sort_unstable();
    bulk_ids.dedup();
    let gates: BTreeMap<Uuid, Gate> = join_all(
        bulk_ids
            .into_iter()
            .map(|id| async move { (id, gate::open(&deps.store, id, now).await) }),
    )
    .await
    .into_iter()
    .collect();

    let verdicts = item::handle_all(deps, &records, &gates, dead_letters, now).await;

    let mut deferred = Vec::new();
    let mut handing_off = Vec::new();
    for (record, verdict) in records.into_iter().zip(verdicts) {
        match verdict {
            Verdict::Done(events) => handing_off.push((record.message_id, events)),
            Verdict::Dropped => {}
            Verdict::Defer => deferred.push(record),
            Verdict::Retry => report.response.add_failure(record.message_id),
        }
    }
    defer(deps, deferred, &mut report.response).await;
    hand_off(deps, handing_off, &mut report).await;
    report
}

/// Reads one SQS message. A message that is not an item is reported as a failure so that it
/// ends in the dead-letter queue for someone to look at; there, it is logged and let go.
fn read(
    message: SqsMessage,
    dead_letters: bool,
    response: &mut SqsBatchResponse,
) -> Option<Record> {
    let message_id = message.message_id?;
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    match serde_json::from_str::<ItemMessage>(message.body.as_deref().unwrap_or_default()) {
        Ok(item) => Some(Record {
            message_id,
            receive_count,
            message: item,
        }),
        Err(error) => {
            tracing::error!(%message_id, %error, dead_letters, "message is not a queued item");
            if !dead_letters {
                response.add_failure(message_id);
            }
            None
        }
    }
}

/// Sends items back to the item queue for a later try. Those that cannot be sent back are
/// retried by SQS instead.
async fn defer(deps: &Deps, records: Vec<Record>, response: &mut SqsBatchResponse) {
    if records.is_empty() {
        return;
    }
    let messages: Vec<&ItemMessage> = records.iter().map(|record| &record.message).collect();
    if let Err(error) = deps.items.send_all_after(&messages, DEFER).await {
        tracing::warn!(error = %Chain(&error), "could not defer items; SQS will redeliver them");
        for record in records {
            response.add_failure(record.message_id);
        }
    }
}

/// Hands every decided event to the dispatcher. A message is acknowledged only once its events
/// are queued: if queueing fails, SQS redelivers it and the same events are handed on again.
async fn hand_off(
    deps: &Deps,
    decided: Vec<(String, Vec<WebhookMessage>)>,
    report: &mut BatchReport,
) {
    let events: Vec<WebhookMessage> = decided
        .iter()
        .flat_map(|(_, events)| events.iter().copied())
        .collect();
    if events.is_empty() {
        return;
    }
    let sent = match deps.webhooks.send_all(&events).await {
        Ok(()) => deps
            .faults
            .check(Step::HandedOff)
            .map_err(item::Failure::from),
        Err(error) => Err(item::Failure::from(error)),
    };
    match sent {
        Ok(()) => report.handed_off = events,
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "could not hand events to the dispatcher");
            for (message_id, _) in decided {
                report.response.add_failure(message_id);
            }
        }
    }
}
