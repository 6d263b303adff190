//! `bulk_completed`: when it may go, and its body.
//!
//! It goes last: only once every item's event has been delivered or given up, so that a
//! customer sees the items first and the summary after. Until then its message waits on the
//! queue (5 s, 10 s, 20 s, then every 30 s), each look one small `Query` of the bulk's
//! tally and delivery records; and the batch that fills one of the bulk's `delivered` sets
//! looks too, and hands it on at once when every event is settled ([`hand_on`]). A delivery stuck pending past [`retry::completion_patience`] (its
//! messages lost to the queue's own dead-letter redrive) does not hold the summary forever.
//!
//! Its body is assembled from the item records on every attempt, never queued or stored whole
//! (1000 items make 1-2 MB): `radars[]` holds each item's stored event text unchanged, in
//! `item_index` order, and the summary counts them. The stored data does not change once the
//! bulk is complete, so every attempt sends the same bytes.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use shared::{
    api::{BulkCompleted, CompletedSummary, UpdateType},
    clock,
    error::Chain,
    queue::{Queue, WebhookMessage, WebhookTask},
    store::{Store, bulks::Bulk, snapshot::BulkSnapshot},
};
use uuid::Uuid;

use crate::retry;

/// Whether `bulk_completed` may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    Ready,
    /// Some items' events are still being delivered.
    Waiting {
        settled: u32,
    },
}

pub(crate) async fn readiness(
    store: &Store,
    bulk: &Bulk,
    schedule: &[std::time::Duration],
    now: DateTime<Utc>,
) -> shared::Result<Readiness> {
    let settled = store.delivery_ledger(bulk.id).await?.items_settled();
    if settled >= bulk.total {
        return Ok(Readiness::Ready);
    }
    let completed_at = bulk
        .completion
        .as_ref()
        .map(|completion| completion.completed_at);
    let patience = chrono::Duration::from_std(retry::completion_patience(schedule))
        .unwrap_or(chrono::Duration::MAX);
    if completed_at.is_some_and(|at| now - at > patience) {
        tracing::warn!(
            settled,
            total = bulk.total,
            "item deliveries still pending long after the bulk completed; sending the summary"
        );
        return Ok(Readiness::Ready);
    }
    Ok(Readiness::Waiting { settled })
}

/// After a batch filled one of `bulk`'s `delivered` sets: if the bulk is complete and every
/// item's event is now settled, queues a copy of `bulk_completed` at once, rather than
/// leaving it to the waiting copy's next look (up to 30 s away). The copy finds the bulk ready
/// and goes straight to claiming its attempt, which one copy alone wins; the waiting copy,
/// when it looks, finds the delivery settled and ends. Best effort: if any of it fails, the
/// waiting copy still looks.
pub(crate) async fn hand_on(store: &Store, webhooks: &Queue, bulk: &Bulk) {
    let result = async {
        if store.delivery_ledger(bulk.id).await?.items_settled() < bulk.total {
            return Ok(());
        }
        // The batch read the bulk before it may have completed.
        let completion = match &bulk.completion {
            Some(completion) => Some(completion.clone()),
            None => store
                .get_bulk(bulk.id)
                .await?
                .and_then(|bulk| bulk.completion),
        };
        let Some(completion) = completion else {
            return Ok(());
        };
        let event = WebhookMessage::BulkCompleted {
            bulk_id: bulk.id,
            update_id: completion.update_id,
        };
        tracing::info!(bulk_id = %bulk.id, "every item's event is settled; bulk_completed goes now");
        webhooks
            .send_all(&[WebhookTask::of_account(event, bulk.account_id)])
            .await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(bulk_id = %bulk.id, error = %Chain(&error), "could not hand bulk_completed on; it goes at its next look");
    }
}

