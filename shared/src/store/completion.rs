//! Noticing that a bulk is done, exactly once, without one hot counter.
//!
//! Each terminal item adds its index to one of up to [`SHARDS`] tally records of its bulk
//! (`TALLY#<shard>`), and a created one also what it cost (so that a prepaid bulk's refund
//! reads 16 small records, not its items). Shards hold contiguous ranges of indexes, and a batch tallies all its
//! items of one shard in one update: submit queues a bulk's items in order, so a batch of ten
//! neighbours is one or two updates, not ten. Adding to a set is idempotent, so an item
//! tallied twice (a redelivery, or a crash between its outcome and its tally) counts once,
//! and a crash between the two only delays the tally until the redelivery makes it. The
//! update returns the set, so the batch that fills a shard knows it; it then adds the shard to
//! the bulk's own set of full shards, and the batch that fills that one knows the bulk is done.
//! Plain updates never conflict the way transactions do, and spreading items over shards keeps
//! each record small (an update's cost grows with the record).
//!
//! A tally record also keeps, in a third set, the items whose event the dispatcher delivered at
//! its first attempt ([`Store::add_first_deliveries`]): one update a shard a dispatcher batch,
//! in place of a delivery record each ([`super::deliveries`] reads them back).
//!
//! "Done" can be observed more than once (a redelivery of the last item sees full sets again),
//! so [`Store::complete_bulk`] fixes the completion with a conditional write: the first caller
//! sets its `update_id`, and every caller gets the same one back.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};
use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use uuid::Uuid;

use super::{
    EXPIRES_AT, Fields, Store,
    bulks::{Bulk, COMPLETED_AT, COMPLETION_ID, Completion, bulk_key, bulk_pk},
    key, n, s,
};
use crate::{Error, Result, clock};

/// Most tally records per bulk.
pub const SHARDS: u32 = 16;

/// Tally records' sort keys begin so; a bulk's delivery records sort after them.
pub(super) const TALLY_PREFIX: &str = "TALLY#";
/// A shard's tallied items' indexes (a number set).
const ITEMS: &str = "items";
/// A shard's created items' costs, `index:cost` (a string set: idempotent like the indexes).
const SPENT: &str = "spent";
/// A shard's items whose event was delivered at its first attempt, with no delivery record of
/// its own (a number set).
pub(super) const DELIVERED: &str = "delivered";

/// What a bulk's tally records say of it so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Items with an outcome.
    pub tallied: u32,
    /// Of those, the items that became radars.
    pub created: u32,
    /// What the created items cost.
    pub spent: i64,
}

impl Totals {
    /// Items that ended in `radar_failure`.
    pub fn failed(&self) -> u32 {
        self.tallied.saturating_sub(self.created)
    }
}

/// One terminal item, as its bulk's tally counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tallied {
    pub index: u32,
    /// What it cost, if it became a radar.
    pub cost: Option<i64>,
}

fn tally_sk(shard: u32) -> String {
    format!("{TALLY_PREFIX}{shard:02}")
}

/// The keys of the tally records that count items `indices` of a bulk of `total` items, each
/// once.
pub(super) fn tally_keys(
    bulk_id: Uuid,
    total: u32,
    indices: impl Iterator<Item = u32>,
) -> Vec<super::Item> {
    let shards: std::collections::BTreeSet<u32> =
        indices.map(|index| shard_of(total, index)).collect();
    shards
        .into_iter()
        .map(|shard| key(bulk_pk(bulk_id), &tally_sk(shard)))
        .collect()
}

