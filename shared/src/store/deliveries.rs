//! Webhook deliveries: one record per event, keyed by its `update_id`, beside its bulk.
//!
//! A delivery is `pending` until an attempt is acknowledged (`delivered`) or the dispatcher
//! gives up on it (`failed`: retries exhausted, 410 Gone, or a refused destination). It
//! counts the attempts made and keeps a log of each (time, HTTP status, latency, error).
//!
//! # First attempts: no claim, and no record when they succeed
//!
//! An item event's first attempt is made without a claim: the dispatcher reads the delivery
//! with its batch's items ([`Store::read_for_batch`]), and if it has no record and its item is
//! not in its tally record's `delivered` set, sends. A success is noted in that set, one
//! update a tally record a batch ([`Store::add_first_deliveries`]), not in a record of its
//! own; a failure writes the delivery's record once with the attempt's result, only if no
//! attempt was recorded meanwhile ([`Claim::first`]). So a delivered event costs a tenth of a
//! write, not one. The price: two workers holding the same message at once (SQS delivering
//! it twice, or a redelivery while the first worker still sends, or one whose batch ended
//! before its set was written) may both send it, with the same `webhook-id` and body.
//! Receivers deduplicate on `webhook-id`, as the Standard Webhooks convention asks.
//!
//! Where an item's event has a record, the record says where it stands; the `delivered`
//! sets speak only for events without one ([`Ledger`]). A second copy whose attempt failed
//! where the first's succeeded writes a record, and its retries then decide.
//!
//! Every later attempt, and every attempt at `bulk_completed`, starts with
//! [`Store::claim_attempt`], a conditional write that succeeds for
//! one caller only: the delivery must be `pending`, must not have counted this attempt yet,
//! and must not be leased to someone else. The winner holds a lease until a deadline; it sends,
//! then records the result with [`Store::mark_delivered`], [`Store::schedule_retry`] or
//! [`Store::mark_given_up`], each conditional on still holding the lease. So a delivery that
//! was acknowledged is never sent again, two workers holding messages for the same attempt do
//! not both send, and a worker that crashed mid-attempt holds it only until its lease lapses.
//!
//! # Why in the bulk's partition
//!
//! Deliveries (`WEBHOOK#<update_id>`) sort after the bulk's items and tally records, so one
//! small `Query` ([`Store::delivery_ledger`]) reads the tallies' `delivered` sets and every
//! delivery record of a bulk without the events themselves: that is how the dispatcher knows
//! when every item's event has been delivered or given up, and `bulk_completed` may go. A
//! poll's `Query` stops before them.

use aws_sdk_dynamodb::{
    operation::update_item::{UpdateItemError, builders::UpdateItemFluentBuilder},
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use std::collections::{BTreeSet, HashSet};

use super::{
    EXPIRES_AT, Fields, Item, Read, SK, Store,
    bulks::{Bulk, bulk_pk},
    completion::{DELIVERED, TALLY_PREFIX, tally_keys},
    items::{ItemRecord, item_key},
    key, n, s, unless_condition_failed,
};
use crate::{Error, Result};

const PREFIX: &str = "WEBHOOK#";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not acknowledged yet; more attempts may come.
    Pending,
    /// A 2xx acknowledged it.
    Delivered,
    /// Given up: no attempt will follow.
    Failed,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            _ => Err(()),
        }
    }
}

/// Which delivery: an event of a bulk, and what the record keeps besides its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryKey {
    pub bulk_id: Uuid,
    pub update_id: Uuid,
    /// The item whose event this is; `None` for `bulk_completed`.
    pub item_index: Option<u32>,
    /// The bulk's `expires_at`: a delivery goes with its bulk.
    pub expires_at: i64,
}

fn delivery_key(bulk_id: Uuid, update_id: Uuid) -> Item {
    key(bulk_pk(bulk_id), &format!("{PREFIX}{update_id}"))
}

