//! The local event source mapping: what Lambda does between an SQS queue and a function.
//!
//! Each [`Source`] is polled by as many workers as its `MaximumConcurrency` ([`Source::workers`]),
//! so a function is invoked up to [`instances`] times at once. A worker receives
//! up to `BatchSize` messages, hands them to the function as one `SqsEvent`, and deletes the
//! ones the function did not name in its partial batch response. If the invocation fails, or
//! the function does not report partial failures and any failed, nothing is deleted. What is
//! not deleted comes back after the queue's visibility timeout, and the queue's own redrive
//! policy moves it to the dead-letter queue after `maxReceiveCount` receives, exactly as in
//! AWS: the queues are made from the same template.
//!
//! By default a batch is what moto returned, in moto's order. With a [`Delivery::shuffled`]
//! the bridge delivers as a standard queue does, out of order and now and then twice
//! ([`crate::delivery`]); chaos runs ask for that. With [`Delivery::with_fair_queues`] it
//! delivers as a fair queue does, the accounts with few messages in flight first
//! ([`crate::delivery::fair`]); `make dev`, chaos runs and the benchmarks ask for that.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::{
    Client,
    types::{
        ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
        MessageSystemAttributeName, QueueAttributeName,
    },
};

pub use crate::delivery::{Delivery, Pumped, Shuffle};

/// One queue feeding one function.
#[derive(Debug, Clone)]
pub struct Source {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub concurrency: usize,
    pub partial_batch_responses: bool,
}

impl Source {
    /// How many workers poll this source: its `MaximumConcurrency`, and at least one.
    pub fn workers(&self) -> usize {
        self.concurrency.max(1)
    }
}

/// The most invocations of one function that the workers of `sources` can have in flight at
/// once: the workers of all that function's sources, for the busiest function. `make dev` lets
/// `cargo lambda watch` run as many instances of each function, so that no worker's invocation
/// waits for another's to finish, as none does in Lambda.
pub fn instances(sources: &[Source]) -> usize {
    let mut per_function: HashMap<&str, usize> = HashMap::new();
    for source in sources {
        *per_function.entry(&source.function).or_default() += source.workers();
    }
    per_function.into_values().max().unwrap_or(1)
}

/// Calls a function with an SQS event.
pub trait Invoke: Sync {
    fn invoke(
        &self,
        function: &str,
        event: &SqsEvent,
    ) -> impl Future<Output = Result<SqsBatchResponse, String>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQS: {0}")]
    Sqs(String),
}

/// How long a receive waits for messages before answering empty.
const WAIT_SECONDS: i32 = 1;
/// Receives a worker makes to fill the pool before each batch: enough for the pool to take in
/// a 1000-message backlog within a round of the workers' turns, few enough that no batch
/// waits long for its worker's receives.
const FILLS_PER_TURN: usize = 5;
/// How long after a receive found the queue empty the workers of a pool that still holds
/// messages take from it without receiving: moto scans its whole queue on every receive.
const DRAINED_FOR: Duration = Duration::from_millis(200);
/// How long a message received into the pool stays hidden on the queue: longer than it may
/// wait there ([`crate::delivery::Pool::AGED`]), whatever the queue's own timeout. A message
/// that came back while it waited would be received again, and its receive count would
/// climb towards the queue's redrive as no real receive's does: a fair queue does not
/// deliver a message until a consumer gets it.
const POOLED_SECONDS: i32 = 600;

/// One receive, one invocation, one delete: a single turn of a worker, delivering as moto does.
pub async fn pump(sqs: &Client, source: &Source, function: &impl Invoke) -> Result<Pumped, Error> {
    pump_with(sqs, source, function, &Delivery::exact()).await
}