/// The size of the number set `set` among updated attributes.
fn set_size(attributes: Option<&super::Item>, set: &str) -> u32 {
    let size = attributes
        .and_then(|attributes| attributes.get(set))
        .and_then(|value| value.as_ns().ok())
        .map_or(0, Vec::len);
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// Tally records of a bulk of `total` items: fewer than [`SHARDS`] for small bulks, so that
/// every shard has at least one item.
fn shards(total: u32) -> u32 {
    total.clamp(1, SHARDS)
}

/// The shard that tallies item `index`: shards split `0..total` into ranges of (nearly) equal
/// size, in order.
fn shard_of(total: u32, index: u32) -> u32 {
    let shards = shards(total);
    let shard = u64::from(index) * u64::from(shards) / u64::from(total.max(1));
    u32::try_from(shard).map_or(shards - 1, |shard| shard.min(shards - 1))
}

/// How many of `total` items fall in `shard`: the indexes from the first whose
/// `index * shards / total` reaches `shard` to the first that reaches the next.
fn shard_size(total: u32, shard: u32) -> u32 {
    let (shards, total) = (u64::from(shards(total)), u64::from(total));
    let first = |shard: u64| (shard * total).div_ceil(shards);
    let size = first(u64::from(shard) + 1) - first(u64::from(shard));
    u32::try_from(size).unwrap_or(u32::MAX)
}

impl Store {
    /// Counts terminal items of one bulk towards it, one update per shard they fall in: each
    /// item's index, and for a created one what it cost (`index:cost` in the shard's `spent`
    /// set, which prices a prepaid bulk's refund without reading its items). True when this
    /// made the bulk complete, or found it complete already: the caller then settles the
    /// completion.
    pub async fn tally_items(&self, bulk: &Bulk, items: &[Tallied]) -> Result<bool> {
        let mut by_shard: BTreeMap<u32, Vec<Tallied>> = BTreeMap::new();
        for &item in items {
            by_shard
                .entry(shard_of(bulk.total, item.index))
                .or_default()
                .push(item);
        }
        let tallied = try_join_all(by_shard.iter().map(|(&shard, members)| async move {
            let record = key(bulk_pk(bulk.id), &tally_sk(shard));
            let size = self.tally_shard(record, members, bulk.expires_at).await?;
            Ok::<_, Error>((shard, size >= shard_size(bulk.total, shard)))
        }))
        .await?;
        let full: Vec<u32> = tallied
            .into_iter()
            .filter_map(|(shard, full)| full.then_some(shard))
            .collect();
        if full.is_empty() {
            return Ok(false);
        }
        let filled = self
            .add_to_set(bulk_key(bulk.id), "full_shards", &full, bulk.expires_at)
            .await?;
        Ok(filled >= shards(bulk.total))
    }

    /// Records that the events of `bulk`'s items `indices` were delivered at their first
    /// attempt: one `ADD` to the `delivered` set of each tally record they fall in. Adding is
    /// idempotent, so a batch redelivered after this write repeats it harmlessly. True when it
    /// found one of those sets holding every item of its shard: the bulk's deliveries may all
    /// be settled now, which only then is worth a look.
    pub async fn add_first_deliveries(&self, bulk: &Bulk, indices: &[u32]) -> Result<bool> {
        let mut by_shard: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &index in indices {
            by_shard
                .entry(shard_of(bulk.total, index))
                .or_default()
                .push(index);
        }
        let filled = try_join_all(by_shard.iter().map(|(&shard, members)| async move {
            let record = key(bulk_pk(bulk.id), &tally_sk(shard));
            let size = self
                .add_to_set(record, DELIVERED, members, bulk.expires_at)
                .await?;
            Ok::<_, Error>(size >= shard_size(bulk.total, shard))
        }))
        .await?;
        Ok(filled.into_iter().any(|full| full))
    }

    /// What the bulk's created items cost, from its tally records: one small `Query`. Final
    /// once the bulk is complete.
    pub(super) async fn tally_totals(&self, bulk_id: Uuid) -> Result<Totals> {
        let records = self
            .query_all(
                "pk = :pk AND begins_with(sk, :tally)",
                &[(":pk", s(bulk_pk(bulk_id))), (":tally", s(TALLY_PREFIX))],
            )
            .await?;
        let mut totals = Totals::default();
        for record in &records {
            totals.tallied += set_size(Some(record), ITEMS);
            let Some(entries) = record.get(SPENT).and_then(|set| set.as_ss().ok()) else {
                continue;
            };
            for entry in entries {
                let cost = entry
                    .split_once(':')
                    .and_then(|(_, cost)| cost.parse::<i64>().ok())
                    .ok_or_else(|| Fields(record).corrupt(format!("{SPENT} holds {entry}")))?;
                totals.created += 1;
                totals.spent += cost;
            }
        }
        Ok(totals)
    }

    /// Adds a shard's members to its record, returning how many items it has tallied.
    async fn tally_shard(
        &self,
        record: super::Item,
        members: &[Tallied],
        expires_at: i64,
    ) -> Result<u32> {
        let indexes = members.iter().map(|item| item.index.to_string()).collect();
        let spent: Vec<String> = members
            .iter()
            .filter_map(|item| item.cost.map(|cost| format!("{}:{cost}", item.index)))
            .collect();
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(record))
            .expression_attribute_names("#set", ITEMS)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":members", AttributeValue::Ns(indexes))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::UpdatedNew);
        let add = if spent.is_empty() {
            "ADD #set :members"
        } else {
            update = update
                .expression_attribute_names("#spent", SPENT)
                .expression_attribute_values(":spent", AttributeValue::Ss(spent));
            "ADD #set :members, #spent :spent"
        };
        let output = update
            .update_expression(format!(
                "{add} SET #expires = if_not_exists(#expires, :expires)"
            ))
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(set_size(output.attributes.as_ref(), ITEMS))
    }

    /// Adds `members` to the number set `set` of a record, returning the set's size after.
    async fn add_to_set(
        &self,
        record: super::Item,
        set: &str,
        members: &[u32],
        expires_at: i64,
    ) -> Result<u32> {
        // A set given twice the same member is refused whole (two messages of a batch may
        // name one item: a redelivered batch, a duplicated message).
        let members: std::collections::BTreeSet<String> =
            members.iter().map(ToString::to_string).collect();
        let members = members.into_iter().collect();
        let output = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(record))
            .update_expression("ADD #set :members SET #expires = if_not_exists(#expires, :expires)")
            .expression_attribute_names("#set", set)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":members", AttributeValue::Ns(members))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(set_size(output.attributes.as_ref(), set))
    }

    /// Fixes the bulk's completion: the first caller's `update_id` and time win, and every
    /// caller gets the winning ones back.
    pub async fn complete_bulk(&self, id: Uuid, proposed: &Completion) -> Result<Completion> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(bulk_key(id)))
            .update_expression("SET #id = :id, #at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#id)")
            .expression_attribute_names("#id", COMPLETION_ID)
            .expression_attribute_names("#at", COMPLETED_AT)
            .expression_attribute_values(":id", s(proposed.update_id.to_string()))
            .expression_attribute_values(":at", s(clock::rfc3339(proposed.completed_at)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(proposed.clone()),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let Some(old) = failed.item() else {
                        return Err(Error::CorruptRecord {
                            key: format!("BULK#{id}"),
                            problem: "completed before it existed".into(),
                        });
                    };
                    let fields = Fields(old);
                    Ok(Completion {
                        update_id: fields.parsed(COMPLETION_ID)?,
                        completed_at: fields.parsed(COMPLETED_AT)?,
                    })
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }
}

