//! Bulk items: each submitted radar, stored beside its bulk until it reaches an outcome.
//!
//! An item is written `queued` with the radar as submitted. When the processor decides its
//! outcome, the item becomes `created` or `failed`, gains `event` (the `radar_created` or
//! `radar_failure` body as exact JSON text, which every delivery and every poll serves as it
//! is) and its `update_id`, and drops the submitted radar, which the event now describes.

use std::time::Duration;

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{
        AttributeValue, KeysAndAttributes, PutRequest, ReturnValuesOnConditionCheckFailure,
        WriteRequest,
    },
};
use futures::{StreamExt, stream};
use uuid::Uuid;

use super::{EXPIRES_AT, Fields, Item, Store, bulks::bulk_pk, key, n, s};
use crate::{Error, Result, submission::SubmittedItem};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Waiting for (or being handled by) the processor.
    Queued,
    /// Became a radar: its event is a `radar_created`.
    Created,
    /// Ended in a 400, 402, 409 or 500: its event is a `radar_failure`.
    Failed,
}

impl ItemState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Created => "created",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ItemState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "queued" => Ok(Self::Queued),
            "created" => Ok(Self::Created),
            "failed" => Ok(Self::Failed),
            _ => Err(()),
        }
    }
}

/// A bulk item as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub index: u32,
    /// The item's `custom_fields` as compact JSON text.
    pub custom_fields: String,
    /// `None` while the item is queued.
    pub outcome: Option<Outcome>,
}

/// A terminal item's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// [`ItemState::Created`] or [`ItemState::Failed`].
    pub state: ItemState,
    pub update_id: Uuid,
    /// The event body, exactly as every delivery and poll serves it.
    pub event: String,
}

pub(super) const ITEM_PREFIX: &str = "ITEM#";
pub(super) const STATE: &str = "state";
pub(super) const EVENT: &str = "event";
pub(super) const UPDATE_ID: &str = "update_id";

impl TryFrom<&Item> for ItemRecord {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        let state: ItemState = fields.parsed(STATE)?;
        let outcome = match state {
            ItemState::Queued => None,
            ItemState::Created | ItemState::Failed => Some(Outcome {
                state,
                update_id: fields.parsed(UPDATE_ID)?,
                event: fields.string(EVENT)?.to_owned(),
            }),
        };
        Ok(Self {
            index: fields.number("item_index")?,
            custom_fields: fields.string("custom_fields")?.to_owned(),
            outcome,
        })
    }
}

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// BatchGetItem's limit.
const GET_BATCH: usize = 100;
/// Batches in flight at once for one submission.
const CONCURRENCY: usize = 16;
/// Attempts at the items DynamoDB leaves unprocessed (throttling) before giving up.
const ATTEMPTS: u32 = 8;

/// The outcome of an item found already decided.
pub(super) fn decided(old: &Item) -> Result<Outcome> {
    let record = ItemRecord::try_from(old)?;
    record.outcome.ok_or_else(|| Error::CorruptRecord {
        key: format!("item {}", record.index),
        problem: "its condition failed while it is still queued".into(),
    })
}

pub(super) fn item_key(bulk_id: Uuid, index: u32) -> Item {
    key(bulk_pk(bulk_id), &format!("{ITEM_PREFIX}{index:04}"))
}

/// An item waiting for the processor: `state = queued`.
fn queued_item(bulk_id: Uuid, item: &SubmittedItem, expires_at: i64) -> Item {
    let mut record = item_key(bulk_id, item.index);
    record.insert("item_index".into(), n(item.index));
    record.insert("radar".into(), s(item.radar.get()));
    record.insert("custom_fields".into(), s(&item.custom_fields));
    record.insert(STATE.into(), s(ItemState::Queued.as_str()));
    record.insert(EXPIRES_AT.into(), n(expires_at));
    record
}

/// What [`Store::mark_item_terminal`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// The item was queued and now holds this outcome.
    Now,
    /// The item already had an outcome (an earlier delivery decided it): this one.
    Already(Outcome),
    /// There is no such item (its bulk expired).
    Missing,
}

/// The update that makes a queued item terminal, shared by the plain update and by the
/// creating transaction.
pub(super) const MARK_TERMINAL: &str =
    "SET #state = :state, #event = :event, #update_id = :update_id REMOVE radar";
/// An item's outcome is decided once.
pub(super) const STILL_QUEUED: &str = "#state = :queued";

pub(super) fn mark_terminal_values(outcome: &Outcome) -> [(&'static str, AttributeValue); 4] {
    [
        (":state", s(outcome.state.as_str())),
        (":event", s(&outcome.event)),
        (":update_id", s(outcome.update_id.to_string())),
        (":queued", s(ItemState::Queued.as_str())),
    ]
}

pub(super) fn mark_terminal_names() -> [(&'static str, &'static str); 3] {
    [
        ("#state", STATE),
        ("#event", EVENT),
        ("#update_id", UPDATE_ID),
    ]
}

impl Store {
    /// Records a queued item's outcome, unless it already has one: an item's outcome, and so
    /// its event and `update_id`, are decided exactly once.
    pub async fn mark_item_terminal(
        &self,
        bulk_id: Uuid,
        index: u32,
        outcome: &Outcome,
    ) -> Result<Marked> {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(bulk_id, index)))
            .update_expression(MARK_TERMINAL)
            .condition_expression(STILL_QUEUED)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attribute) in mark_terminal_names() {
            update = update.expression_attribute_names(name, attribute);
        }
        for (name, value) in mark_terminal_values(outcome) {
            update = update.expression_attribute_values(name, value);
        }
        match update.send().await {
            Ok(_) => Ok(Marked::Now),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(old) => decided(old).map(Marked::Already),
                        None => Ok(Marked::Missing),
                    }
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }

    /// Several items of one bulk, strongly consistent, in one BatchGetItem per 100 (the rest
    /// of a page DynamoDB leaves unprocessed is asked for again). Items that do not exist are
    /// left out.
    pub async fn get_items(&self, bulk_id: Uuid, indices: &[u32]) -> Result<Vec<ItemRecord>> {
        let mut records = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(GET_BATCH) {
            let mut keys: Vec<Item> = chunk.iter().map(|i| item_key(bulk_id, *i)).collect();
            for attempt in 0..ATTEMPTS {
                if keys.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
                let wanted = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(Error::dynamo)?;
                let output = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), wanted)
                    .send()
                    .await
                    .map_err(Error::dynamo)?;
                for item in output
                    .responses
                    .and_then(|mut found| found.remove(self.table()))
                    .unwrap_or_default()
                {
                    records.push(ItemRecord::try_from(&item)?);
                }
                keys = output
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(self.table()))
                    .map(|left| left.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(Error::Unprocessed {
                    what: "BatchGetItem",
                    left: keys.len(),
                    attempts: ATTEMPTS,
                });
            }
        }
        Ok(records)
    }

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
