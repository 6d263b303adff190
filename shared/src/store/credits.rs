//! What an account pays, and what it gets back: the writes to its balance.
//!
//! A bulk is normally paid for once, up front, when it is accepted ([`Store::accept_bulk`],
//! [`super::bulks::Funding`]); [`Store::refund_unspent`] gives back, once, what its items did
//! not use. A metered bulk pays per creating transaction instead ([`super::radars`]). Every
//! charge is conditional on the balance covering it, so a balance never goes below zero.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Cancelled, Store,
    accounts::account_key,
    backoff,
    bulks::{Bulk, BulkState, Funding, RESERVED, bulk_key},
    items::{ItemState, Outcome},
    n,
};
use crate::{Error, Result, radar::RadarType};

/// The bulk's record of its refund: the credits given back.
const REFUNDED: &str = "refunded";
/// Tries at a refund whose records another transaction holds.
const REFUND_TRIES: u32 = 5;
/// Tries again at an acceptance whose account record another transaction holds.
const ACCEPT_TRIES: u32 = 5;

/// Takes `cost` credits from the account, only if its balance covers them. A failed condition
/// returns the account's record, so the caller can see the balance.
pub(super) fn charge(table: &str, account_id: Uuid, cost: i64) -> Result<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(account_key(account_id)))
        .update_expression("SET credits = credits - :cost")
        .condition_expression("credits >= :cost")
        .expression_attribute_values(":cost", n(cost))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(Error::dynamo)
}

/// Just enough of a `radar_created` to price it.
#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    radar_type: String,
}

/// What a decided item cost its account: its radar type's cost if it became a radar. `None`
/// for a failed item, or an event that names no known type.
pub fn cost_of(outcome: &Outcome) -> Option<i64> {
    if outcome.state != ItemState::Created {
        return None;
    }
    let created: Created = serde_json::from_str(&outcome.event).ok()?;
    RadarType::lookup(&created.data.radar_type).map(|radar_type| radar_type.cost)
}

impl Store {
    /// `submitting` → `accepted`: every item is stored and queued. In the same transaction the
    /// account pays `price` (the cost of the bulk's valid items) up front; when its balance
    /// cannot, the bulk is accepted as [`Funding::Metered`] instead. Paying at acceptance
    /// rather than when the bulk is stored means a submission that fails or is abandoned
    /// before it is accepted has taken nothing, so it has nothing to give back.
    pub async fn accept_bulk(&self, bulk: &Bulk, price: i64) -> Result<Funding> {
        if price > 0 {
            let mut tries = 0;
            loop {
                let accept = self
                    .move_update(bulk.id, BulkState::Submitting, BulkState::Accepted)
                    .update_expression("SET #state = :to, #reserved = :price")
                    .expression_attribute_names("#reserved", RESERVED)
                    .expression_attribute_values(":price", n(price))
                    .build()
                    .map_err(Error::dynamo)?;
                let pay = charge(self.table(), bulk.account_id, price)?;
                let paid = self
                    .client()
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(accept).build())
                    .transact_items(TransactWriteItem::builder().update(pay).build())
                    .send()
                    .await;
                let Err(error) = paid else {
                    return Ok(Funding::Reserved(price));
                };
                match Cancelled::of(&error) {
                    // The balance cannot cover the bulk: it is metered.
                    Cancelled::Condition(1) => break,
                    Cancelled::Condition(_) => return Err(Error::BulkStateChanged(bulk.id)),
                    // The account's record is busy (a metered bulk's batch, a refund): again.
                    Cancelled::Contended if tries < ACCEPT_TRIES => {
                        tries += 1;
                        tokio::time::sleep(backoff::pause(tries)).await;
                    }
                    Cancelled::Contended | Cancelled::Other => return Err(Error::dynamo(error)),
                }
            }
        }
        if self
            .move_bulk(bulk.id, BulkState::Submitting, BulkState::Accepted)
            .await?
        {
            Ok(if price > 0 {
                Funding::Metered
            } else {
                Funding::Reserved(0)
            })
        } else {
            Err(Error::BulkStateChanged(bulk.id))
        }
    }

    /// Gives a complete, prepaid bulk's account back what its items did not spend: the credits
    /// reserved at acceptance less the cost of the radars its items created, as its tally
    /// records them (every item is tallied by now, so the sum is final). Exactly once, however often it is called: the
    /// bulk records the refund in the same transaction. Returns the credits given back by
    /// this call.
    pub async fn refund_unspent(&self, bulk: &Bulk) -> Result<i64> {
        let Funding::Reserved(reserved) = bulk.funding else {
            return Ok(0);
        };
        if reserved == 0 {
            return Ok(0);
        }
        let spent = self.spent(bulk.id).await?;
        let refund = reserved - spent;
        if refund <= 0 {
            if refund < 0 {
                tracing::error!(bulk_id = %bulk.id, reserved, spent, "a bulk spent more than it reserved");
            }
            return Ok(0);
        }
        self.give_back(bulk, refund).await
    }

    async fn give_back(&self, bulk: &Bulk, refund: i64) -> Result<i64> {
        let mut tries = 0;
        loop {
            let mark = Update::builder()
                .table_name(self.table())
                .set_key(Some(bulk_key(bulk.id)))
                .update_expression("SET #refunded = :refund")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#refunded)")
                .expression_attribute_names("#refunded", REFUNDED)
                .expression_attribute_values(":refund", n(refund))
                .build()
                .map_err(Error::dynamo)?;
            let credit = Update::builder()
                .table_name(self.table())
                .set_key(Some(account_key(bulk.account_id)))
                .update_expression("SET credits = credits + :refund")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":refund", n(refund))
                .build()
                .map_err(Error::dynamo)?;
            let result = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark).build())
                .transact_items(TransactWriteItem::builder().update(credit).build())
                .send()
                .await;
            let Err(error) = result else {
                tracing::info!(bulk_id = %bulk.id, refund, "gave back the unspent credits");
                return Ok(refund);
            };
            match Cancelled::of(&error) {
                // Given back already, by an earlier call.
                Cancelled::Condition(0) => return Ok(0),
                Cancelled::Condition(_) => {
                    tracing::warn!(bulk_id = %bulk.id, "the bulk's account is gone; nothing to give back to");
                    return Ok(0);
                }
                Cancelled::Contended if tries < REFUND_TRIES => {
                    tries += 1;
                    tokio::time::sleep(backoff::pause(tries)).await;
                }
                Cancelled::Contended | Cancelled::Other => return Err(Error::dynamo(error)),
            }
        }
    }
}