/// The attributes that name a delivery (its bulk, its event, its item, its expiry), for an
/// update that may create the record: their clauses are added to `set`, their values to
/// `update`.
fn with_identity(
    mut update: UpdateItemFluentBuilder,
    key: &DeliveryKey,
    set: &mut String,
) -> UpdateItemFluentBuilder {
    set.push_str(
        ", bulk_id = :bulk, update_id = :update, #expires = if_not_exists(#expires, :expires)",
    );
    if let Some(index) = key.item_index {
        set.push_str(", item_index = :index");
        update = update.expression_attribute_values(":index", n(index));
    }
    update
        .expression_attribute_names("#expires", EXPIRES_AT)
        .expression_attribute_values(":bulk", s(key.bulk_id.to_string()))
        .expression_attribute_values(":update", s(key.update_id.to_string()))
        .expression_attribute_values(":expires", n(key.expires_at))
}

/// One attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The HTTP status, if a response came.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed without a response (timeout, connection, refused destination).
    pub error: Option<String>,
}

impl From<&AttemptRecord> for AttributeValue {
    fn from(record: &AttemptRecord) -> Self {
        let mut entry = Item::from([
            ("attempt".to_owned(), n(record.attempt)),
            (
                "at".to_owned(),
                s(record.at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            ),
            ("latency_ms".to_owned(), n(record.latency_ms)),
        ]);
        if let Some(status) = record.status {
            entry.insert("status".into(), n(status));
        }
        if let Some(error) = &record.error {
            entry.insert("error".into(), s(error));
        }
        AttributeValue::M(entry)
    }
}

impl TryFrom<&Item> for AttemptRecord {
    type Error = Error;

    fn try_from(entry: &Item) -> Result<Self> {
        let fields = Fields(entry);
        Ok(Self {
            attempt: fields.number("attempt")?,
            at: fields.parsed("at")?,
            status: fields.optional_number("status")?,
            latency_ms: fields.number("latency_ms")?,
            error: match entry.get("error") {
                None => None,
                Some(_) => Some(fields.string("error")?.to_owned()),
            },
        })
    }
}

/// A delivery as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub update_id: Uuid,
    pub item_index: Option<u32>,
    pub state: DeliveryState,
    /// Attempts counted so far: the last one claimed and recorded.
    pub attempts: u32,
    /// When the next attempt is due, while one is scheduled.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Until when someone holds the current attempt.
    pub lease_until: Option<DateTime<Utc>>,
    /// Every recorded attempt, oldest first.
    pub log: Vec<AttemptRecord>,
    /// Whether it has a record of its own: false for an event delivered at its first attempt,
    /// which only its tally record's `delivered` set notes.
    pub recorded: bool,
}

impl TryFrom<&Item> for Delivery {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        let millis = |name: &str| -> Result<Option<DateTime<Utc>>> {
            Ok(fields
                .optional_number::<i64>(name)?
                .and_then(DateTime::from_timestamp_millis))
        };
        let log = match item.get(LOG) {
            None => Vec::new(),
            Some(AttributeValue::L(entries)) => entries
                .iter()
                .map(|entry| match entry {
                    AttributeValue::M(entry) => AttemptRecord::try_from(entry),
                    _ => Err(fields.corrupt("an attempt is not a map".into())),
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(fields.corrupt(format!("{LOG} is not a list"))),
        };
        Ok(Self {
            update_id: fields.parsed("update_id")?,
            item_index: fields.optional_number("item_index")?,
            state: fields.parsed(STATE)?,
            attempts: fields.number(ATTEMPTS)?,
            next_attempt_at: millis(NEXT_AT)?,
            lease_until: millis(LEASE_UNTIL)?,
            log,
            recorded: true,
        })
    }
}

const STATE: &str = "state";
const ATTEMPTS: &str = "attempts";
const LOG: &str = "attempt_log";
const NEXT_AT: &str = "next_attempt_at";
const LEASE_OWNER: &str = "lease_owner";
const LEASE_UNTIL: &str = "lease_until";

/// The right to make one attempt: until the lease's deadline, or, for a first attempt made
/// without a claim, as long as nobody records that attempt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: DeliveryKey,
    attempt: u32,
    /// The lease's owner; `None` for a first attempt made without a claim.
    token: Option<Uuid>,
}

