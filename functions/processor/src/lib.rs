//! The per-item processor: each queued item becomes exactly one `radar_created` or
//! `radar_failure`, stored on the item before it is handed to the dispatcher, and the item that
//! completes its bulk hands on the bulk's one `bulk_completed`.
//!
//! A batch is one pipeline, each step taking what the one before returned:
//! 1. read ([`shared::queue::batch`]): the SQS messages as queued items.
//! 2. [`gate`]: read each bulk of the batch once. Only `accepted` bulks are worked on; items of
//!    aborted, abandoned or vanished bulks are acknowledged and dropped; items that arrive
//!    before their submission finished are sent back to the queue for a few seconds.
//! 3. [`decide`]: from each item alone, a radar to create or a refusal (400).
//! 4. [`create`]: a prepaid bulk's radars by two plain puts each (radar, then outcome); a
//!    metered bulk's created and charged in one transaction per account; conflicts (409) and
//!    short balances (402) become refusals, unless the account's prepaid bulks hold credits
//!    that may come back: then the item waits for them, back on the queue.
//! 5. [`settle`]: every refusal recorded (a 500 also deletes a radar its item left behind),
//!    transient failures classified (a 500 on the last delivery), the items tallied towards
//!    their bulk, one update per shard, and if they were its last, the bulk's completion fixed
//!    and a prepaid bulk's unspent credits given back.
//! 6. hand on: every decided event to the webhook queue in batches, deferred and waiting items
//!    back to the item queue, and the messages that must be retried reported; SQS redelivers those and
//!    only those.
//!
//! Every step can be repeated: a redelivered item finds its outcome already decided and hands
//! on the very same event, so a crash anywhere costs a redelivery, never a second radar.
//! [`failure`] is the one error type; [`events`] builds the stored event bodies.

mod create;
mod decide;
mod events;
mod failure;
mod faults;
mod gate;
mod metrics;
mod settle;

use std::{convert::Infallible, time::Duration};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use shared::{
    config::Config,
    error::Chain,
    queue::{
        ItemMessage, Queue, WebhookMessage, WebhookTask,
        batch::{self, Received, Unreadable},
    },
    store::Store,
};
use uuid::Uuid;

pub use faults::{Faults, Step};

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    /// The item queue, for items that arrive before their submission finished.
    pub items: Queue,
    /// The dispatcher's queue.
    pub webhooks: Queue,
    pub config: Config,
    /// Crashes on purpose, for tests; none unless a test sets them after [`Deps::new`].
    pub faults: Faults,
}

impl Deps {
    /// The one place the processor's dependencies are wired: its `main`, the local stack and
    /// the tests all build them here.
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        Self {
            store: Store::new(dynamodb, &config.table_name),
            items: Queue::new(sqs.clone(), &config.item_queue_url),
            webhooks: Queue::new(sqs, &config.webhook_queue_url),
            config,
            faults: Faults::default(),
        }
    }
}

/// Items of one batch settled at once.
const CONCURRENCY: usize = 10;
/// How long an item that arrived before its bulk was accepted waits before its next try.
const DEFER: Duration = Duration::from_secs(5);
/// How long an item waiting for its account's refunds waits before its next try: a bulk's
/// refund comes when its last item is decided, seconds to minutes away.
const AWAIT: Duration = Duration::from_secs(10);
/// How long an item whose transaction kept meeting others waits before its next delivery,
/// instead of the queue's visibility timeout (180 s): long enough for the contenders to pass.
const CONTENDED: Duration = Duration::from_secs(3);

/// One message of the batch, read.
pub(crate) type Record = Received<ItemMessage>;

/// What to do with a message once its item has been handled.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The item is terminal: hand these events on, then acknowledge.
    Done(Vec<WebhookMessage>),
    /// Nothing to do, ever (its bulk was aborted or is gone): acknowledge.
    Dropped,
    /// Its bulk is still being submitted: send it back to the queue for a later try.
    Defer,
    /// The balance cannot cover it until the account's other bulks give credits back: send it
    /// back to the queue for a later try, which spends none of its attempts.
    Await,
    /// Transient failure: SQS redelivers it.
    Retry,
    /// Its creating transaction kept meeting concurrent ones: SQS redelivers it, soon.
    Contended,
}

