//! SQS queues: the processor's item queue and the dispatcher's webhook queue, with batched,
//! size-aware sends. What travels on each is in [`messages`]; how a triggered function reads a
//! batch of them is in [`batch`].

pub mod batch;
mod messages;

use std::time::Duration;

use aws_sdk_sqs::{
    Client,
    types::{ChangeMessageVisibilityBatchRequestEntry, SendMessageBatchRequestEntry},
};
use futures::{StreamExt, stream};
use serde::Serialize;
use uuid::Uuid;

use crate::{Error, Result};

pub use messages::{ItemMessage, WebhookMessage, WebhookTask};

/// SendMessageBatch's limits: entries, and bytes of all bodies together.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 262_144;
/// Batches in flight at once for one submission.
const CONCURRENCY: usize = 16;
/// SQS's longest message delay.
const MAX_DELAY_SECONDS: i32 = 900;
/// [`MAX_DELAY_SECONDS`] as a duration: longer waits are chained by whoever needs them.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// Attempts at entries SQS fails through no fault of ours, before giving up.
const ATTEMPTS: u32 = 5;

/// A message that is some account's work. SQS sends it in that account's message group: on a
/// standard queue that makes it a fair queue, which hands a consumer the messages of accounts
/// with few in flight before those of an account with a backlog, so that one account's burst
/// does not hold back everyone else's items and webhooks (README, "Fair queues").
pub trait Grouped {
    /// The account, or `None` for a message of no account's (it shares one group with the rest).
    fn account(&self) -> Option<Uuid>;
}

impl Grouped for ItemMessage {
    fn account(&self) -> Option<Uuid> {
        Some(self.account_id)
    }
}

impl Grouped for WebhookTask {
    fn account(&self) -> Option<Uuid> {
        self.account_id
    }
}

impl<T: Grouped> Grouped for &T {
    fn account(&self) -> Option<Uuid> {
        (*self).account()
    }
}

/// A queue and the client that reaches it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Makes received messages visible again `delay` from now rather than when the queue's
    /// visibility timeout ends; how many SQS changed. A message it could not change comes back
    /// at the usual time, so nothing is lost by a failure here.
    pub async fn show_again_after(&self, receipt_handles: &[&str], delay: Duration) -> usize {
        let seconds = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
        let mut changed = 0;
        for chunk in receipt_handles.chunks(BATCH_ENTRIES) {
            let entries = chunk.iter().enumerate().filter_map(|(at, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(at.to_string())
                    .receipt_handle(*handle)
                    .visibility_timeout(seconds)
                    .build()
                    .ok()
            });
            let answer = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            match answer {
                Ok(answer) => changed += answer.successful().len(),
                Err(error) => {
                    tracing::warn!(error = %crate::error::Chain(&Error::sqs(error)), "could not change visibility");
                }
            }
        }
        changed
    }

    /// Queues every message as JSON, in batches that respect SQS's entry and size limits,
    /// several batches at once. Fails if any message could not be queued; the others stay
    /// queued.
    pub async fn send_all<T: Serialize + Grouped>(&self, messages: &[T]) -> Result<()> {
        self.send_all_after(messages, Duration::ZERO).await
    }

    /// [`Queue::send_all`], each message invisible for `delay` first (at most 15 minutes).
    pub async fn send_all_after<T: Serialize + Grouped>(
        &self,
        messages: &[T],
        delay: Duration,
    ) -> Result<()> {
        let delayed: Vec<(&T, Duration)> = messages.iter().map(|m| (m, delay)).collect();
        self.send_each_after(&delayed).await
    }

    /// [`Queue::send_all`], each message invisible for its own delay first (at most 15
    /// minutes: longer delays are cut to SQS's limit).
    pub async fn send_each_after<T: Serialize + Grouped>(
        &self,
        messages: &[(T, Duration)],
    ) -> Result<()> {
        let delays: Vec<i32> = messages
            .iter()
            .map(|(_, delay)| {
                i32::try_from(delay.as_secs())
                    .unwrap_or(i32::MAX)
                    .min(MAX_DELAY_SECONDS)
            })
            .collect();
        let outgoing = (0u32..)
            .zip(messages)
            .map(|(position, (message, _))| {
                let body = serde_json::to_string(message)
                    .map_err(|e| Error::Serialize("a queue message", e))?;
                Ok(Outgoing {
                    position,
                    body,
                    group: message.account().map(|account| account.to_string()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Every batch runs to its end even when one fails, so a failed submission leaves a
        // known set of messages behind rather than whatever happened to be in flight.
        let results: Vec<Result<()>> = stream::iter(batches(outgoing))
            .map(|batch| self.send_batch(batch, &delays))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One SendMessageBatch, retrying the entries SQS failed on its side. Entry ids are the
    /// messages' positions in the slice given to [`Queue::send_each_after`], which also index
    /// `delays`.
    async fn send_batch(&self, batch: Vec<Outgoing>, delays: &[i32]) -> Result<()> {
        let mut entries = batch
            .into_iter()
            .map(|outgoing| {
                SendMessageBatchRequestEntry::builder()
                    .id(outgoing.position.to_string())
                    .message_body(outgoing.body)
                    .set_message_group_id(outgoing.group)
                    .delay_seconds(delays[outgoing.position as usize])
                    .build()
                    .map_err(Error::sqs)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut attempts = 0;
        while attempts < ATTEMPTS {
            if attempts > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempts)).await;
            }
            attempts += 1;
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(Error::sqs)?;
            if output.failed.is_empty() {
                return Ok(());
            }
            for failure in &output.failed {
                tracing::warn!(
                    entry = failure.id,
                    code = failure.code,
                    sender_fault = failure.sender_fault,
                    "SQS did not queue a message"
                );
            }
            if output.failed.iter().any(|failure| failure.sender_fault) {
                // Retrying what SQS refuses as malformed cannot succeed.
                break;
            }
            entries.retain(|entry| output.failed.iter().any(|failure| failure.id == entry.id));
        }
        Err(Error::Unprocessed {
            what: "SendMessageBatch",
            left: entries.len(),
            attempts: ATTEMPTS,
        })
    }
}

/// One message on its way: its position among those sent together, its body, its group.
struct Outgoing {
    position: u32,
    body: String,
    group: Option<String>,
}

/// Groups messages into batches of at most 10 entries and 256 KiB.
fn batches(messages: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut batches = Vec::new();
    let mut current: Vec<Outgoing> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.body.len();
        if current.len() == BATCH_ENTRIES || (!current.is_empty() && bytes + size > BATCH_BYTES) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(message);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(bodies: &[usize]) -> Vec<usize> {
        let messages = (0u32..)
            .zip(bodies)
            .map(|(position, len)| Outgoing {
                position,
                body: "x".repeat(*len),
                group: None,
            })
            .collect();
        batches(messages).iter().map(Vec::len).collect()
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        assert_eq!(sizes(&[10; 25]), [10, 10, 5]);
    }

    #[test]
    fn batches_stay_under_256_kib() {
        assert_eq!(sizes(&[100_000, 100_000, 100_000, 10]), [2, 2]);
        assert_eq!(sizes(&[BATCH_BYTES, 1]), [1, 1]);
    }

    #[test]
    fn no_messages_make_no_batches() {
        assert!(sizes(&[]).is_empty());
    }
}