impl Claim {
    /// The first attempt at a delivery that has no record yet, made without claiming it: its
    /// record is written once, with its result, unless another worker recorded the attempt
    /// first.
    pub fn first(key: DeliveryKey) -> Self {
        Self {
            key,
            attempt: 1,
            token: None,
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the attempt holds a lease (every attempt but a first one made without a claim).
    pub fn is_leased(&self) -> bool {
        self.token.is_some()
    }
}

/// What [`Store::claim_attempt`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This caller makes the attempt.
    Now(Claim),
    /// Someone else holds the delivery until then.
    Busy { until: DateTime<Utc> },
    /// Delivered or given up: nothing more to do.
    Settled(DeliveryState),
    /// Still pending, but this attempt was already made: `attempts` are counted and the next
    /// is due at `next_attempt_at`.
    Spent {
        attempts: u32,
        next_attempt_at: Option<DateTime<Utc>>,
    },
}

impl Store {
    /// Claims `attempt` of a delivery for `lease`, creating the delivery on its first attempt.
    /// Only one caller gets [`Claimed::Now`] for an attempt of a pending delivery, and only
    /// while nobody else's lease runs.
    pub async fn claim_attempt(
        &self,
        delivery: &DeliveryKey,
        attempt: u32,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> Result<Claimed> {
        let token = Uuid::new_v4();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut set = "#state = if_not_exists(#state, :pending), \
                       #attempts = if_not_exists(#attempts, :zero), \
                       #owner = :token, #until = :until"
            .to_owned();
        let update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(delivery_key(delivery.bulk_id, delivery.update_id)))
            .condition_expression(
                "attribute_not_exists(pk) OR (#state = :pending AND #attempts < :attempt \
                 AND (attribute_not_exists(#until) OR #until <= :now))",
            )
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":token", s(token.to_string()))
            .expression_attribute_values(":until", n(until.timestamp_millis()))
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let update = with_identity(update, delivery, &mut set);
        match update.update_expression(format!("SET {set}")).send().await {
            Ok(_) => Ok(Claimed::Now(Claim {
                key: *delivery,
                attempt,
                token: Some(token),
            })),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let Some(old) = failed.item() else {
                        return Err(Error::CorruptRecord {
                            key: format!("{PREFIX}{}", delivery.update_id),
                            problem: "its claim failed while it does not exist".into(),
                        });
                    };
                    let old = Delivery::try_from(old)?;
                    Ok(match old {
                        Delivery { state, .. } if state != DeliveryState::Pending => {
                            Claimed::Settled(state)
                        }
                        Delivery {
                            lease_until: Some(until),
                            ..
                        } if until > now => Claimed::Busy { until },
                        Delivery {
                            attempts,
                            next_attempt_at,
                            ..
                        } if attempts >= attempt => Claimed::Spent {
                            attempts,
                            next_attempt_at,
                        },
                        // The lease lapsed between our write and the read that refused it.
                        _ => Claimed::Busy { until: now },
                    })
                }
                _ => Err(Error::dynamo(error)),
            },
        }
    }

    /// The claimed attempt was acknowledged. False when the lease was lost meanwhile.
    pub async fn mark_delivered(&self, claim: &Claim, record: &AttemptRecord) -> Result<bool> {
        self.settle(claim, record, DeliveryState::Delivered, None)
            .await
    }

    /// The claimed attempt failed; the next one is due at `next_at`. False when the lease was
    /// lost meanwhile.
    pub async fn schedule_retry(
        &self,
        claim: &Claim,
        record: &AttemptRecord,
        next_at: DateTime<Utc>,
    ) -> Result<bool> {
        self.settle(claim, record, DeliveryState::Pending, Some(next_at))
            .await
    }

    /// The claimed attempt failed and no other will follow. False when the lease was lost.
    pub async fn mark_given_up(&self, claim: &Claim, record: &AttemptRecord) -> Result<bool> {
        self.settle(claim, record, DeliveryState::Failed, None)
            .await
    }

    /// Counts the claimed attempt, logs it and releases the lease, if the lease is still ours.
    /// An unclaimed first attempt writes the delivery whole, if no attempt was recorded (and
    /// no lease taken) before it.
    async fn settle(
        &self,
        claim: &Claim,
        record: &AttemptRecord,
        state: DeliveryState,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let key = &claim.key;
        let mut set = "#state = :state, #attempts = :attempt, \
                       #log = list_append(if_not_exists(#log, :empty), :entry)"
            .to_owned();
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(delivery_key(key.bulk_id, key.update_id)))
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#log", LOG)
            .expression_attribute_names("#next", NEXT_AT)
            .expression_attribute_names("#owner", LEASE_OWNER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":attempt", n(claim.attempt))
            .expression_attribute_values(":entry", AttributeValue::L(vec![record.into()]))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()));
        if let Some(token) = claim.token {
            update = update
                .condition_expression("#owner = :token")
                .expression_attribute_values(":token", s(token.to_string()));
        } else {
            update = with_identity(update, key, &mut set)
                .condition_expression(
                    "attribute_not_exists(pk) OR (#state = :pending AND #attempts < :attempt \
                     AND (attribute_not_exists(#until) OR #until <= :at))",
                )
                .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
                .expression_attribute_values(":at", n(record.at.timestamp_millis()));
        }
        update = match next_at {
            Some(at) => update
                .expression_attribute_values(":next", n(at.timestamp_millis()))
                .update_expression(format!("SET {set}, #next = :next REMOVE #owner, #until")),
            None => update.update_expression(format!("SET {set} REMOVE #owner, #until, #next")),
        };
        Ok(unless_condition_failed(update.send().await)?.is_some())
    }

    /// What a dispatcher batch needs of one bulk, in one read (a BatchGetItem per 100 keys):
    /// the items at `indices`, and for the first attempts it holds (`first_attempts`, each an
    /// item's index and its event's `update_id`), their delivery records and the tally records
    /// whose `delivered` sets say whether the event was delivered at its first attempt already.
    pub async fn read_for_batch(
        &self,
        bulk: &Bulk,
        indices: &[u32],
        first_attempts: &[(u32, Uuid)],
    ) -> Result<BatchRead> {
        let tallies = tally_keys(
            bulk.id,
            bulk.total,
            first_attempts.iter().map(|&(index, _)| index),
        );
        let keys = indices
            .iter()
            .map(|&index| item_key(bulk.id, index))
            .chain(
                first_attempts
                    .iter()
                    .map(|&(_, id)| delivery_key(bulk.id, id)),
            )
            .chain(tallies)
            .collect();
        let mut read = BatchRead::default();
        for record in self.batch_get(keys).await? {
            match Kind::of(&record) {
                Kind::Delivery => read.deliveries.push(Delivery::try_from(&record)?),
                Kind::Tally => read.delivered_first.extend(delivered_set(&record)?),
                Kind::Item => read.items.push(ItemRecord::try_from(&record)?),
            }
        }
        Ok(read)
    }

    /// One delivery, as it stands now.
    pub async fn get_delivery(&self, bulk_id: Uuid, update_id: Uuid) -> Result<Option<Delivery>> {
        let item = self
            .get(delivery_key(bulk_id, update_id), Read::Strong)
            .await?;
        item.as_ref().map(Delivery::try_from).transpose()
    }

    /// Where a bulk's deliveries stand, without the events: one strongly consistent `Query` of
    /// its tally records and the `WEBHOOK#…` records that sort after them. Enough to count
    /// what is settled; [`Store::deliveries`] names each delivery.
    pub async fn delivery_ledger(&self, bulk_id: Uuid) -> Result<Ledger> {
        let mut ledger = Ledger::default();
        let records = self
            .query_all(
                "pk = :pk AND sk >= :from",
                &[(":pk", s(bulk_pk(bulk_id))), (":from", s(TALLY_PREFIX))],
            )
            .await?;
        for record in &records {
            match Kind::of(record) {
                Kind::Delivery => ledger.records.push(Delivery::try_from(record)?),
                Kind::Tally => ledger.delivered_first.extend(delivered_set(record)?),
                // Nothing else sorts after the tallies; a stray record is none of ours.
                Kind::Item => {}
            }
        }
        Ok(ledger)
    }

    /// Every delivery of a bulk's events, each as a [`Delivery`]: the records, and for an item
    /// delivered at its first attempt without one, a delivery made of what that says
    /// (delivered, one attempt, no log; [`Delivery::recorded`] false), its `update_id` read
    /// from the item. For operators and checks; the dispatcher counts with the ledger alone.
    pub async fn deliveries(&self, bulk_id: Uuid) -> Result<Vec<Delivery>> {
        let Ledger {
            mut records,
            delivered_first,
        } = self.delivery_ledger(bulk_id).await?;
        let recorded: BTreeSet<u32> = records.iter().filter_map(|d| d.item_index).collect();
        let unrecorded: Vec<Item> = delivered_first
            .difference(&recorded)
            .map(|&index| item_key(bulk_id, index))
            .collect();
        for item in self.batch_get(unrecorded).await? {
            let item = ItemRecord::try_from(&item)?;
            if let Some(outcome) = item.outcome {
                records.push(Delivery {
                    update_id: outcome.update_id,
                    item_index: Some(item.index),
                    state: DeliveryState::Delivered,
                    attempts: 1,
                    next_attempt_at: None,
                    lease_until: None,
                    log: Vec::new(),
                    recorded: false,
                });
            }
        }
        Ok(records)
    }

    /// Writes the record of a delivery made at its first attempt without one (delivered, one
    /// attempt, an empty log), so that it can be reopened for a resend. Nothing if it has a
    /// record already.
    pub async fn record_first_delivery(&self, key: &DeliveryKey) -> Result<()> {
        let mut set = "#state = :delivered, #attempts = :one".to_owned();
        let update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(delivery_key(key.bulk_id, key.update_id)))
            .condition_expression("attribute_not_exists(pk)")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_values(":delivered", s(DeliveryState::Delivered.as_str()))
            .expression_attribute_values(":one", n(1));
        let update = with_identity(update, key, &mut set);
        unless_condition_failed(update.update_expression(format!("SET {set}")).send().await)?;
        Ok(())
    }
}

