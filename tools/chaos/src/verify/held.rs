//! Events the dispatcher gave up without a request: their destination's circuit stayed open
//! longer than their whole retry schedule ([`shared::destination::HELD_TOO_LONG`]). They
//! never reached their endpoint, so the receivers' witness has nothing of them; for an item,
//! the event the table stored (what poll shows) stands in, and a `bulk_completed` held so is
//! checked by its delivery record alone.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use shared::store::deliveries::Delivery;
use uuid::Uuid;

use super::Evidence;
use crate::{Result, endpoint::Behaviour, settle::was_held};

/// The held events of a run.
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Each held item's stored event, by bulk and `item_index`.
    pub(super) items: HashMap<(Uuid, u64), Value>,
    /// Bulks whose `bulk_completed` was held.
    pub(super) completions: HashSet<Uuid>,
}

/// The held events of every accepted bulk whose endpoint can fail (a well-behaved endpoint's
/// events must all arrive).
pub(super) async fn load(evidence: &Evidence<'_>) -> Result<Held> {
    let mut held = Held::default();
    for (planned, id) in evidence.bulk_ids.iter().enumerate() {
        let Some(id) = *id else { continue };
        let account = evidence.workload.bulks[planned].account;
        if evidence.workload.endpoints[account] == Behaviour::Answers {
            continue;
        }
        let deliveries = evidence.store.deliveries(id).await?;
        let held_here: Vec<&Delivery> = deliveries.iter().filter(|d| was_held(d)).collect();
        if held_here.is_empty() {
            continue;
        }
        let stored: HashMap<u32, String> = evidence
            .store
            .read_bulk(id)
            .await?
            .map(|snapshot| {
                snapshot
                    .items
                    .into_iter()
                    .filter_map(|item| Some((item.index, item.outcome?.event)))
                    .collect()
            })
            .unwrap_or_default();
        for delivery in held_here {
            match delivery.item_index {
                None => {
                    held.completions.insert(id);
                }
                Some(index) => {
                    if let Some(event) = stored
                        .get(&index)
                        .and_then(|text| serde_json::from_str(text).ok())
                    {
                        held.items.insert((id, u64::from(index)), event);
                    }
                }
            }
        }
    }
    Ok(held)
}