/// [`pump`], delivering as `delivery` says: the batch may carry messages kept from earlier
/// turns (of any worker sharing `delivery`) and leave some of its own for later ones.
pub async fn pump_with(
    sqs: &Client,
    source: &Source,
    function: &impl Invoke,
    delivery: &Delivery,
) -> Result<Pumped, Error> {
    let batch_size = source.batch_size.clamp(1, 10);
    let taken = delivery.take(&source.queue_url, batch_size);
    let wanted = batch_size - taken.len();
    // Messages kept for this turn go now: no long poll keeps them waiting.
    let may_wait = taken.is_empty();
    let received = if delivery.is_fair() {
        receive_fairly(sqs, source, delivery, wanted, may_wait).await
    } else {
        let wait = if may_wait { WAIT_SECONDS } else { 0 };
        receive(sqs, source, wanted, wait, None)
            .await
            .map(|received| (received.len(), received))
    };
    let (from_sqs, received) = match received {
        Ok(received) => received,
        Err(error) => {
            delivery.put_back(&source.queue_url, taken);
            return Err(error);
        }
    };
    let (messages, mut pumped) = delivery.batch(&source.queue_url, taken, received);
    pumped.received = from_sqs;
    if messages.is_empty() {
        delivery.count(&source.function, pumped);
        return Ok(pumped);
    }
    pumped.batches = 1;
    let receipts: HashMap<String, String> = messages
        .iter()
        .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
        .collect();
    delivery.started(&source.queue_url, &messages);
    let event = event(source, &messages);
    let invoked = function.invoke(&source.function, &event).await;
    delivery.finished(&source.queue_url, &messages);
    let failed: HashSet<String> = match invoked {
        Ok(response) if source.partial_batch_responses => response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier)
            .collect(),
        Ok(response) if response.batch_item_failures.is_empty() => HashSet::new(),
        Ok(_) => receipts.keys().cloned().collect(),
        Err(error) => {
            tracing::warn!(function = %source.function, %error, "invocation failed; the batch will be retried");
            receipts.keys().cloned().collect()
        }
    };
    let outcomes = receipts
        .keys()
        .map(|id| (id.as_str(), !failed.contains(id)));
    let delete = delivery.settle(&source.queue_url, outcomes, &mut pumped);
    let done: Vec<DeleteMessageBatchRequestEntry> = (0..)
        .zip(&delete)
        .filter_map(|(entry, id)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("m{entry}"))
                .receipt_handle(&receipts[*id])
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        let deleted = sqs
            .delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(done))
            .send()
            .await;
        if let Err(error) = deleted {
            delivery.not_deleted(&source.queue_url, delete);
            return Err(Error::Sqs(aws_sdk_sqs::Error::from(error).to_string()));
        }
    }
    delivery.count(&source.function, pumped);
    Ok(pumped)
}

/// Up to `wanted` messages from a fair queue ([`crate::delivery::fair`]), and how many SQS
/// returned: the worker first receives ahead into the pool, as far as it has room (up to
/// [`FILLS_PER_TURN`] receives, waiting only when nothing is pooled and `may_wait`; none while
/// the pool holds messages and the queue was found empty within [`DRAINED_FOR`]), then
/// chooses from the pool. The chosen messages' visibility timeout starts again, so that a
/// function has the queue's whole timeout, as under Lambda.
async fn receive_fairly(
    sqs: &Client,
    source: &Source,
    delivery: &Delivery,
    wanted: usize,
    may_wait: bool,
) -> Result<(usize, Vec<Message>), Error> {
    let queue = &source.queue_url;
    let visibility = visibility(sqs, source, delivery).await?;
    let mut from_sqs = 0;
    let pooled = delivery.pooled(queue);
    if pooled == 0 || !delivery.drained_within(queue, DRAINED_FOR) {
        for _ in 0..FILLS_PER_TURN {
            let room = delivery.room(queue).min(10);
            if room == 0 {
                break;
            }
            let wait = if may_wait && delivery.pooled(queue) == 0 {
                WAIT_SECONDS
            } else {
                0
            };
            let received = receive(sqs, source, room, wait, Some(POOLED_SECONDS)).await?;
            let full = received.len() == room;
            from_sqs += received.len();
            delivery.pool(queue, received);
            if !full {
                delivery.drained(queue);
                break;
            }
        }
    }
    let chosen = delivery.choose(queue, wanted);
    restart_visibility(sqs, source, &chosen, visibility).await;
    Ok((from_sqs, chosen))
}

/// Hides `messages` for `seconds` from now. A message whose change fails keeps what is left of
/// its [`POOLED_SECONDS`].
async fn restart_visibility(sqs: &Client, source: &Source, messages: &[Message], seconds: i32) {
    if messages.is_empty() {
        return;
    }
    let entries = (0..)
        .zip(messages)
        .filter_map(|(entry, message)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(format!("m{entry}"))
                .receipt_handle(message.receipt_handle.as_deref()?)
                .visibility_timeout(seconds)
                .build()
                .ok()
        })
        .collect();
    let changed = sqs
        .change_message_visibility_batch()
        .queue_url(&source.queue_url)
        .set_entries(Some(entries))
        .send()
        .await;
    if let Err(error) = changed {
        tracing::warn!(function = %source.function, error = %aws_sdk_sqs::Error::from(error), "could not restart the visibility timeout of pooled messages");
    }
}

