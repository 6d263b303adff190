//! Noticing that a bulk is done, exactly once, without one hot counter.
//!
//! Each terminal item adds its index to one of up to [`SHARDS`] tally records of its bulk
//! (`TALLY#<shard>`, shard = index mod shards). Adding to a set is idempotent, so an item
//! tallied twice (a redelivery, or a crash between its outcome and its tally) counts once,
//! and a crash between the two only delays the tally until the redelivery makes it. The
//! update returns the set, so the item that fills a shard knows it; it then adds the shard to
//! the bulk's own set of full shards, and the item that fills that one knows the bulk is done.
//! Plain updates never conflict the way transactions do, and spreading items over shards keeps
//! each record small (an update's cost grows with the record).
//!
//! "Done" can be observed more than once (a redelivery of the last item sees full sets again),
//! so [`Store::complete_bulk`] fixes the completion with a conditional write: the first caller
//! sets its `update_id`, and every caller gets the same one back.

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};
use uuid::Uuid;

use super::{
    EXPIRES_AT, Fields, Store,
    bulks::{Bulk, COMPLETED_AT, COMPLETION_ID, Completion, bulk_key, bulk_pk},
    key, n, s,
};
use crate::{Error, Result};

/// Most tally records per bulk.
pub const SHARDS: u32 = 16;

/// Tally records of a bulk of `total` items: fewer than [`SHARDS`] for small bulks, so that
/// every shard has at least one item.
fn shards(total: u32) -> u32 {
    total.clamp(1, SHARDS)
}

/// How many of `total` items fall in `shard`.
fn shard_size(total: u32, shard: u32) -> u32 {
    let shards = shards(total);
    total / shards + u32::from(shard < total % shards)
}

impl Store {
    /// Counts a terminal item towards its bulk. True when this made the bulk complete, or
    /// found it complete already: the caller then settles the completion.
    pub async fn tally_item(&self, bulk: &Bulk, index: u32) -> Result<bool> {
        let shards = shards(bulk.total);
        let shard = index % shards;
        let tallied = self
            .add_to_set(
                key(bulk_pk(bulk.id), &format!("TALLY#{shard:02}")),
                "items",
                index,
                bulk.expires_at,
            )
            .await?;
        if tallied < shard_size(bulk.total, shard) {
            return Ok(false);
        }
        let full = self
            .add_to_set(bulk_key(bulk.id), "full_shards", shard, bulk.expires_at)
            .await?;
        Ok(full >= shards)
    }

    /// Adds `member` to the number set `set` of a record, returning the set's size after.
    async fn add_to_set(
        &self,
        record: super::Item,
        set: &str,
        member: u32,
        expires_at: i64,
    ) -> Result<u32> {
        let output = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(record))
            .update_expression("ADD #set :member SET #expires = if_not_exists(#expires, :expires)")
            .expression_attribute_names("#set", set)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":member", AttributeValue::Ns(vec![member.to_string()]))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(Error::dynamo)?;
        let size = output
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(set))
            .and_then(|value| value.as_ns().ok())
            .map_or(0, Vec::len);
        Ok(u32::try_from(size).unwrap_or(u32::MAX))
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
            .expression_attribute_values(":at", s(&proposed.completed_at))
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
                        completed_at: fields.string(COMPLETED_AT)?.to_owned(),
                    })
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_sizes_add_up_to_the_total() {
        for total in [1, 2, 15, 16, 17, 999, 1000] {
            let sum: u32 = (0..shards(total)).map(|s| shard_size(total, s)).sum();
            assert_eq!(sum, total, "total {total}");
            let counted = |shard| (0..total).filter(|i| i % shards(total) == shard).count();
            for shard in 0..shards(total) {
                assert_eq!(shard_size(total, shard) as usize, counted(shard));
            }
        }
    }

    #[test]
    fn small_bulks_use_one_shard_per_item() {
        assert_eq!(shards(1), 1);
        assert_eq!(shards(3), 3);
        assert_eq!(shards(1000), SHARDS);
    }
}
