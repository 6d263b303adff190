//! Step 4: the creating transactions. The valid radars of one account are created (and
//! charged) together, in chunks of what one transaction holds, rather than one each; normally a
//! batch holds one bulk, so one account.

use std::{collections::BTreeMap, sync::Arc};

use futures::future::join_all;
use shared::{
    api::Refusal,
    error::Chain,
    store::{
        items::Outcome,
        radars::{Creation, MAX_BATCH, NewRadar},
    },
};
use uuid::Uuid;

use crate::{
    Deps,
    decide::{Decision, Item, Prepared},
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
    /// Transient failure.
    Failed(Failure),
}

/// Creates every radar the batch decided to create; the other items pass through.
pub(crate) async fn create_all(deps: &Deps, decided: Vec<(Item, Decision)>) -> Vec<(Item, Tried)> {
    let mut tried = Vec::with_capacity(decided.len());
    let mut creating: BTreeMap<Uuid, Vec<(Item, Prepared)>> = BTreeMap::new();
    for (item, decision) in decided {
        match decision {
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
        let failed = creating.into_values().flatten();
        tried.extend(failed.map(|(item, _)| (item, Tried::Failed(failure()))));
        return tried;
    }
    let mut chunks = Vec::new();
    for (account, items) in creating {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push((account, items.by_ref().take(MAX_BATCH).collect::<Vec<_>>()));
        }
    }
    let created = join_all(
        chunks
            .into_iter()
            .map(|(account, chunk)| create(deps, account, chunk)),
    )
    .await;
    tried.extend(created.into_iter().flatten());
    tried
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
                Some(Creation::Contended) | None => Tried::Failed(Failure::Contended),
            };
            (item, tried)
        })
        .collect()
}
