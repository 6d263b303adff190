//! A single create (`POST /v1/radars/companies` and its siblings): one radar, created and paid
//! for at once.
//!
//! One transaction: the radar's record (only if its identity is free: the same claim a bulk
//! item makes, so the two paths conflict with each other whichever came first), the charge
//! (only if the balance covers it) and the month's usage count. Nothing is written unless all
//! three are, so a `402` charges nothing and a `409` creates nothing.

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Fields, NEW_RECORD, Store, backoff, credits,
    radars::{CONTENDED_TRIES, active_radar},
    usage::{self, Counted},
};
use crate::{Error, Result, radar::Identity};

/// A radar about to be created on its own.
#[derive(Debug)]
pub struct SingleRadar<'a> {
    pub radar_id: Uuid,
    pub identity: &'a Identity,
    /// Credits the account pays.
    pub cost: i64,
    /// The radar as its `radar_created` data would show it, as JSON text.
    pub data: &'a str,
    pub webhook_url: Option<&'a str>,
}

/// What became of a single create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single {
    Created,
    /// Another radar holds the identity.
    Conflict {
        radar_id: Uuid,
    },
    /// The balance does not cover the radar.
    InsufficientCredits,
}

impl Store {
    /// Creates, charges and counts one radar of `account_id` as of `now`, or says why not.
    pub async fn create_single(
        &self,
        account_id: Uuid,
        radar: &SingleRadar<'_>,
        now: DateTime<Utc>,
    ) -> Result<Single> {
        let mut tries = 0;
        loop {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(active_radar(
                    account_id,
                    radar.radar_id,
                    radar.identity,
                    radar.data,
                    radar.webhook_url,
                )))
                .condition_expression(NEW_RECORD)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(Error::dynamo)?;
            let charge = credits::charge(self.table(), account_id, radar.cost)?;
            let count = usage::count(
                self.table(),
                account_id,
                now,
                Counted {
                    activated: 1,
                    ..Counted::default()
                },
            )?;
            let result = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(TransactWriteItem::builder().update(charge).build())
                .transact_items(TransactWriteItem::builder().update(count).build())
                .send()
                .await;
            let Err(error) = result else {
                return Ok(Single::Created);
            };
            if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                error.as_service_error()
            {
                let reasons = cancelled.cancellation_reasons();
                let failed = |at: usize| {
                    reasons
                        .get(at)
                        .and_then(|reason| reason.code())
                        .is_some_and(|code| code == "ConditionalCheckFailed")
                };
                if failed(0) {
                    if let Some(holder) = reasons[0].item() {
                        return Ok(Single::Conflict {
                            radar_id: Fields(holder).parsed("radar_id")?,
                        });
                    }
                } else if failed(1) {
                    return Ok(Single::InsufficientCredits);
                }
            }
            // Another transaction held a record (the account's, most likely), or a key was
            // throttled: nothing was written, and the same transaction may go again.
            match super::Cancelled::of(&error) {
                super::Cancelled::Contended | super::Cancelled::Condition(_)
                    if tries + 1 < CONTENDED_TRIES =>
                {
                    tries += 1;
                    tokio::time::sleep(backoff::pause(tries)).await;
                }
                super::Cancelled::Contended | super::Cancelled::Condition(_) => {
                    return Err(Error::Contended {
                        what: "creating a radar",
                        tries: tries + 1,
                    });
                }
                super::Cancelled::Other => return Err(Error::dynamo(error)),
            }
        }
    }
}
