//! Bulk items: each submitted radar, stored beside its bulk until it reaches an outcome.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::{StreamExt, stream};
use uuid::Uuid;

use super::{EXPIRES_AT, Item, Store, bulks::bulk_pk, key, n, s};
use crate::{Error, Result, submission::SubmittedItem};

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// Batches in flight at once for one submission.
const CONCURRENCY: usize = 16;
/// Attempts at the items DynamoDB leaves unprocessed (throttling) before giving up.
const ATTEMPTS: u32 = 8;

fn item_key(bulk_id: Uuid, index: u32) -> Item {
    key(bulk_pk(bulk_id), &format!("ITEM#{index:04}"))
}

/// An item waiting for the processor: `state = queued`.
fn queued_item(bulk_id: Uuid, item: &SubmittedItem, expires_at: i64) -> Item {
    let mut record = item_key(bulk_id, item.index);
    record.insert("item_index".into(), n(item.index));
    record.insert("radar".into(), s(item.radar.get()));
    record.insert("custom_fields".into(), s(&item.custom_fields));
    record.insert("state".into(), s("queued"));
    record.insert(EXPIRES_AT.into(), n(expires_at));
    record
}

impl Store {
    /// Stores every item of a bulk, 25 to a request, several requests at once.
    pub async fn put_items(
        &self,
        bulk_id: Uuid,
        items: &[SubmittedItem],
        expires_at: i64,
    ) -> Result<()> {
        let batches = items
            .chunks(BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|item| {
                        let put = PutRequest::builder()
                            .set_item(Some(queued_item(bulk_id, item, expires_at)))
                            .build()
                            .map_err(Error::dynamo)?;
                        Ok(WriteRequest::builder().put_request(put).build())
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        // Every batch runs to its end even when one fails, so a failed submission leaves a
        // known state behind rather than whatever happened to be in flight.
        let results: Vec<Result<()>> = stream::iter(batches)
            .map(|batch| self.write_batch(batch))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One BatchWriteItem, retrying what DynamoDB leaves unprocessed with growing pauses.
    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            let output = self
                .client()
                .batch_write_item()
                .request_items(self.table(), requests)
                .send()
                .await
                .map_err(Error::dynamo)?;
            requests = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(self.table()))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(Error::Unprocessed {
            what: "BatchWriteItem",
            left: requests.len(),
            attempts: ATTEMPTS,
        })
    }
}
