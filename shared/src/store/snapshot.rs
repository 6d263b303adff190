//! A whole bulk read at once: the bulk record and every item, in `item_index` order.
//!
//! A bulk and its items share one partition, so this is one strongly consistent `Query`, paged
//! by DynamoDB's 1 MB limit (a 1000-item bulk of 1-2 MB of events is two or three pages): never
//! a read per item. Poll answers from it and the dispatcher assembles `bulk_completed` from it.

use uuid::Uuid;

use super::{
    SK, Store,
    bulks::{BULK_SK, Bulk, bulk_pk},
    items::{ITEM_PREFIX, ItemRecord, ItemState},
    s,
};
use crate::Result;

/// The first sort key after every `ITEM#…` ('$' follows '#').
const ITEMS_END: &str = "ITEM$";

/// A bulk and its items as they stood at one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSnapshot {
    pub bulk: Bulk,
    /// Ascending `item_index`.
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
                None | Some(ItemState::Queued) => counts.processing += 1,
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
        let mut items = Vec::new();
        for record in &records {
            match record.get(SK).and_then(|sk| sk.as_s().ok()) {
                Some(sk) if sk == BULK_SK => bulk = Some(Bulk::try_from(record)?),
                Some(sk) if sk.starts_with(ITEM_PREFIX) => {
                    items.push(ItemRecord::try_from(record)?);
                }
                // Other records of the partition (completion tallies) are not results.
                _ => {}
            }
        }
        // Keys sort items by their zero-padded index; sorting again keeps that a property of
        // this function rather than of the key format.
        items.sort_by_key(|item| item.index);
        Ok(bulk.map(|bulk| BulkSnapshot { bulk, items }))
    }
}
