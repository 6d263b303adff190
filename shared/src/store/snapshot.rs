//! A whole bulk read at once: the bulk record and every item, in `item_index` order.
//!
//! A bulk, its items' packed `custom_fields` and their outcomes share one partition, so this is
//! one strongly consistent `Query`, paged by DynamoDB's 1 MB limit (a 1000-item bulk of 1-2 MB
//! of events is two or three pages): never a read per item. An item without an outcome record
//! is in flight. Poll answers from it and the dispatcher assembles `bulk_completed` from it.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{
    SK, Store,
    bulks::{BULK_SK, Bulk, bulk_pk},
    items::{FIELDS_PREFIX, ITEM_PREFIX, ItemRecord, ItemState, read_fields},
    s,
};
use crate::{Result, radar::NO_CUSTOM_FIELDS};

/// The first sort key after every `ITEM#…` ('$' follows '#').
const ITEMS_END: &str = "ITEM$";

/// A bulk and its items as they stood at one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSnapshot {
    pub bulk: Bulk,
    /// Every item of the bulk (`0..total`), by `item_index`.
    pub items: Vec<ItemRecord>,
}

/// How many items stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: u32,
    pub processing: u32,
    pub created: u32,
    pub failed: u32,
}

impl BulkSnapshot {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            total: self.bulk.total,
            ..Counts::default()
        };
        for item in &self.items {
            match item.outcome.as_ref().map(|outcome| outcome.state) {
                None => counts.processing += 1,
                Some(ItemState::Created) => counts.created += 1,
                Some(ItemState::Failed) => counts.failed += 1,
            }
        }
        counts
    }

    /// Every item has its outcome.
    pub fn is_complete(&self) -> bool {
        let counts = self.counts();
        counts.processing == 0 && counts.created + counts.failed == counts.total
    }
}

impl Store {
    /// The bulk and all its items, strongly consistent; `None` when there is no such bulk.
    pub async fn read_bulk(&self, id: Uuid) -> Result<Option<BulkSnapshot>> {
        let records = self
            .query_all(
                // From the bulk to its last item: not the webhook deliveries that sort after.
                "pk = :pk AND sk BETWEEN :bulk AND :items_end",
                &[
                    (":pk", s(bulk_pk(id))),
                    (":bulk", s(BULK_SK)),
                    (":items_end", s(ITEMS_END)),
                ],
            )
            .await?;
        let mut bulk = None;
        let mut custom_fields: Vec<(u32, Vec<String>)> = Vec::new();
        let mut decided: BTreeMap<u32, ItemRecord> = BTreeMap::new();
        for record in &records {
            match record.get(SK).and_then(|sk| sk.as_s().ok()) {
                Some(sk) if sk == BULK_SK => bulk = Some(Bulk::try_from(record)?),
                Some(sk) if sk.starts_with(FIELDS_PREFIX) => {
                    custom_fields.push(read_fields(record)?);
                }
                Some(sk) if sk.starts_with(ITEM_PREFIX) => {
                    let item = ItemRecord::try_from(record)?;
                    decided.insert(item.index, item);
                }
                _ => {}
            }
        }
        let Some(bulk) = bulk else {
            return Ok(None);
        };
        let mut fields: BTreeMap<u32, String> = BTreeMap::new();
        for (first, texts) in custom_fields {
            fields.extend((first..).zip(texts));
        }
        let items = (0..bulk.total)
            .map(|index| {
                let mut item = decided.remove(&index).unwrap_or_else(|| ItemRecord {
                    index,
                    custom_fields: NO_CUSTOM_FIELDS.to_owned(),
                    outcome: None,
                });
                if let Some(text) = fields.remove(&index) {
                    item.custom_fields = text;
                }
                item
            })
            .collect();
        Ok(Some(BulkSnapshot { bulk, items }))
    }
}