/// What one batch did: the answer for Lambda, and every event handed to the dispatcher.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    pub handed_off: Vec<WebhookMessage>,
    /// Contended messages that SQS will deliver again in a few seconds rather than after the
    /// queue's visibility timeout.
    pub hurried: usize,
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

/// Handles one SQS batch as of `now`.
pub async fn process_batch(deps: &Deps, event: SqsEvent, now: DateTime<Utc>) -> BatchReport {
    let mut report = BatchReport::default();
    let dead_letters = event.records.first().is_some_and(|record| {
        record.event_source_arn.is_some()
            && record.event_source_arn == deps.config.item_dead_letter_queue_arn
    });
    // A message that is not an item ends in the dead-letter queue for someone to look at;
    // there, it is logged and let go.
    let unreadable = if dead_letters {
        Unreadable::Drop
    } else {
        Unreadable::Fail
    };
    let records = batch::read_batch(
        event.records,
        "a queued item",
        unreadable,
        &mut report.response,
    );

    let (open, mut verdicts) = gate::gate_all(&deps.store, records, dead_letters, now).await;
    let decided = open
        .into_iter()
        .map(|item| decide::decide(item, dead_letters, now))
        .collect();
    let tried = create::create_all(deps, decided, now).await;
    verdicts.extend(settle::settle_all(deps, tried, dead_letters, now).await);
    hand_on(deps, verdicts, &mut report).await;
    report
}

/// Acts on every verdict: events to the dispatcher, deferred items back to the item queue,
/// retries to the partial batch response.
async fn hand_on(deps: &Deps, verdicts: Vec<(Record, Verdict)>, report: &mut BatchReport) {
    let mut deferred = Vec::new();
    let mut awaiting = Vec::new();
    let mut decided = Vec::new();
    let mut contended = Vec::new();
    for (record, verdict) in verdicts {
        match verdict {
            Verdict::Done(events) => {
                decided.push((record.message_id, record.body.account_id, events));
            }
            Verdict::Dropped => {}
            Verdict::Defer => deferred.push(record),
            Verdict::Await => awaiting.push(record),
            Verdict::Retry => report.response.add_failure(record.message_id),
            Verdict::Contended => {
                contended.extend(record.receipt_handle);
                report.response.add_failure(record.message_id);
            }
        }
    }
    if !contended.is_empty() {
        let handles: Vec<&str> = contended.iter().map(String::as_str).collect();
        report.hurried = deps.items.show_again_after(&handles, CONTENDED).await;
    }
    defer(deps, deferred, DEFER, &mut report.response).await;
    defer(deps, awaiting, AWAIT, &mut report.response).await;
    hand_off(deps, decided, report).await;
}

/// Sends items back to the item queue for a try after `delay`. Those that cannot be sent back
/// are retried by SQS instead.
async fn defer(
    deps: &Deps,
    records: Vec<Record>,
    delay: Duration,
    response: &mut SqsBatchResponse,
) {
    if records.is_empty() {
        return;
    }
    let messages: Vec<&ItemMessage> = records.iter().map(|record| &record.body).collect();
    if let Err(error) = deps.items.send_all_after(&messages, delay).await {
        tracing::warn!(error = %Chain(&error), "could not defer items; SQS will redeliver them");
        for record in records {
            response.add_failure(record.message_id);
        }
    }
}

/// Hands every decided event to the dispatcher, in its account's message group. A message is
/// acknowledged only once its events are queued: if queueing fails, SQS redelivers it and the
/// same events are handed on again.
async fn hand_off(
    deps: &Deps,
    decided: Vec<(String, Uuid, Vec<WebhookMessage>)>,
    report: &mut BatchReport,
) {
    let tasks: Vec<WebhookTask> = decided
        .iter()
        .flat_map(|(_, account_id, events)| {
            events
                .iter()
                .map(|event| WebhookTask::of_account(*event, *account_id))
        })
        .collect();
    if tasks.is_empty() {
        return;
    }
    let sent = match deps.webhooks.send_all(&tasks).await {
        Ok(()) => deps
            .faults
            .check(Step::HandedOff)
            .map_err(failure::Failure::from),
        Err(error) => Err(failure::Failure::from(error)),
    };
    match sent {
        Ok(()) => report.handed_off = tasks.iter().map(|task| task.event).collect(),
        Err(failure) => {
            tracing::warn!(error = %Chain(&failure), "could not hand events to the dispatcher");
            for (message_id, ..) in decided {
                report.response.add_failure(message_id);
            }
        }
    }
}