/// Why a body could not be assembled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unassembled {
    #[error("the bulk has no completion, or another one than this event's")]
    NotThisCompletion,
    #[error("item {0} has no outcome")]
    ItemInFlight(u32),
    #[error("item {0}'s stored event is not JSON")]
    BadEvent(u32, #[source] serde_json::Error),
    #[error("serialising bulk_completed")]
    Serialize(#[source] serde_json::Error),
}

/// The `bulk_completed` body for the event `update_id` of a complete bulk.
pub(crate) fn assemble(snapshot: &BulkSnapshot, update_id: Uuid) -> Result<String, Unassembled> {
    let bulk = &snapshot.bulk;
    let completion = bulk
        .completion
        .as_ref()
        .filter(|completion| completion.update_id == update_id)
        .ok_or(Unassembled::NotThisCompletion)?;
    let radars = snapshot
        .items
        .iter()
        .map(|item| {
            let outcome = item
                .outcome
                .as_ref()
                .ok_or(Unassembled::ItemInFlight(item.index))?;
            RawValue::from_string(outcome.event.clone())
                .map_err(|error| Unassembled::BadEvent(item.index, error))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let counts = snapshot.counts();
    let event = BulkCompleted {
        update_id,
        update_type: UpdateType::BulkCompleted,
        bulk_id: bulk.id,
        completed_at: clock::rfc3339(completion.completed_at),
        summary: CompletedSummary {
            total: counts.total,
            created: counts.created,
            failed: counts.failed,
        },
        radars,
    };
    serde_json::to_string(&event).map_err(Unassembled::Serialize)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use shared::{
        store::{
            bulks::{BulkState, Completion},
            items::{ItemRecord, ItemState, Outcome},
        },
        webhook_url::WebhookUrl,
    };

    use super::*;

    fn snapshot(events: &[&str], completion: Uuid) -> BulkSnapshot {
        let items = (0u32..)
            .zip(events)
            .map(|(index, event)| ItemRecord {
                index,
                custom_fields: "{}".into(),
                outcome: Some(Outcome {
                    state: if event.contains("radar_created") {
                        ItemState::Created
                    } else {
                        ItemState::Failed
                    },
                    update_id: Uuid::new_v4(),
                    event: (*event).to_owned(),
                }),
            })
            .collect();
        BulkSnapshot {
            bulk: Bulk {
                id: Uuid::nil(),
                account_id: Uuid::nil(),
                webhook_url: WebhookUrl::from_stored("https://example.com/h").unwrap(),
                total: u32::try_from(events.len()).unwrap(),
                state: BulkState::Accepted,
                created_at: "2026-05-25T11:17:12Z".parse().unwrap(),
                expires_at: 0,
                completion: Some(Completion {
                    update_id: completion,
                    completed_at: "2026-05-25T11:17:33Z".parse().unwrap(),
                }),
                funding: shared::store::bulks::Funding::Metered,
            },
            items,
        }
    }

    #[test]
    fn the_summary_holds_each_stored_event_unchanged_in_item_order() {
        let id = Uuid::new_v4();
        // Odd spacing and key order survive: the entries are the stored text itself.
        let events = [
            r#"{"update_type":"radar_created","item_index":0,  "z":1,"a":2}"#,
            r#"{"update_type":"radar_failure","item_index":1,"code":409}"#,
        ];
        let body = assemble(&snapshot(&events, id), id).unwrap();
        assert!(
            body.contains(events[0]) && body.contains(events[1]),
            "{body}"
        );
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["update_id"], id.to_string());
        assert_eq!(parsed["update_type"], "bulk_completed");
        assert_eq!(parsed["completed_at"], "2026-05-25T11:17:33Z");
        assert_eq!(
            parsed["summary"],
            json!({"total": 2, "created": 1, "failed": 1})
        );
        assert_eq!(parsed["radars"][1]["item_index"], 1);
    }

    #[test]
    fn another_completion_id_is_not_assembled() {
        let snapshot = snapshot(&[r#"{"update_type":"radar_created"}"#], Uuid::new_v4());
        assert!(matches!(
            assemble(&snapshot, Uuid::new_v4()),
            Err(Unassembled::NotThisCompletion)
        ));
    }
}