/// What [`Store::read_for_batch`] found.
#[derive(Debug, Default)]
pub struct BatchRead {
    pub items: Vec<ItemRecord>,
    /// The records of the first attempts asked about that have one.
    pub deliveries: Vec<Delivery>,
    /// Items (of the tally records read, which may be more than were asked about) whose event
    /// was delivered at its first attempt.
    pub delivered_first: HashSet<u32>,
}

/// A bulk's deliveries as its partition holds them.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The delivery records: every event whose first attempt failed, every `bulk_completed`,
    /// and any reopened for a resend.
    pub records: Vec<Delivery>,
    /// Items whose event was delivered at its first attempt (the tally records' sets).
    pub delivered_first: BTreeSet<u32>,
}

impl Ledger {
    /// Items whose event was delivered or given up. Each item has one event, so one delivery:
    /// when this reaches the bulk's total, `bulk_completed` may go. A record, where an item's
    /// event has one, says where it stands (a second copy of a first attempt may have failed
    /// where the first succeeded: the record's retries decide); the `delivered` sets speak
    /// for the rest.
    pub fn items_settled(&self) -> u32 {
        let recorded: BTreeSet<u32> = self.records.iter().filter_map(|d| d.item_index).collect();
        let settled_records = self
            .records
            .iter()
            .filter(|d| d.item_index.is_some() && d.state != DeliveryState::Pending)
            .count();
        let unrecorded = self.delivered_first.difference(&recorded).count();
        u32::try_from(settled_records + unrecorded).unwrap_or(u32::MAX)
    }
}