/// The source queue's visibility timeout in seconds, read once.
async fn visibility(sqs: &Client, source: &Source, delivery: &Delivery) -> Result<i32, Error> {
    if let Some(seconds) = delivery.visibility(&source.queue_url) {
        return Ok(seconds);
    }
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&source.queue_url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
    let seconds = attributes
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::VisibilityTimeout))
        .and_then(|seconds| seconds.parse().ok())
        .ok_or_else(|| Error::Sqs(format!("{} has no visibility timeout", source.queue_url)))?;
    delivery.set_visibility(&source.queue_url, seconds);
    Ok(seconds)
}

/// Up to `wanted` messages from the source's queue, waiting up to `wait` seconds for any, and
/// hidden for `visibility` seconds (the queue's own timeout when `None`).
async fn receive(
    sqs: &Client,
    source: &Source,
    wanted: usize,
    wait: i32,
    visibility: Option<i32>,
) -> Result<Vec<Message>, Error> {
    if wanted == 0 {
        return Ok(Vec::new());
    }
    let received = sqs
        .receive_message()
        .queue_url(&source.queue_url)
        .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
        .wait_time_seconds(wait)
        .set_visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
    Ok(received.messages.unwrap_or_default())
}

/// The event Lambda would build for these messages.
fn event(source: &Source, messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id.clone_from(&message.message_id);
            record.receipt_handle.clone_from(&message.receipt_handle);
            record.md5_of_body.clone_from(&message.md5_of_body);
            record.body.clone_from(&message.body);
            record.attributes = message
                .attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(source.queue_arn.clone());
            record.aws_region = Some("us-east-1".into());
            record
        })
        .collect();
    event
}

/// Runs every source's workers until the process ends, delivering as moto does.
pub async fn run(sqs: &Client, sources: &[Source], function: &impl Invoke) {
    run_with(sqs, sources, function, &Delivery::exact()).await;
}

/// [`run`], delivering as `delivery` says; `delivery` counts what the workers did.
pub async fn run_with(
    sqs: &Client,
    sources: &[Source],
    function: &impl Invoke,
    delivery: &Delivery,
) {
    let workers = sources.iter().flat_map(|source| {
        (0..source.workers()).map(move |_| async move {
            loop {
                match pump_with(sqs, source, function, delivery).await {
                    Ok(pumped) if pumped.batches > 0 => tracing::debug!(
                        function = %source.function,
                        received = pumped.received,
                        retried = pumped.retried,
                        "batch handled"
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(function = %source.function, %error, "polling failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    });
    futures::future::join_all(workers).await;
}

/// [`run`] in the background, until the task is aborted.
pub fn spawn<I: Invoke + Send + 'static>(
    sqs: Client,
    sources: Vec<Source>,
    function: Arc<I>,
) -> tokio::task::JoinHandle<()> {
    spawn_with(sqs, sources, function, Arc::new(Delivery::exact()))
}

/// [`run_with`] in the background, until the task is aborted.
pub fn spawn_with<I: Invoke + Send + 'static>(
    sqs: Client,
    sources: Vec<Source>,
    function: Arc<I>,
    delivery: Arc<Delivery>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { run_with(&sqs, &sources, function.as_ref(), &delivery).await })
}

/// Invokes functions through `cargo lambda watch`'s Lambda Invoke API.
#[derive(Debug, Clone)]
pub struct HttpInvoker {
    client: reqwest::Client,
    base: String,
}

impl HttpInvoker {
    /// `base` is the emulator's address, such as `http://127.0.0.1:9000`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.into(),
        }
    }
}

impl Invoke for HttpInvoker {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let url = format!("{}/2015-03-31/functions/{function}/invocations", self.base);
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let failed = response.headers().contains_key("x-amz-function-error");
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() || failed {
            return Err(format!("{status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("not a batch response ({e}): {text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{Source, instances};

    fn source(function: &str, concurrency: usize) -> Source {
        Source {
            function: function.into(),
            queue_url: String::new(),
            queue_arn: String::new(),
            batch_size: 10,
            concurrency,
            partial_batch_responses: true,
        }
    }

    #[test]
    fn a_function_fed_by_two_queues_is_invoked_by_the_workers_of_both_at_once() {
        let sources = [
            source("processor", 20),
            source("processor", 2),
            source("dispatcher", 20),
        ];

        assert_eq!(instances(&sources), 22);
    }

    #[test]
    fn a_source_without_concurrency_still_has_a_worker() {
        assert_eq!(source("worker", 0).workers(), 1);
        assert_eq!(instances(&[source("worker", 0)]), 1);
        assert_eq!(instances(&[]), 1);
    }
}
