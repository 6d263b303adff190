//! Step 4: the creating writes.
//!
//! A prepaid bulk's radars ([`Funding::Reserved`]) were paid for when the bulk was accepted, so
//! each is created by two plain conditional puts and no transaction: the radar (only if its
//! identity is free), then its item's outcome (only if it has none). A radar names its item,
//! so a delivery that finds its item's radar already stored (an earlier delivery stopped
//! between the two puts) records that radar's outcome; and a creator whose outcome put finds
//! another outcome (a last try recorded a 500 meanwhile) deletes its radar, as the one who
//! records a 500 does ([`crate::settle`]). So a radar stands only beside its `radar_created`.
//!
//! A metered bulk's radars are created and charged together, in transactions of what one holds,
//! one account each: the charge must be atomic with the radar. An item the balance cannot
//! cover while the account's prepaid bulks still hold credits is not refused yet: those bulks'
//! refunds may cover it ([`Tried::Short`], [`crate::settle`]).

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use futures::{StreamExt, stream};
use shared::{
    api::Refusal,
    api::{RadarCreated, RadarData},
    error::Chain,
    store::{
        bulks::Funding,
        items::{ItemState, Marked, Outcome},
        radars::{Claimed, Creation, MAX_BATCH, NewRadar},
    },
};
use uuid::Uuid;

use crate::{
    CONCURRENCY, Deps,
    decide::{Decision, Item, Prepared},
    events,
    failure::Failure,
    faults::Step,
    metrics,
};

/// Where an item stands once the creating transactions are done.
#[derive(Debug)]
pub(crate) enum Tried {
    /// Its outcome is stored: created now, or decided by an earlier delivery.
    Stored(Outcome),
    /// A failure outcome, still to record.
    Refused(Refusal),
    /// The balance is short of it while the account's prepaid bulks hold credits they may give
    /// back: the item waits for their refunds, or takes this 402 if it can wait no longer.
    Short(Refusal),
    /// Transient failure.
    Failed(Failure),
}

/// Creates every radar the batch decided to create; the other items pass through.
pub(crate) async fn create_all(
    deps: &Deps,
    decided: Vec<(Item, Decision)>,
    now: DateTime<Utc>,
) -> Vec<(Item, Tried)> {
    let mut tried = Vec::with_capacity(decided.len());
    let mut prepaid = Vec::new();
    let mut creating: BTreeMap<Uuid, Vec<(Item, Prepared)>> = BTreeMap::new();
    for (item, decision) in decided {
        match decision {
            Decision::Create(prepared) if matches!(item.bulk.funding, Funding::Reserved(_)) => {
                prepaid.push((item, prepared));
            }
            Decision::Create(prepared) => creating
                .entry(item.record.body.account_id)
                .or_default()
                .push((item, prepared)),
            Decision::Refuse(refusal) => tried.push((item, Tried::Refused(refusal))),
            Decision::Fail(failure) => tried.push((item, Tried::Failed(failure))),
        }
    }
    let injected = deps.faults.check(Step::Creating).err();
    if injected.is_some() || deps.faults.contended() {
        let failure = || injected.map_or(Failure::Contended, Failure::from);
        let failed = creating.into_values().flatten().chain(prepaid);
        tried.extend(failed.map(|(item, _)| (item, Tried::Failed(failure()))));
        return tried;
    }
    // The futures are made before they are streamed, so that the stream is provably `Send`.
    let prepaid: Vec<_> = prepaid
        .into_iter()
        .map(|(item, prepared)| async move {
            let tried = create_prepaid(deps, &item, prepared, now).await;
            (item, tried)
        })
        .collect();
    let prepaid = stream::iter(prepaid)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    let mut chunks = Vec::new();
    for (account, items) in creating {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push((account, items.by_ref().take(MAX_BATCH).collect::<Vec<_>>()));
        }
    }
    let metered = join_all(
        chunks
            .into_iter()
            .map(|(account, chunk)| create(deps, account, chunk)),
    );
    let (prepaid, metered) = futures::join!(prepaid, metered);
    tried.extend(prepaid);
    tried.extend(metered.into_iter().flatten());
    tried
}