/// Which of a bulk's records a read returned.
enum Kind {
    Item,
    Tally,
    Delivery,
}

impl Kind {
    fn of(record: &Item) -> Self {
        let sk = record.get(SK).and_then(|sk| sk.as_s().ok());
        match sk {
            Some(sk) if sk.starts_with(PREFIX) => Self::Delivery,
            Some(sk) if sk.starts_with(TALLY_PREFIX) => Self::Tally,
            _ => Self::Item,
        }
    }
}

/// A tally record's `delivered` set.
fn delivered_set(record: &Item) -> Result<Vec<u32>> {
    let Some(set) = record.get(DELIVERED) else {
        return Ok(Vec::new());
    };
    let fields = Fields(record);
    set.as_ns()
        .map_err(|_| fields.corrupt(format!("{DELIVERED} is not a number set")))?
        .iter()
        .map(|index| {
            index
                .parse()
                .map_err(|_| fields.corrupt(format!("{DELIVERED} holds {index}")))
        })
        .collect()
}

impl Store {
    /// Reopens a delivery so that the dispatcher makes one more attempt (`radarctl delivery
    /// resend`, which then queues that attempt, numbered `attempts + 1`): it is `pending` again
    /// and keeps its attempt count and its log. Only a delivery that has counted `attempts` (as
    /// the caller read it, so the attempt it queues is the next one) and that was delivered or
    /// given up, or was reopened already and its attempt has not begun (pending, no retry
    /// scheduled: a resend whose message was lost can be made again). Never while someone holds
    /// a lease on it: an attempt under way finishes as it would have. False when it is not so.
    pub async fn reopen_for_resend(
        &self,
        bulk_id: Uuid,
        update_id: Uuid,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(delivery_key(bulk_id, update_id)))
            .condition_expression(
                "#attempts = :attempts \
                 AND (attribute_not_exists(#until) OR #until <= :now) \
                 AND (#state IN (:delivered, :failed) \
                      OR (#state = :pending AND attribute_not_exists(#next)))",
            )
            .update_expression("SET #state = :pending")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#next", NEXT_AT)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":attempts", n(attempts))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":pending", s(DeliveryState::Pending.as_str()))
            .expression_attribute_values(":delivered", s(DeliveryState::Delivered.as_str()))
            .expression_attribute_values(":failed", s(DeliveryState::Failed.as_str()));
        Ok(unless_condition_failed(update.send().await)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: Option<u32>, state: DeliveryState) -> Delivery {
        Delivery {
            update_id: Uuid::new_v4(),
            item_index: index,
            state,
            attempts: 1,
            next_attempt_at: None,
            lease_until: None,
            log: Vec::new(),
            recorded: true,
        }
    }

    #[test]
    fn a_record_says_where_its_item_stands_and_the_sets_speak_for_the_rest() {
        let ledger = Ledger {
            records: vec![
                // A second copy failed where the first succeeded: its retries decide.
                record(Some(0), DeliveryState::Pending),
                record(Some(1), DeliveryState::Failed),
                record(Some(2), DeliveryState::Delivered),
                // bulk_completed is not an item's.
                record(None, DeliveryState::Delivered),
            ],
            delivered_first: BTreeSet::from([0, 3, 4]),
        };
        assert_eq!(ledger.items_settled(), 4, "1, 2, 3 and 4");
        assert_eq!(Ledger::default().items_settled(), 0);
    }
}
