//! Radars, keyed by their identity, and the one write that creates a batch of them.
//!
//! A radar's record is also its identity claim: its key is the account plus a digest of the
//! identity (type and normalised target, see [`crate::radar::Identity`]), so "this identity is
//! taken" is a conditional put, and the record that refuses the put names the radar holding
//! it. The digest keeps keys short whatever the user's text; the identity itself is kept too.
//!
//! A prepaid bulk's radar is put on its own ([`Store::put_radar`]): it was paid for when its
//! bulk was accepted, and its item's outcome is the next, separate write. The record names its
//! item (`bulk_id`, `item_index`), so a redelivery recognises its own radar, and a radar whose
//! item ended otherwise is deleted by that name ([`Store::drop_radar`]).
//!
//! [`Store::create_radars`] creates up to a batch of a metered bulk's radars (one account) in one
//! transaction:
//! for each radar, its item's outcome is recorded (only if it has none yet) and the radar is
//! put (only if its identity is free); and the account pays for all of them at once (only if its balance
//! covers the sum). All or nothing: a radar never exists without its charge and its recorded
//! outcome, and a redelivered item finds its outcome already decided. One charge per batch
//! rather than per item means the account record, which every item of every bulk of the
//! account touches, meets a tenth of the transactions it otherwise would.
//!
//! A cancelled transaction says which condition failed for which write. Radars whose item was
//! decided meanwhile, or whose identity is taken, leave the batch with that answer, and the
//! rest are tried again; when only the balance falls short, the radars that fit it (in the
//! order given) are tried again and the others are refused.

use aws_sdk_dynamodb::{
    operation::{
        delete_item::DeleteItemError, put_item::PutItemError,
        transact_write_items::TransactWriteItemsError,
    },
    types::{CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Fields, Item, NEW_RECORD, Store,
    bulks::RESERVED,
    index,
    items::{Outcome, UNDECIDED, decided, outcome_record, undecided_names, undecided_values},
    key, n, s,
};
use crate::{Error, Result, radar::Identity};

/// A radar about to be created, with everything its write needs.
#[derive(Debug)]
pub struct NewRadar<'a> {
    pub radar_id: Uuid,
    pub identity: &'a Identity,
    /// Credits the account pays.
    pub cost: i64,
    /// The radar as `radar_created.data` shows it, as JSON text.
    pub data: &'a str,
    pub bulk_id: Uuid,
    pub item_index: u32,
    /// The bulk's `webhook_url`: where the radar's own events would go.
    pub webhook_url: &'a str,
    /// The bulk's `expires_at`: the item's record goes with its bulk.
    pub expires_at: i64,
    /// The item's `radar_created` outcome.
    pub outcome: &'a Outcome,
}

/// What became of one radar of [`Store::create_radars`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Creation {
    /// Created, charged and recorded.
    Created,
    /// An earlier delivery decided the item's outcome: this one. Nothing was written.
    AlreadyDecided(Outcome),
    /// Another radar holds the identity: nothing was written.
    Conflict { radar_id: Uuid },
    /// The balance does not cover it: nothing was written.
    InsufficientCredits,
    /// The balance does not cover it, but the account's unsettled prepaid bulks hold credits
    /// that their completions may give back: nothing was written, and trying again once they
    /// settle is right.
    AwaitingRefunds,
    /// It kept meeting concurrent transactions on the same records: nothing was written, and
    /// trying again later is right.
    Contended,
}

/// DynamoDB's limit is 100 writes a transaction: two per radar and the charge.
pub const MAX_BATCH: usize = 49;
/// Tries at a transaction that meets concurrent ones or a throttled key, with exponential
/// backoff and full jitter between them (`store::backoff`): about 1.5 s of pauses on average and
/// 3.1 s at most, well within the function's timeout, before the batch is left to SQS.
pub const CONTENDED_TRIES: u32 = 6;

pub(super) fn radar_key(account_id: Uuid, identity: &Identity) -> Item {
    let digest = hex::encode(Sha256::digest(identity.key.as_bytes()));
    key(format!("RADAR#{account_id}#{digest}"), "RADAR")
}

