//! Bulk items: what a poll shows of each item before its outcome, and the outcome itself.
//!
//! Submit stores no record per item. The submitted radar travels in the item's queue message
//! (and, if it is dead-lettered, stays there); what a poll must show of an item in flight is
//! only its `custom_fields`, and those are stored packed, many items to a record
//! (`FIELDS#<first item_index>`, [`Store::put_items`]). DynamoDB bills a write by the kilobyte
//! started, so a thousand small items cost a few units instead of a thousand.
//!
//! When the processor decides an item, its record (`ITEM#<item_index>`) is written once, by a
//! conditional put: `created` or `failed`, with `event` (the `radar_created` or
//! `radar_failure` body as exact JSON text, which every delivery and every poll serves as it
//! is) and its `update_id`. A record that exists already is the decided outcome, and is
//! returned instead. (A `queued` record, which submit wrote before the packed layout, may be
//! replaced.)

use std::time::Duration;

use aws_sdk_dynamodb::{
    operation::put_item::PutItemError,
    types::{
        AttributeValue, KeysAndAttributes, PutRequest, ReturnValuesOnConditionCheckFailure,
        WriteRequest,
    },
};
use futures::{StreamExt, stream};
use uuid::Uuid;

use super::{
    EXPIRES_AT, Fields, Item, Store,
    bulks::{Bulk, bulk_pk},
    key, n, s,
};
use crate::{Error, Result, radar::NO_CUSTOM_FIELDS, submission::SubmittedItem};

/// How a decided item ended. An item in flight has no state: its record has no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Became a radar: its event is a `radar_created`.
    Created,
    /// Ended in a 400, 402, 409 or 500: its event is a `radar_failure`.
    Failed,
}

impl ItemState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for ItemState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
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
    /// `None` while the item is in flight.
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
pub(super) const FIELDS_PREFIX: &str = "FIELDS#";
const CUSTOM_FIELDS: &str = "custom_fields";
/// The state of an item record that submit wrote before `custom_fields` were packed: in
/// flight. Such records are read as in flight and may be replaced by an outcome, so that bulks
/// in flight across that deploy still complete.
const LEGACY_QUEUED: &str = "queued";
const FIRST: &str = "first";
/// Most bytes of `custom_fields` in one packed record: DynamoDB allows 400 KB a record, and one
/// item's are at most 64 KB.
const FIELDS_BYTES: usize = 256 * 1024;

impl TryFrom<&Item> for ItemRecord {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        let outcome = match fields.string(STATE)? {
            LEGACY_QUEUED => None,
            _ => Some(Outcome {
                state: fields.parsed(STATE)?,
                update_id: fields.parsed(UPDATE_ID)?,
                event: fields.string(EVENT)?.to_owned(),
            }),
        };
        // An outcome record does not repeat its item's custom_fields (its event holds them);
        // a snapshot takes them from the bulk's packed records.
        let custom_fields = match item.get(CUSTOM_FIELDS) {
            Some(_) => fields.string(CUSTOM_FIELDS)?.to_owned(),
            None => NO_CUSTOM_FIELDS.to_owned(),
        };
        Ok(Self {
            index: fields.number("item_index")?,
            custom_fields,
            outcome,
        })
    }
}

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// BatchGetItem's limit.
const GET_BATCH: usize = 100;
/// Requests in flight at once for one submission.
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

/// The records that hold the `custom_fields` of `items` (in `item_index` order): as many
/// items to a record as [`FIELDS_BYTES`] allows.
fn fields_records(bulk_id: Uuid, items: &[SubmittedItem], expires_at: i64) -> Vec<Item> {
    let mut records = Vec::new();
    let mut rest = items;
    while let Some(first) = rest.first() {
        let mut bytes = 0;
        let taken = rest
            .iter()
            .take_while(|item| {
                bytes += item.custom_fields.len();
                bytes <= FIELDS_BYTES
            })
            .count()
            .max(1);
        let (page, after) = rest.split_at(taken);
        let mut record = key(bulk_pk(bulk_id), &fields_sk(first.index));
        record.insert(FIRST.into(), n(first.index));
        record.insert(
            CUSTOM_FIELDS.into(),
            AttributeValue::L(page.iter().map(|item| s(&item.custom_fields)).collect()),
        );
        record.insert(EXPIRES_AT.into(), n(expires_at));
        records.push(record);
        rest = after;
    }
    records
}

fn fields_sk(first: u32) -> String {
    format!("{FIELDS_PREFIX}{first:04}")
}

/// Reads a packed record: the index of its first item, and each item's `custom_fields`.
pub(super) fn read_fields(record: &Item) -> Result<(u32, Vec<String>)> {
    let fields = Fields(record);
    let Some(AttributeValue::L(list)) = record.get(CUSTOM_FIELDS) else {
        return Err(fields.corrupt(format!("{CUSTOM_FIELDS} is missing or not a list")));
    };
    let texts = list
        .iter()
        .map(|text| {
            text.as_s()
                .cloned()
                .map_err(|_| fields.corrupt(format!("{CUSTOM_FIELDS} holds a non-string")))
        })
        .collect::<Result<_>>()?;
    Ok((fields.number(FIRST)?, texts))
}