/// Creates one radar of a prepaid bulk: the radar, then its item's outcome.
async fn create_prepaid(deps: &Deps, item: &Item, prepared: Prepared, now: DateTime<Utc>) -> Tried {
    let message = &item.record.body;
    let radar = NewRadar {
        radar_id: prepared.radar_id,
        identity: &prepared.identity,
        cost: prepared.cost,
        data: &prepared.data,
        bulk_id: message.bulk_id,
        item_index: message.item_index,
        webhook_url: item.bulk.webhook_url.as_str(),
        expires_at: item.bulk.expires_at,
        outcome: &prepared.outcome,
    };
    let attempt = async {
        let (radar_id, outcome) = match deps.store.put_radar(message.account_id, &radar).await? {
            Claimed::New => (prepared.radar_id, prepared.outcome.clone()),
            Claimed::Earlier { radar_id, data } => {
                tracing::info!(%radar_id, "found the radar an earlier delivery stored");
                let data: RadarData = serde_json::from_str(&data)
                    .map_err(|e| shared::Error::Serialize("stored radar data", e))?;
                let outcome = events::created(message, item.custom_fields.clone(), data, now)?;
                (radar_id, outcome)
            }
            Claimed::Taken { radar_id } => {
                return Ok(Tried::Refused(Refusal::Conflict {
                    field: prepared.identity.field,
                    radar_id,
                }));
            }
        };
        deps.faults.check(Step::RadarStored)?;
        match deps
            .store
            .mark_item_terminal(&item.bulk, message.item_index, &outcome)
            .await?
        {
            Marked::Now => {
                metrics::created();
                Ok(Tried::Stored(outcome))
            }
            Marked::Already(earlier) => {
                if !names_radar(&earlier, radar_id) {
                    // The item ended otherwise (a last try's 500): the radar must not stand.
                    let dropped = deps
                        .store
                        .drop_radar(
                            message.account_id,
                            &prepared.identity,
                            message.bulk_id,
                            message.item_index,
                            Some(radar_id),
                        )
                        .await?;
                    tracing::warn!(%radar_id, dropped, "the item was decided otherwise meanwhile");
                }
                Ok(Tried::Stored(earlier))
            }
        }
    };
    attempt.await.unwrap_or_else(Tried::Failed)
}

/// Whether `outcome` is the `radar_created` of radar `radar_id`.
fn names_radar(outcome: &Outcome, radar_id: Uuid) -> bool {
    outcome.state == ItemState::Created
        && serde_json::from_str::<RadarCreated>(&outcome.event)
            .is_ok_and(|created| created.data.radar_id == radar_id)
}

/// One creating transaction.
async fn create(deps: &Deps, account: Uuid, chunk: Vec<(Item, Prepared)>) -> Vec<(Item, Tried)> {
    let radars: Vec<NewRadar> = chunk
        .iter()
        .map(|(item, prepared)| NewRadar {
            radar_id: prepared.radar_id,
            identity: &prepared.identity,
            cost: prepared.cost,
            data: &prepared.data,
            bulk_id: item.record.body.bulk_id,
            item_index: item.record.body.item_index,
            webhook_url: item.bulk.webhook_url.as_str(),
            expires_at: item.bulk.expires_at,
            outcome: &prepared.outcome,
        })
        .collect();
    let creations = match deps.store.create_radars(account, &radars).await {
        Ok(creations) => creations,
        Err(error) => {
            tracing::warn!(%account, error = %Chain(&error), "creating transaction failed");
            let error = Arc::new(error);
            return chunk
                .into_iter()
                .map(|(item, _)| (item, Tried::Failed(Failure::Batch(Arc::clone(&error)))))
                .collect();
        }
    };
    let mut creations = creations.into_iter();
    chunk
        .into_iter()
        .map(|(item, prepared)| {
            let tried = match creations.next() {
                Some(Creation::Created) => {
                    metrics::created();
                    Tried::Stored(prepared.outcome)
                }
                Some(Creation::AlreadyDecided(earlier)) => Tried::Stored(earlier),
                Some(Creation::Conflict { radar_id }) => Tried::Refused(Refusal::Conflict {
                    field: prepared.identity.field,
                    radar_id,
                }),
                Some(Creation::InsufficientCredits) => {
                    Tried::Refused(Refusal::InsufficientCredits {
                        cost: prepared.cost,
                    })
                }
                Some(Creation::AwaitingRefunds) => Tried::Short(Refusal::InsufficientCredits {
                    cost: prepared.cost,
                }),
                Some(Creation::Contended) | None => Tried::Failed(Failure::Contended),
            };
            (item, tried)
        })
        .collect()
}