impl Store {
    /// Creates `radars` of one account: each is created, charged and recorded, or refused with
    /// the reason, atomically per transaction. The answers are in the order of `radars`.
    pub async fn create_radars(
        &self,
        account_id: Uuid,
        radars: &[NewRadar<'_>],
    ) -> Result<Vec<Creation>> {
        assert!(
            radars.len() <= MAX_BATCH,
            "at most {MAX_BATCH} radars a transaction"
        );
        let mut answers: Vec<Option<Creation>> = vec![None; radars.len()];
        let mut contended = 0;
        loop {
            let round = next_round(radars, &answers);
            if round.is_empty() {
                return Ok(answers
                    .into_iter()
                    .map(|answer| answer.unwrap_or(Creation::Contended))
                    .collect());
            }
            match self
                .try_round(account_id, radars, &round, contended)
                .await?
            {
                Round::Done(settled) if !settled.is_empty() => {
                    for (at, creation) in settled {
                        answers[at] = Some(creation);
                    }
                }
                // Nothing settled (a holder vanished, or the balance moved between the check
                // and its report): as good as meeting a concurrent transaction.
                Round::Done(_) | Round::Contended => {
                    contended += 1;
                    if contended == CONTENDED_TRIES {
                        for at in round {
                            answers[at] = Some(Creation::Contended);
                        }
                    } else {
                        tokio::time::sleep(super::backoff::pause(contended)).await;
                    }
                }
            }
        }
    }

    /// One transaction: the round's radars and their charge. `tried` is how many tries of this
    /// round met contention before, which makes its idempotency token its own.
    async fn try_round(
        &self,
        account_id: Uuid,
        radars: &[NewRadar<'_>],
        round: &[usize],
        tried: u32,
    ) -> Result<Round> {
        let cost: i64 = round.iter().map(|&at| radars[at].cost).sum();
        let mut request = self.client().transact_write_items();
        for &at in round {
            let (mark, put) = self.writes(account_id, &radars[at])?;
            request = request.transact_items(mark).transact_items(put);
        }
        let charge = super::credits::charge(self.table(), account_id, cost)?;
        let result = request
            .transact_items(TransactWriteItem::builder().update(charge).build())
            // A retry of this very request by the SDK is answered as the first one was. Each try
            // of the round has a token of its own: DynamoDB may answer a token it has seen with
            // the first call's cancellation, so a shared one would make tries 2 and on do
            // nothing. A fresh one is safe: every write is conditional (an outcome once, a radar
            // once, a charge only with the balance), so a try after one that committed unseen
            // is refused, and its reasons name the outcomes already stored.
            .client_request_token(token(
                round.iter().map(|&at| radars[at].outcome.update_id),
                tried,
            ))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(Round::Done(
                round.iter().map(|&at| (at, Creation::Created)).collect(),
            ));
        };
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                match why_cancelled(radars, round, reasons)? {
                    Some(round) => Ok(round),
                    None => Err(Error::dynamo(error)),
                }
            }
            // Another call with this token is under way, or the key is throttled past the SDK's
            // own retries: as good as meeting a concurrent transaction.
            Some(
                TransactWriteItemsError::TransactionInProgressException(_)
                | TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                | TransactWriteItemsError::ThrottlingException(_)
                | TransactWriteItemsError::RequestLimitExceeded(_),
            ) => Ok(Round::Contended),
            _ => Err(Error::dynamo(error)),
        }
    }

    /// One radar's two writes: its item's outcome is recorded, and the radar is put.
    fn writes(
        &self,
        account_id: Uuid,
        radar: &NewRadar<'_>,
    ) -> Result<(TransactWriteItem, TransactWriteItem)> {
        let mut mark = Put::builder()
            .table_name(self.table())
            .set_item(Some(outcome_record(
                radar.bulk_id,
                radar.item_index,
                radar.outcome,
                radar.expires_at,
            )))
            .condition_expression(UNDECIDED)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, attribute) in undecided_names() {
            mark = mark.expression_attribute_names(name, attribute);
        }
        for (name, value) in undecided_values() {
            mark = mark.expression_attribute_values(name, value);
        }
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(radar_record(account_id, radar)))
            .condition_expression(NEW_RECORD)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        Ok((
            TransactWriteItem::builder()
                .put(mark.build().map_err(Error::dynamo)?)
                .build(),
            TransactWriteItem::builder()
                .put(put.build().map_err(Error::dynamo)?)
                .build(),
        ))
    }
}