/// A decided item's record.
pub(super) fn outcome_record(
    bulk_id: Uuid,
    index: u32,
    outcome: &Outcome,
    expires_at: i64,
) -> Item {
    let mut record = item_key(bulk_id, index);
    record.insert("item_index".into(), n(index));
    record.insert(STATE.into(), s(outcome.state.as_str()));
    record.insert(EVENT.into(), s(&outcome.event));
    record.insert(UPDATE_ID.into(), s(outcome.update_id.to_string()));
    record.insert(EXPIRES_AT.into(), n(expires_at));
    record
}

/// What [`Store::mark_item_terminal`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// The item had no outcome and now holds this one.
    Now,
    /// The item already had an outcome (an earlier delivery decided it): this one.
    Already(Outcome),
}

/// The condition of the put that records an outcome: an item's outcome is decided once.
pub(super) const UNDECIDED: &str = "attribute_not_exists(pk) OR #state = :queued";

pub(super) fn undecided_names() -> [(&'static str, &'static str); 1] {
    [("#state", STATE)]
}

pub(super) fn undecided_values() -> [(&'static str, AttributeValue); 1] {
    [(":queued", s(LEGACY_QUEUED))]
}

impl Store {
    /// Records an item's outcome, unless it already has one: an item's outcome, and so its
    /// event and `update_id`, are decided exactly once.
    pub async fn mark_item_terminal(
        &self,
        bulk: &Bulk,
        index: u32,
        outcome: &Outcome,
    ) -> Result<Marked> {
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(outcome_record(
                bulk.id,
                index,
                outcome,
                bulk.expires_at,
            )))
            .condition_expression(UNDECIDED)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attribute) in undecided_names() {
            put = put.expression_attribute_names(name, attribute);
        }
        for (name, value) in undecided_values() {
            put = put.expression_attribute_values(name, value);
        }
        match put.send().await {
            Ok(_) => Ok(Marked::Now),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(old) => decided(old).map(Marked::Already),
                        None => Err(Error::dynamo(error)),
                    }
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }

    /// Several items of one bulk, strongly consistent, in one BatchGetItem per 100. Items that
    /// do not exist are left out.
    pub async fn get_items(&self, bulk_id: Uuid, indices: &[u32]) -> Result<Vec<ItemRecord>> {
        let keys = indices.iter().map(|i| item_key(bulk_id, *i)).collect();
        self.batch_get(keys)
            .await?
            .iter()
            .map(ItemRecord::try_from)
            .collect()
    }

    /// Records by key, strongly consistent, in one BatchGetItem per 100 (the rest of a page
    /// DynamoDB leaves unprocessed is asked for again). Keys that name nothing are left out.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>> {
        let mut records = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(GET_BATCH) {
            let mut keys = chunk.to_vec();
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
                records.extend(
                    output
                        .responses
                        .and_then(|mut found| found.remove(self.table()))
                        .unwrap_or_default(),
                );
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

    /// Stores what a poll shows of a bulk's items in flight: their `custom_fields`, packed
    /// many to a record, the records 25 to a request.
    pub async fn put_items(
        &self,
        bulk_id: Uuid,
        items: &[SubmittedItem],
        expires_at: i64,
    ) -> Result<()> {
        let batches = fields_records(bulk_id, items, expires_at)
            .chunks(BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|record| {
                        let put = PutRequest::builder()
                            .set_item(Some(record.clone()))
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

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn item(index: u32, custom_fields: String) -> SubmittedItem {
        SubmittedItem {
            index,
            radar: RawValue::from_string("{}".into()).unwrap(),
            custom_fields,
        }
    }

    #[test]
    fn custom_fields_are_packed_in_order_within_the_record_limit() {
        // 60 KB each: four fit in 256 KB, so ten items make records of 4, 4 and 2.
        let large = format!(r#"{{"notes":"{}"}}"#, "x".repeat(60_000));
        let items: Vec<SubmittedItem> = (0..10).map(|i| item(i, large.clone())).collect();

        let records = fields_records(Uuid::nil(), &items, 7);

        let read: Vec<(u32, usize)> = records
            .iter()
            .map(|record| {
                let (first, texts) = read_fields(record).unwrap();
                assert!(texts.iter().all(|text| *text == large));
                (first, texts.len())
            })
            .collect();
        assert_eq!(read, [(0, 4), (4, 4), (8, 2)]);
        assert_eq!(records[1][super::super::SK].as_s().unwrap(), "FIELDS#0004");
    }

    #[test]
    fn a_thousand_small_items_share_one_record() {
        let items: Vec<SubmittedItem> = (0..1000)
            .map(|i| item(i, format!(r#"{{"row":{i}}}"#)))
            .collect();

        let records = fields_records(Uuid::nil(), &items, 7);

        assert_eq!(records.len(), 1);
        let (first, texts) = read_fields(&records[0]).unwrap();
        assert_eq!(first, 0);
        assert_eq!(texts[999], r#"{"row":999}"#);
    }
}
