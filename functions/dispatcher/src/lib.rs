//! The webhook dispatcher: delivers every stored event to its bulk's `webhook_url`, signed
//! (Standard Webhooks), retried on a schedule, never to an internal address, and each bulk's
//! `bulk_completed` only after all of its items' events.
//!
//! The webhook queue carries references ([`WebhookTask`]): the processor queues one per
//! decided event, and this function queues them again to retry or to wait. Each message is
//! one attempt at one delivery ([`task`]); the delivery's record
//! ([`shared::store::deliveries`]) makes later attempts exclusive and counted. A first attempt
//! is made without one, and noted only in its item's tally record when it succeeds, so a
//! message redelivered or duplicated while its first attempt is under way may send the same
//! event again, with the same `webhook-id` and bytes; once noted, it is never sent again.
//!
//! A batch goes through four steps:
//! 1. [`context`]: read each bulk of the batch, and its account's secrets, once.
//! 2. [`task::prepare`]: set aside the messages that are not due, or must wait for their
//!    bulk's items.
//! 3. [`gate`]: the rest, grouped by destination (a webhook URL's host and port), each group
//!    through its destination's gate (slots in flight, pace, circuit breaker:
//!    [`shared::destination`]), every group at once; the messages let through are handled by
//!    [`task::run`], at most [`DispatchConfig::concurrency`] at once per destination.
//! 4. Note the first attempts delivered in their items' tally records (one update a record),
//!    queue every message that comes back later (retries, waits, chained pauses) in batches,
//!    and report what SQS must redeliver: transient failures, and messages whose follow-up
//!    could not be queued or whose delivery could not be noted.
//!
//! The other modules: [`sender`] (the HTTP client and one POST), [`resolver`] (the SSRF-safe
//! resolver), [`signature`], [`retry`] (the schedule, jitter, `Retry-After`),
//! [`completed`] (`bulk_completed`'s readiness and body) and [`metrics`].
//!
//! [`DispatchConfig::concurrency`]: shared::config::DispatchConfig::concurrency

mod completed;
mod context;
mod gate;
pub mod metrics;
pub mod resolver;
pub mod retry;
pub mod sender;
pub mod signature;
mod task;

use std::{collections::HashMap, convert::Infallible, ops::ControlFlow, time::Duration};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use futures::{StreamExt, future::join_all, stream};
use lambda_runtime::LambdaEvent;
use shared::{
    config::Config,
    destination::WaitReason,
    error::Chain,
    queue::{
        Queue, WebhookMessage, WebhookTask,
        batch::{self, Unreadable},
    },
    store::Store,
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    context::{Clock, Context},
    sender::Sender,
    task::Step,
};

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    /// The webhook queue, for retries and waits.
    pub webhooks: Queue,
    /// The webhook dead-letter queue, where given-up deliveries are parked.
    pub dead_letters: Queue,
    pub sender: Sender,
    pub config: Config,
}

/// What one batch did: the answer for Lambda, and what tests look at.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// Messages put back on the webhook queue, each with its delay.
    pub requeued: Vec<(WebhookTask, Duration)>,
    /// Events delivered by this batch.
    pub delivered: Vec<Uuid>,
    /// Events given up by this batch (and parked on the dead-letter queue).
    pub given_up: Vec<Uuid>,
    /// Events that waited for their destination (see [`shared::destination`]), and why.
    pub waited: Vec<(Uuid, WaitReason)>,
}

/// A message after steps 1 and 2.
enum Prepared<'a> {
    /// Its destination decides.
    Ready(gate::Member<'a>),
    /// Done with before any request: its step.
    Decided(String, WebhookTask, Step),
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
    let clock = Clock::starting_at(now);
    let mut report = BatchReport::default();
    // A message that is not a webhook task ends on the dead-letter queue for someone to look at.
    let records: Vec<(String, WebhookTask)> = batch::read_batch(
        event.records,
        "a webhook task",
        Unreadable::Fail,
        &mut report.response,
    )
    .into_iter()
    .map(|received| (received.message_id, received.body))
    .collect();

    let contexts = context::load_all(&deps.store, records.iter().map(|(_, task)| task), now).await;

    // Steps 1 and 2 of each message; the ones that may try go to their destination's gate.
    let prepared: Vec<Prepared> = stream::iter(records)
        .map(|(message_id, task)| {
            let span = span(&message_id, &task);
            let context = &contexts[&task.event.bulk_id()];
            async move {
                match context {
                    Context::Ready {
                        bulk,
                        secrets,
                        items,
                        begun,
                        delivered_first,
                    } => match task::prepare(deps, bulk, task, clock).await {
                        ControlFlow::Continue(task) => Prepared::Ready(gate::Member {
                            message_id,
                            task,
                            scope: task::Scope {
                                bulk: bulk.as_ref(),
                                secrets,
                                items,
                                begun,
                                delivered_first,
                            },
                            span: tracing::Span::current(),
                        }),
                        ControlFlow::Break(step) => Prepared::Decided(message_id, task, step),
                    },
                    Context::Gone(why) => {
                        tracing::warn!(why, "dropping an event that can no longer be delivered");
                        Prepared::Decided(message_id, task, Step::Done)
                    }
                    Context::Unknown => Prepared::Decided(message_id, task, Step::Retry),
                }
            }
            .instrument(span)
        })
        .buffer_unordered(deps.config.dispatch.concurrency)
        .collect()
        .await;

    let mut steps = Vec::new();
    let mut destinations: HashMap<String, Vec<gate::Member<'_>>> = HashMap::new();
    for prepared in prepared {
        match prepared {
            Prepared::Decided(message_id, task, step) => steps.push((message_id, task, step)),
            Prepared::Ready(member) => destinations
                .entry(shared::destination::of_url(&member.scope.bulk.webhook_url))
                .or_default()
                .push(member),
        }
    }
    // Each destination's messages together, every destination at once: a silent one holds
    // only its own slots while the others deliver.
    let passed = join_all(destinations.iter_mut().map(|(destination, members)| {
        gate::pass(deps, destination, std::mem::take(members), clock)
    }))
    .await;
    for passed in passed.into_iter().flatten() {
        if let Some(reason) = passed.waited {
            report.waited.push((passed.task.event.update_id(), reason));
        }
        steps.push((passed.message_id, passed.task, passed.step));
    }

    let mut requeue = Vec::new();
    let mut first = HashMap::<Uuid, Vec<(String, WebhookTask)>>::new();
    for (message_id, task, step) in steps {
        match step {
            Step::Done => {}
            Step::Delivered => report.delivered.push(task.event.update_id()),
            Step::DeliveredFirst => first
                .entry(task.event.bulk_id())
                .or_default()
                .push((message_id, task)),
            Step::Parked => report.given_up.push(task.event.update_id()),
            Step::Requeue(next, delay) => requeue.push((message_id, next, delay)),
            Step::Retry => report.response.add_failure(message_id),
        }
    }
    note_first_deliveries(deps, &contexts, first, &mut report).await;
    send_back(deps, requeue, &mut report).await;
    report
}