/// What [`Store::put_radar`] found at the radar's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The radar is stored now.
    New,
    /// An earlier delivery of the same item stored its radar: this one, as `radar_created`
    /// shows it.
    Earlier { radar_id: Uuid, data: String },
    /// Another radar holds the identity.
    Taken { radar_id: Uuid },
}

impl Store {
    /// Stores a radar of a prepaid bulk on its own, only if its identity is free: the first of
    /// the two plain writes that create a prepaid item (the second records its outcome). A
    /// radar names its item, so a redelivery finds its own radar rather than a conflict.
    pub async fn put_radar(&self, account_id: Uuid, radar: &NewRadar<'_>) -> Result<Claimed> {
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(radar_record(account_id, radar)))
            .condition_expression(NEW_RECORD)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let Err(error) = result else {
            return Ok(Claimed::New);
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = error.as_service_error()
        else {
            return Err(Error::dynamo(error));
        };
        let Some(holder) = failed.item() else {
            return Err(Error::dynamo(error));
        };
        let fields = Fields(holder);
        let radar_id = fields.parsed("radar_id")?;
        let same_item = fields.parsed::<Uuid>("bulk_id").ok() == Some(radar.bulk_id)
            && fields.optional_number::<u32>("item_index")? == Some(radar.item_index);
        Ok(if same_item {
            Claimed::Earlier {
                radar_id,
                data: fields.string("data")?.to_owned(),
            }
        } else {
            Claimed::Taken { radar_id }
        })
    }

    /// Deletes the radar at `identity` if it is the one item `item_index` of `bulk_id` stored
    /// (and, when given, has id `radar_id`): a radar whose item ended otherwise, which must
    /// not stand. True when one was deleted.
    pub async fn drop_radar(
        &self,
        account_id: Uuid,
        identity: &Identity,
        bulk_id: Uuid,
        item_index: u32,
        radar_id: Option<Uuid>,
    ) -> Result<bool> {
        let mut condition = "bulk_id = :bulk AND item_index = :index".to_owned();
        let mut delete = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(radar_key(account_id, identity)))
            .expression_attribute_values(":bulk", s(bulk_id.to_string()))
            .expression_attribute_values(":index", n(item_index));
        if let Some(radar_id) = radar_id {
            condition.push_str(" AND radar_id = :radar");
            delete = delete.expression_attribute_values(":radar", s(radar_id.to_string()));
        }
        match delete.condition_expression(condition).send().await {
            Ok(_) => Ok(true),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(Error::dynamo(error)),
        }
    }
}

/// What one transaction settled.
#[derive(Debug)]
enum Round {
    /// Answers for some radars of the round (all of them when it committed); the others are
    /// tried again.
    Done(Vec<(usize, Creation)>),
    /// It met concurrent transactions: try the same round again.
    Contended,
}

