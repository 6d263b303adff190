//! Deciding the outcomes of a batch's items at once, so that the radars of one account are
//! created (and charged) in one transaction rather than one each.

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::Value;
use shared::{
    clock,
    error::Chain,
    queue::ItemMessage,
    radar::{Identity, Radar},
    store::{
        bulks::Bulk,
        items::{Marked, Outcome},
        radars::{Creation, MAX_BATCH, NewRadar},
    },
};
use uuid::Uuid;

use crate::{
    Deps,
    events::{self, Refusal},
    faults::Step,
    item::{Failure, Open},
    metrics,
};

/// A valid item, ready for the creating transaction.
struct Prepared {
    at: usize,
    radar_id: Uuid,
    identity: Identity,
    cost: i64,
    data: String,
    outcome: Outcome,
    custom_fields: Value,
}

/// Decides every open item: created, refused (400, 402, 409, or 500 for dead letters), or found
/// decided by an earlier delivery. In the order of `open`.
pub(crate) async fn decide_all(
    deps: &Deps,
    open: &[Open<'_>],
    dead_letters: bool,
    now: DateTime<Utc>,
) -> Vec<Result<Outcome, Failure>> {
    let mut decisions: Vec<Option<Result<Outcome, Failure>>> = open.iter().map(|_| None).collect();
    let mut refusals: Vec<(usize, Value, Refusal)> = Vec::new();
    let mut prepared: Vec<Prepared> = Vec::new();
    for (at, item) in open.iter().enumerate() {
        let message = &item.record.message;
        let json = item_json(message);
        let custom_fields = events::custom_fields(&json);
        if dead_letters {
            let refusal = Refusal::Exhausted {
                dead_lettered: true,
            };
            refusals.push((at, custom_fields, refusal));
            continue;
        }
        match Radar::parse(&json) {
            Err(errors) => refusals.push((at, custom_fields, Refusal::Invalid(errors))),
            Ok(radar) => match prepare(at, message, &radar, custom_fields, now) {
                Ok(ready) => prepared.push(ready),
                Err(error) => decisions[at] = Some(Err(error.into())),
            },
        }
    }

    for (at, creation) in create_all(deps, open, &prepared).await {
        let ready = prepared.iter().find(|ready| ready.at == at);
        decisions[at] = match (creation, ready) {
            (Ok(Creation::Created), Some(ready)) => {
                metrics::created();
                Some(Ok(ready.outcome.clone()))
            }
            (Ok(Creation::AlreadyDecided(earlier)), _) => Some(Ok(earlier)),
            (Ok(Creation::Conflict { radar_id }), Some(ready)) => {
                let field = ready.identity.field;
                refusals.push((
                    at,
                    ready.custom_fields.clone(),
                    Refusal::Conflict { field, radar_id },
                ));
                None
            }
            (Ok(Creation::InsufficientCredits), Some(ready)) => {
                let cost = ready.cost;
                refusals.push((
                    at,
                    ready.custom_fields.clone(),
                    Refusal::InsufficientCredits { cost },
                ));
                None
            }
            (Ok(_), None) | (Ok(Creation::Contended), _) => Some(Err(Failure::Contended)),
            (Err(failure), _) => Some(Err(failure)),
        };
    }

    let refused = join_all(
        refusals
            .into_iter()
            .map(|(at, custom_fields, refusal)| async move {
                let (bulk, message) = (open[at].bulk, &open[at].record.message);
                (
                    at,
                    refuse(deps, bulk, message, custom_fields, &refusal, now).await,
                )
            }),
    )
    .await;
    for (at, decision) in refused {
        decisions[at] = Some(decision);
    }
    decisions
        .into_iter()
        .map(|decision| decision.unwrap_or(Err(Failure::Contended)))
        .collect()
}

/// Runs the creating transactions: one per account (normally the batch holds one bulk, so one
/// account), in chunks of what one transaction can hold.
async fn create_all(
    deps: &Deps,
    open: &[Open<'_>],
    prepared: &[Prepared],
) -> Vec<(usize, Result<Creation, Failure>)> {
    if let Err(injected) = deps.faults.check(Step::Creating) {
        return prepared
            .iter()
            .map(|ready| (ready.at, Err(injected.into())))
            .collect();
    }
    let mut by_account: BTreeMap<Uuid, Vec<&Prepared>> = BTreeMap::new();
    for ready in prepared {
        let account = open[ready.at].record.message.account_id;
        by_account.entry(account).or_default().push(ready);
    }
    let chunks = by_account.into_iter().flat_map(|(account, ready)| {
        ready
            .chunks(MAX_BATCH)
            .map(|chunk| (account, chunk.to_vec()))
            .collect::<Vec<_>>()
    });
    let created = join_all(chunks.map(|(account, chunk)| async move {
        let radars: Vec<NewRadar> = chunk
            .iter()
            .map(|ready| {
                let message = &open[ready.at].record.message;
                NewRadar {
                    radar_id: ready.radar_id,
                    identity: &ready.identity,
                    cost: ready.cost,
                    data: &ready.data,
                    bulk_id: message.bulk_id,
                    item_index: message.item_index,
                    expires_at: open[ready.at].bulk.expires_at,
                    outcome: &ready.outcome,
                }
            })
            .collect();
        let result = deps.store.create_radars(account, &radars).await;
        match result {
            Ok(creations) => chunk
                .iter()
                .zip(creations)
                .map(|(ready, creation)| (ready.at, Ok(creation)))
                .collect::<Vec<_>>(),
            Err(error) => {
                tracing::warn!(%account, error = %Chain(&error), "creating transaction failed");
                let error = Arc::new(error);
                chunk
                    .iter()
                    .map(|ready| (ready.at, Err(Failure::Batch(Arc::clone(&error)))))
                    .collect()
            }
        }
    }))
    .await;
    created.into_iter().flatten().collect()
}

/// Everything the creating transaction needs for one valid item: a new radar id, its data and
/// its `radar_created`, fixed now so that the transaction stores exactly what is delivered.
fn prepare(
    at: usize,
    message: &ItemMessage,
    radar: &Radar,
    custom_fields: Value,
    now: DateTime<Utc>,
) -> shared::Result<Prepared> {
    let radar_id = Uuid::new_v4();
    let data = radar.data(radar_id, clock::rfc3339(now), custom_fields.clone());
    let data_text =
        serde_json::to_string(&data).map_err(|e| shared::Error::Serialize("radar data", e))?;
    Ok(Prepared {
        at,
        radar_id,
        identity: radar.identity(),
        cost: radar.cost(),
        data: data_text,
        outcome: events::created(message, custom_fields.clone(), data, now)?,
        custom_fields,
    })
}

/// The queued item as JSON. Submit queued it as a JSON object; anything else is refused like
/// any invalid item.
pub(crate) fn item_json(message: &ItemMessage) -> Value {
    serde_json::from_str(message.radar.get()).unwrap_or(Value::Null)
}

/// Records a failure outcome, unless the item was decided meanwhile: the item's outcome.
pub(crate) async fn refuse(
    deps: &Deps,
    bulk: &Bulk,
    message: &ItemMessage,
    custom_fields: Value,
    refusal: &Refusal,
    now: DateTime<Utc>,
) -> Result<Outcome, Failure> {
    let outcome = events::failed(message, custom_fields, refusal, now)?;
    let marked = deps
        .store
        .mark_item_terminal(bulk, message.item_index, &outcome)
        .await?;
    Ok(match marked {
        Marked::Now => {
            metrics::failed(refusal);
            outcome
        }
        Marked::Already(earlier) => earlier,
    })
}