/// Notes the batch's first attempts that were delivered, each bulk's in one update of each
/// tally record they fall in. If that fails, SQS redelivers their messages, which send the
/// same events again (same `webhook-id`, same bytes) and note them then.
async fn note_first_deliveries(
    deps: &Deps,
    contexts: &HashMap<Uuid, Context>,
    first: HashMap<Uuid, Vec<(String, WebhookTask)>>,
    report: &mut BatchReport,
) {
    let noted = join_all(first.into_iter().map(|(bulk_id, messages)| async move {
        let Some(Context::Ready { bulk, .. }) = contexts.get(&bulk_id) else {
            unreachable!("only a ready bulk's messages are attempted");
        };
        let indices: Vec<u32> = messages
            .iter()
            .filter_map(|(_, task)| match task.event {
                WebhookMessage::Item { item_index, .. } => Some(item_index),
                WebhookMessage::BulkCompleted { .. } => None,
            })
            .collect();
        let result = deps.store.add_first_deliveries(bulk, &indices).await;
        if let Ok(true) = result {
            completed::hand_on(&deps.store, &deps.webhooks, bulk).await;
        }
        (messages, result)
    }))
    .await;
    for (messages, result) in noted {
        match result {
            Ok(_) => {
                for (_, task) in messages {
                    metrics::delivered();
                    report.delivered.push(task.event.update_id());
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = %Chain(&error),
                    "could not note first attempts delivered; SQS will redeliver"
                );
                for (message_id, _) in messages {
                    report.response.add_failure(message_id);
                }
            }
        }
    }
}

fn span(message_id: &str, task: &WebhookTask) -> tracing::Span {
    let item_index = match task.event {
        WebhookMessage::Item { item_index, .. } => Some(item_index),
        WebhookMessage::BulkCompleted { .. } => None,
    };
    tracing::info_span!(
        "delivery",
        message_id,
        bulk_id = %task.event.bulk_id(),
        update_id = %task.event.update_id(),
        item_index,
        attempt = task.attempt,
    )
}

/// Queues the messages that come back later. If that fails, SQS redelivers their originals,
/// which find their delivery as this batch left it and carry on from there.
async fn send_back(
    deps: &Deps,
    requeue: Vec<(String, WebhookTask, Duration)>,
    report: &mut BatchReport,
) {
    if requeue.is_empty() {
        return;
    }
    let messages: Vec<(WebhookTask, Duration)> = requeue
        .iter()
        .map(|(_, task, delay)| (*task, *delay))
        .collect();
    match deps.webhooks.send_each_after(&messages).await {
        Ok(()) => report.requeued = messages,
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "could not requeue; SQS will redeliver");
            for (message_id, ..) in requeue {
                report.response.add_failure(message_id);
            }
        }
    }
}

impl Deps {
    /// Everything the handler needs, from the configuration and the AWS clients.
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        lookup: std::sync::Arc<dyn resolver::HostLookup>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dead_letter_url = config.dispatch.dead_letter_queue_url.clone().ok_or(
            "RADAR_WEBHOOK_DEAD_LETTER_QUEUE_URL is not set: the dispatcher parks exhausted \
             deliveries there",
        )?;
        Ok(Self {
            store: Store::new(dynamodb, &config.table_name),
            webhooks: Queue::new(sqs.clone(), &config.webhook_queue_url),
            dead_letters: Queue::new(sqs, dead_letter_url),
            sender: Sender::new(&config.dispatch, config.webhooks, lookup)?,
            config,
        })
    }
}