/// The undecided radars that can share one transaction: a transaction may not write one record
/// twice, so of two radars with one identity (or two deliveries of one item) only the first
/// goes now; the second goes next round and finds the first's answer.
fn next_round(radars: &[NewRadar<'_>], answers: &[Option<Creation>]) -> Vec<usize> {
    let mut round: Vec<usize> = Vec::new();
    for (at, radar) in radars.iter().enumerate() {
        let clashes = round.iter().any(|&other| {
            radars[other].identity.key == radar.identity.key
                || (radars[other].bulk_id, radars[other].item_index)
                    == (radar.bulk_id, radar.item_index)
        });
        if answers[at].is_none() && !clashes {
            round.push(at);
        }
    }
    round
}

fn radar_record(account_id: Uuid, radar: &NewRadar<'_>) -> Item {
    let mut record = active_radar(
        account_id,
        radar.radar_id,
        radar.identity,
        radar.data,
        Some(radar.webhook_url),
    );
    record.insert("bulk_id".into(), s(radar.bulk_id.to_string()));
    record.insert("item_index".into(), n(radar.item_index));
    record
}

/// An active radar's record: its identity claim, and its entry in the account index.
pub(super) fn active_radar(
    account_id: Uuid,
    radar_id: Uuid,
    identity: &Identity,
    data: &str,
    webhook_url: Option<&str>,
) -> Item {
    let mut record = radar_key(account_id, identity);
    record.insert("radar_id".into(), s(radar_id.to_string()));
    record.insert("account_id".into(), s(account_id.to_string()));
    record.insert("identity".into(), s(&identity.key));
    record.insert("data".into(), s(data));
    if let Some(url) = webhook_url {
        record.insert("webhook_url".into(), s(url));
    }
    record.extend(index::radar_entry(account_id, radar_id));
    record
}

/// Reads a cancellation: the writes are two per radar of the round (item, radar) in round
/// order, then the charge. `None` when the reasons name nothing this function knows.
fn why_cancelled(
    radars: &[NewRadar<'_>],
    round: &[usize],
    reasons: &[CancellationReason],
) -> Result<Option<Round>> {
    const FAILED: &str = "ConditionalCheckFailed";
    let code = |at: usize| reasons.get(at).and_then(CancellationReason::code);
    let mut settled = Vec::new();
    for (position, &at) in round.iter().enumerate() {
        let (item, radar) = (2 * position, 2 * position + 1);
        if code(item) == Some(FAILED) {
            // A failed condition names the outcome that refused it.
            if let Some(old) = reasons[item].item() {
                settled.push((at, Creation::AlreadyDecided(decided(old)?)));
            }
        } else if code(radar) == Some(FAILED) {
            // A holder that vanished between the check and now leaves the radar for next round.
            if let Some(old) = reasons[radar].item() {
                let radar_id = Fields(old).parsed("radar_id")?;
                settled.push((at, Creation::Conflict { radar_id }));
            }
        }
    }
    if !settled.is_empty() {
        return Ok(Some(Round::Done(settled)));
    }
    let charge = 2 * round.len();
    if code(charge) == Some(FAILED) {
        let (balance, reserved) = match reasons[charge].item() {
            Some(account) => {
                let fields = Fields(account);
                let reserved: Option<i64> = fields.optional_number(RESERVED)?;
                (fields.number("credits")?, reserved.unwrap_or(0))
            }
            None => (0, 0),
        };
        let short = if reserved > 0 {
            Creation::AwaitingRefunds
        } else {
            Creation::InsufficientCredits
        };
        return Ok(Some(Round::Done(within_balance(
            radars, round, balance, &short,
        ))));
    }
    // Another transaction holds one of the records, or one's partition is past its
    // throughput: nothing was written, and the same round can go again after a pause.
    let transient = |code| matches!(code, Some("TransactionConflict" | "ThrottlingError"));
    if (0..reasons.len()).any(|at| transient(code(at))) {
        return Ok(Some(Round::Contended));
    }
    Ok(None)
}

/// The radars of a round that the balance refuses, answered `short`: those past the longest
/// prefix it covers. The ones it covers get no answer, so they are tried again.
fn within_balance(
    radars: &[NewRadar<'_>],
    round: &[usize],
    balance: i64,
    short: &Creation,
) -> Vec<(usize, Creation)> {
    let mut left = balance;
    let mut refused = Vec::new();
    for &at in round {
        if refused.is_empty() && radars[at].cost <= left {
            left -= radars[at].cost;
        } else {
            refused.push((at, short.clone()));
        }
    }
    refused
}

/// A client request token naming a round: the same radars with the same outcomes give the same
/// token, so only a true retry of a request is deduplicated by DynamoDB.
fn token(update_ids: impl Iterator<Item = Uuid>, tried: u32) -> String {
    let mut hash = Sha256::new();
    for id in update_ids {
        hash.update(id.as_bytes());
    }
    hash.update(tried.to_be_bytes());
    // DynamoDB allows 36 characters.
    hex::encode(hash.finalize())[..36].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::ItemState;

    fn outcome() -> Outcome {
        Outcome {
            state: ItemState::Created,
            update_id: Uuid::new_v4(),
            event: "{}".into(),
        }
    }

    fn identity(key: &str) -> Identity {
        Identity {
            field: "domain",
            key: key.into(),
        }
    }

    #[test]
    fn a_round_never_writes_one_identity_or_one_item_twice() {
        let (a, b) = (identity("t#a.com"), identity("t#b.com"));
        let outcome = outcome();
        let bulk = Uuid::new_v4();
        let radar = |identity, item_index| NewRadar {
            radar_id: Uuid::new_v4(),
            identity,
            cost: 1,
            data: "{}",
            bulk_id: bulk,
            item_index,
            webhook_url: "https://example.com/hook",
            expires_at: 0,
            outcome: &outcome,
        };
        let radars = [radar(&a, 0), radar(&a, 1), radar(&b, 2), radar(&b, 2)];
        let mut answers = vec![None; 4];

        assert_eq!(next_round(&radars, &answers), [0, 2]);
        answers[0] = Some(Creation::Created);
        answers[2] = Some(Creation::Created);
        assert_eq!(next_round(&radars, &answers), [1, 3]);
    }

    #[test]
    fn the_balance_covers_the_first_radars_in_order() {
        let key = identity("k");
        let outcome = outcome();
        let radars: Vec<NewRadar> = [1, 2, 1, 1]
            .into_iter()
            .map(|cost| NewRadar {
                radar_id: Uuid::new_v4(),
                identity: &key,
                cost,
                data: "{}",
                bulk_id: Uuid::nil(),
                item_index: 0,
                webhook_url: "https://example.com/hook",
                expires_at: 0,
                outcome: &outcome,
            })
            .collect();

        let short = Creation::InsufficientCredits;
        let refused: Vec<usize> = within_balance(&radars, &[0, 1, 2, 3], 3, &short)
            .into_iter()
            .map(|(at, _)| at)
            .collect();

        // 1 + 2 fit; the third (cost 1) would too, but order is kept: it is refused with the rest.
        assert_eq!(refused, [2, 3]);
        assert_eq!(within_balance(&radars, &[0, 1], 0, &short).len(), 2);
        let waiting = within_balance(&radars, &[0, 1], 0, &Creation::AwaitingRefunds);
        assert!(
            waiting
                .iter()
                .all(|(_, answer)| *answer == Creation::AwaitingRefunds)
        );
    }

    #[test]
    fn conflicts_and_throttled_keys_are_tried_again() {
        let key = identity("k");
        let outcome = outcome();
        let radars = [NewRadar {
            radar_id: Uuid::new_v4(),
            identity: &key,
            cost: 1,
            data: "{}",
            bulk_id: Uuid::nil(),
            item_index: 0,
            webhook_url: "https://example.com/hook",
            expires_at: 0,
            outcome: &outcome,
        }];
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        for transient in ["TransactionConflict", "ThrottlingError"] {
            // The item, the radar, the charge: the charge's record was held or throttled.
            let reasons = [reason("None"), reason("None"), reason(transient)];
            let round = why_cancelled(&radars, &[0], &reasons).unwrap();
            assert!(
                matches!(round, Some(Round::Contended)),
                "{transient}: {round:?}"
            );
        }
        let unknown = [reason("None"), reason("None"), reason("ValidationError")];
        assert!(why_cancelled(&radars, &[0], &unknown).unwrap().is_none());
    }

    #[test]
    fn tokens_name_their_round_and_try() {
        let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(token([x, y].into_iter(), 0), token([x, y].into_iter(), 0));
        assert_ne!(token([x, y].into_iter(), 0), token([x].into_iter(), 0));
        assert_ne!(token([x, y].into_iter(), 0), token([x, y].into_iter(), 1));
        assert_eq!(token([x].into_iter(), 3).len(), 36);
    }
}