const LOOK: &str = "completion_look";
const LOOK_AT: &str = "completion_look_at";
const LOOKER: &str = "completion_looker";

impl Store {
    /// The right to make `bulk_completed`'s look number `look` at its items' deliveries: one
    /// waiting copy of the event per bulk. A copy whose look another has already taken is
    /// usually a duplicate (SQS redelivered a message after its successor was queued, or
    /// delivered one twice), but may be the last of its line (its successor died unqueued):
    /// the dispatcher has it stand by and look again once a dead copy's look is stale. A look
    /// not renewed since `stale_before` may be taken again.
    /// `token` tells this caller's own write, applied but unanswered, from another's.
    pub async fn take_completion_look(
        &self,
        id: Uuid,
        look: u32,
        token: Uuid,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(bulk_key(id)))
            .update_expression("SET #look = :look, #at = :now, #looker = :token")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#look) OR #look < :look \
                 OR #at < :stale)",
            )
            .expression_attribute_names("#look", LOOK)
            .expression_attribute_names("#at", LOOK_AT)
            .expression_attribute_names("#looker", LOOKER)
            .expression_attribute_values(":look", n(look))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":stale", n(stale_before.timestamp_millis()))
            .expression_attribute_values(":token", s(token.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(failed
                    .item()
                    .and_then(|old| old.get(LOOKER))
                    .and_then(|looker| looker.as_s().ok())
                    .is_some_and(|looker| *looker == token.to_string())),
                _ => Err(Error::dynamo(error)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_sizes_count_the_indexes_of_each_shard() {
        for total in [1, 2, 15, 16, 17, 63, 999, 1000] {
            for shard in 0..shards(total) {
                let counted = (0..total).filter(|&i| shard_of(total, i) == shard).count();
                assert_eq!(
                    shard_size(total, shard) as usize,
                    counted,
                    "{total}/{shard}"
                );
                assert!(counted > 0, "shard {shard} of {total} is empty");
            }
        }
    }

    #[test]
    fn neighbours_share_a_shard() {
        // A batch of ten neighbours of a 1000-item bulk touches at most two of 16 shards.
        for start in (0..990).step_by(7) {
            let mut touched: Vec<u32> = (start..start + 10).map(|i| shard_of(1000, i)).collect();
            touched.dedup();
            assert!(touched.len() <= 2, "{start}: {touched:?}");
        }
        assert_eq!(shard_of(1000, 0), 0);
        assert_eq!(shard_of(1000, 999), SHARDS - 1);
    }

    #[test]
    fn small_bulks_use_one_shard_per_item() {
        assert_eq!(shards(1), 1);
        assert_eq!(shards(3), 3);
        assert_eq!(
            (0..3).map(|i| shard_of(3, i)).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(shards(1000), SHARDS);
    }
}
