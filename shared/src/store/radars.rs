//! Radars, keyed by their identity, and the one write that creates one.
//!
//! A radar's record is also its identity claim: its key is the account plus a digest of the
//! identity (type and normalised target, see [`crate::radar::Identity`]), so "this identity is
//! taken" is a conditional put, and the record that refuses the put names the radar holding
//! it. The digest keeps keys short whatever the user's text; the identity itself is kept too.
//!
//! [`Store::create_radar`] is one transaction of three writes: the item becomes terminal (only
//! if still queued), the account pays (only if its balance covers the cost) and the radar is
//! put (only if the identity is free). All three or none: a radar is never created without its
//! charge and its recorded outcome, and a redelivered item finds its outcome already decided.

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    },
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Fields, Item, NEW_RECORD, Store,
    accounts::account_key,
    items::{
        MARK_TERMINAL, Outcome, STILL_QUEUED, decided, item_key, mark_terminal_names,
        mark_terminal_values,
    },
    key, n, s,
};
use crate::{Error, Result, radar::Identity};

/// A radar about to be created, with everything its one write needs.
#[derive(Debug)]
pub struct NewRadar<'a> {
    pub account_id: Uuid,
    pub radar_id: Uuid,
    pub identity: &'a Identity,
    /// Credits the account pays.
    pub cost: i64,
    /// The radar as `radar_created.data` shows it, as JSON text.
    pub data: &'a str,
    pub bulk_id: Uuid,
    pub item_index: u32,
    /// The item's `radar_created` outcome.
    pub outcome: &'a Outcome,
}

/// What [`Store::create_radar`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// Created, charged and recorded.
    Created,
    /// An earlier delivery decided the item's outcome: this one. Nothing was written.
    AlreadyDecided(Outcome),
    /// The item is gone (its bulk expired): nothing was written.
    ItemMissing,
    /// Another radar holds the identity: nothing was written.
    Conflict { radar_id: Uuid },
    /// The balance is below the cost: nothing was written.
    InsufficientCredits,
    /// Another transaction touched the same records at the same moment (most often the
    /// account, shared by every item): nothing was written, and trying again is right.
    Contended,
}

fn radar_key(account_id: Uuid, identity: &Identity) -> Item {
    let digest = hex::encode(Sha256::digest(identity.key.as_bytes()));
    key(format!("RADAR#{account_id}#{digest}"), "RADAR")
}

/// The order of the transaction's writes, which is also the order of its cancellation reasons.
const ITEM: usize = 0;
const ACCOUNT: usize = 1;
const RADAR: usize = 2;

impl Store {
    /// Creates a radar, charges its account and records the item's outcome, atomically.
    pub async fn create_radar(&self, radar: &NewRadar<'_>) -> Result<Creation> {
        let mut mark = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(radar.bulk_id, radar.item_index)))
            .update_expression(MARK_TERMINAL)
            .condition_expression(STILL_QUEUED)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attribute) in mark_terminal_names() {
            mark = mark.expression_attribute_names(name, attribute);
        }
        for (name, value) in mark_terminal_values(radar.outcome) {
            mark = mark.expression_attribute_values(name, value);
        }
        let charge = Update::builder()
            .table_name(self.table())
            .set_key(Some(account_key(radar.account_id)))
            .update_expression("SET credits = credits - :cost")
            .condition_expression("credits >= :cost")
            .expression_attribute_values(":cost", n(radar.cost));
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(radar_record(radar)))
            .condition_expression(NEW_RECORD)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = self
            .client()
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(mark.build().map_err(Error::dynamo)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(charge.build().map_err(Error::dynamo)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(Error::dynamo)?)
                    .build(),
            )
            // A retry of this very request (same outcome, same update_id) by the SDK is
            // answered as the first one was, rather than failing on its own first write.
            .client_request_token(radar.outcome.update_id.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Creation::Created),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    why_cancelled(cancelled.cancellation_reasons())
                        .unwrap_or_else(|| Err(Error::dynamo(error)))
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Ok(Creation::Contended)
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }
}

fn radar_record(radar: &NewRadar<'_>) -> Item {
    let mut record = radar_key(radar.account_id, radar.identity);
    record.insert("radar_id".into(), s(radar.radar_id.to_string()));
    record.insert("account_id".into(), s(radar.account_id.to_string()));
    record.insert("identity".into(), s(&radar.identity.key));
    record.insert("data".into(), s(radar.data));
    record.insert("bulk_id".into(), s(radar.bulk_id.to_string()));
    record.insert("item_index".into(), n(radar.item_index));
    record
}

/// Which condition refused the transaction, most decisive first: an item already decided
/// settles everything, a taken identity is a 409 whatever the balance, then the balance.
/// `None` when the reasons name nothing this function knows.
fn why_cancelled(reasons: &[CancellationReason]) -> Option<Result<Creation>> {
    let code = |at: usize| reasons.get(at).and_then(CancellationReason::code);
    if code(ITEM) == Some("ConditionalCheckFailed") {
        return Some(match reasons[ITEM].item() {
            Some(old) => decided(old).map(Creation::AlreadyDecided),
            None => Ok(Creation::ItemMissing),
        });
    }
    if code(RADAR) == Some("ConditionalCheckFailed") {
        let holder = reasons[RADAR]
            .item()
            .map(|old| Fields(old).parsed("radar_id"));
        return Some(match holder {
            Some(radar_id) => radar_id.map(|radar_id| Creation::Conflict { radar_id }),
            // The holder vanished between the check and now: trying again decides it.
            None => Ok(Creation::Contended),
        });
    }
    if code(ACCOUNT) == Some("ConditionalCheckFailed") {
        return Some(Ok(Creation::InsufficientCredits));
    }
    if (0..reasons.len()).any(|at| code(at) == Some("TransactionConflict")) {
        return Some(Ok(Creation::Contended));
    }
    None
}
