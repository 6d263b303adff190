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
//! ([`crate::delivery`]); chaos runs and the benchmarks ask for that.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::{
    Client,
    types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName},
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
    // Messages kept for this turn go now: no long poll keeps them waiting.
    let wait = if taken.is_empty() { WAIT_SECONDS } else { 0 };
    let received = match receive(sqs, source, batch_size - taken.len(), wait).await {
        Ok(received) => received,
        Err(error) => {
            delivery.put_back(&source.queue_url, taken);
            return Err(error);
        }
    };
    let (messages, mut pumped) = delivery.batch(&source.queue_url, taken, received);
    if messages.is_empty() {
        delivery.count(&source.function, pumped);
        return Ok(pumped);
    }
    pumped.batches = 1;
    let receipts: HashMap<String, String> = messages
        .iter()
        .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
        .collect();
    let event = event(source, messages);
    let failed: HashSet<String> = match function.invoke(&source.function, &event).await {
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

/// Up to `wanted` messages from the source's queue, waiting up to `wait` seconds for any.
async fn receive(
    sqs: &Client,
    source: &Source,
    wanted: usize,
    wait: i32,
) -> Result<Vec<Message>, Error> {
    if wanted == 0 {
        return Ok(Vec::new());
    }
    let received = sqs
        .receive_message()
        .queue_url(&source.queue_url)
        .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
        .wait_time_seconds(wait)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
    Ok(received.messages.unwrap_or_default())
}

/// The event Lambda would build for these messages.
fn event(source: &Source, messages: Vec<Message>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .into_iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id;
            record.receipt_handle = message.receipt_handle;
            record.md5_of_body = message.md5_of_body;
            record.body = message.body;
            record.attributes = message
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_owned(), value))
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
