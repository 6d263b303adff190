//! What an account pays, and what it gets back: the writes to its balance.
//!
//! A bulk is normally paid for once, up front, when it is accepted ([`Store::accept_bulk`],
//! [`super::bulks::Funding`]); [`Store::settle_bulk`] gives back, once, what its items did
//! not use. A metered bulk pays per creating transaction instead ([`super::radars`]). Every
//! charge is conditional on the balance covering it, so a balance never goes below zero.
//!
//! The account's record also counts what its unsettled bulks hold ([`RESERVED`]): a metered item
//! that finds the balance short while some is held waits for the refunds rather than take a 402
//! that the account's own reserve caused (`processor::create`).

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    Cancelled, Store,
    accounts::account_key,
    backoff,
    bulks::{Bulk, BulkState, Funding, RESERVED, bulk_key},
    index,
    items::{ItemState, Outcome},
    n, s, unless_condition_failed,
    usage::{self, Counted},
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

/// Takes a bulk's `price` from the account, only if its balance covers it, and counts it as
/// held by an unsettled bulk until [`Store::settle_bulk`] releases it.
fn reserve(table: &str, account_id: Uuid, price: i64) -> Result<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(account_key(account_id)))
        .update_expression("SET credits = credits - :price ADD #reserved :price")
        .condition_expression("credits >= :price")
        .expression_attribute_names("#reserved", RESERVED)
        .expression_attribute_values(":price", n(price))
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

/// What settling a prepaid bulk does to its account: the credits it held, and of those, the
/// ones its items did not spend.
#[derive(Debug, Clone, Copy)]
struct Release {
    reserved: i64,
    refund: i64,
}

impl Store {
    /// `submitting` → `accepted`: every item is stored and queued, and the bulk joins its
    /// account's list ([`super::index`]). In the same transaction the
    /// account pays `price` (the cost of the bulk's valid items) up front; when its balance
    /// cannot, the bulk is accepted as [`Funding::Metered`] instead. Paying at acceptance
    /// rather than when the bulk is stored means a submission that fails or is abandoned
    /// before it is accepted has taken nothing, so it has nothing to give back.
    pub async fn accept_bulk(&self, bulk: &Bulk, price: i64) -> Result<Funding> {
        if price > 0 {
            let mut tries = 0;
            loop {
                let [(list_name, list), (id_name, id)] =
                    index::bulk_entry(bulk.account_id, bulk.id);
                let accept = self
                    .move_update(bulk.id, BulkState::Submitting, BulkState::Accepted)
                    .update_expression(
                        "SET #state = :to, #reserved = :price, #apk = :apk, #ask = :ask",
                    )
                    .expression_attribute_names("#reserved", RESERVED)
                    .expression_attribute_values(":price", n(price))
                    .expression_attribute_names("#apk", list_name)
                    .expression_attribute_values(":apk", list)
                    .expression_attribute_names("#ask", id_name)
                    .expression_attribute_values(":ask", id)
                    .build()
                    .map_err(Error::dynamo)?;
                let pay = reserve(self.table(), bulk.account_id, price)?;
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
        let [(list_name, list), (id_name, id)] = index::bulk_entry(bulk.account_id, bulk.id);
        let accepted = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(bulk_key(bulk.id)))
            .update_expression("SET #state = :to, #apk = :apk, #ask = :ask")
            .condition_expression("#state = :from")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":from", s(BulkState::Submitting.to_string()))
            .expression_attribute_values(":to", s(BulkState::Accepted.to_string()))
            .expression_attribute_names("#apk", list_name)
            .expression_attribute_values(":apk", list)
            .expression_attribute_names("#ask", id_name)
            .expression_attribute_values(":ask", id)
            .send()
            .await;
        if unless_condition_failed(accepted)?.is_some() {
            Ok(if price > 0 {
                Funding::Metered
            } else {
                Funding::Reserved(0)
            })
        } else {
            Err(Error::BulkStateChanged(bulk.id))
        }
    }

    /// Settles a complete bulk with its account, exactly once however often it is called: a
    /// prepaid bulk gets back what its items did not spend (the credits reserved at acceptance
    /// less the cost of the radars they created), and the account's usage for the month of
    /// `completed_at` counts the bulk's created and failed items ([`super::usage`]). Both come
    /// from the tally records, final by now, and go in one transaction with the bulk's
    /// `refunded` mark. Returns the credits given back by this call.
    pub async fn settle_bulk(&self, bulk: &Bulk, completed_at: DateTime<Utc>) -> Result<i64> {
        let totals = self.tally_totals(bulk.id).await?;
        let (reserved, refund) = match bulk.funding {
            Funding::Reserved(reserved) => {
                let refund = reserved - totals.spent;
                if refund < 0 {
                    tracing::error!(bulk_id = %bulk.id, reserved, spent = totals.spent, "a bulk spent more than it reserved");
                }
                (reserved, refund.max(0))
            }
            Funding::Metered => (0, 0),
        };
        let counted = Counted {
            activated: u64::from(totals.created),
            failed: u64::from(totals.failed()),
            deactivated: 0,
        };
        if reserved == 0 && counted.is_empty() {
            return Ok(0);
        }
        let release = Release { reserved, refund };
        self.give_back(bulk, release, counted, completed_at).await
    }

    async fn give_back(
        &self,
        bulk: &Bulk,
        Release { reserved, refund }: Release,
        counted: Counted,
        completed_at: DateTime<Utc>,
    ) -> Result<i64> {
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
            let mut settle = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(mark).build());
            if !counted.is_empty() {
                let count = usage::count(self.table(), bulk.account_id, completed_at, counted)?;
                settle = settle.transact_items(TransactWriteItem::builder().update(count).build());
            }
            // Written for every prepaid bulk: what it held is released, and what it did not
            // spend given back. The record is the one every request of the account reads, so a
            // bulk that reserved nothing leaves it be.
            if reserved > 0 {
                let credit = Update::builder()
                    .table_name(self.table())
                    .set_key(Some(account_key(bulk.account_id)))
                    .update_expression("SET credits = credits + :refund ADD #reserved :release")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#reserved", RESERVED)
                    .expression_attribute_values(":refund", n(refund))
                    .expression_attribute_values(":release", n(-reserved))
                    .build()
                    .map_err(Error::dynamo)?;
                settle = settle.transact_items(TransactWriteItem::builder().update(credit).build());
            }
            let result = settle.send().await;
            let Err(error) = result else {
                tracing::info!(bulk_id = %bulk.id, refund, created = counted.activated, failed = counted.failed, "settled the bulk with its account");
                return Ok(refund);
            };
            match Cancelled::of(&error) {
                // Settled already, by an earlier call.
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
