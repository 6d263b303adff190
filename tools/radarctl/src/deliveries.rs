//! A bulk's webhook deliveries as an operator wants to see them, and resending them.
//!
//! A resend goes through the dispatcher, never from the operator's machine: the delivery is
//! reopened ([`Store::reopen_for_resend`]: pending again, its attempts and log kept, refused
//! while an attempt is under way) and a [`WebhookTask`] for its next attempt goes on the
//! webhook queue. The dispatcher then sends what it always sends: the stored event byte for
//! byte (`bulk_completed` assembled from the stored item events), with the same `webhook-id`,
//! signed with the account's secrets as they are now.
//!
//! The resent attempt is numbered after the delivery's last, so it is a real attempt however
//! many came before (a claim needs only a pending delivery that has not counted it). If it
//! fails, the dispatcher's schedule goes on from that number: past the schedule, as after
//! exhaustion, it gives up at once (parked on the dead-letter queue again, failed again,
//! counted in `WebhookExhaustions`); within it (a delivery given up early by a 410 or a
//! refused destination, or a delivered one sent again) the schedule's remaining retries
//! follow. A resend also closes its destination's circuit if it is open ([`close_circuit`]),
//! so that the resent attempts meet the destination's pace and slots, not a give-up.
//!
//! [`Store::reopen_for_resend`]: shared::store::Store::reopen_for_resend

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::{
    destination::{self, Circuit},
    queue::{Queue, WebhookMessage, WebhookTask},
    store::{
        bulks::Bulk,
        deliveries::{AttemptRecord, Delivery, DeliveryKey, DeliveryState},
    },
};
use uuid::Uuid;

use crate::{Deps, Error, Result};

/// Which deliveries to resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Every one given up, and any reopened before whose attempt has not begun; those still
    /// retrying are named, not resent.
    Failed,
    /// This one, delivered or given up.
    One(Uuid),
}

pub(crate) async fn list(deps: &Deps, bulk_id: Uuid, failed_only: bool) -> Result<Value> {
    let bulk = bulk(deps, bulk_id).await?;
    let deliveries = sorted(deps.store.deliveries(bulk_id).await?);
    let count = |state| deliveries.iter().filter(|d| d.state == state).count();
    let summary = json!({
        "deliveries": deliveries.len(),
        "delivered": count(DeliveryState::Delivered),
        "pending": count(DeliveryState::Pending),
        "failed": count(DeliveryState::Failed),
    });
    let shown: Vec<Value> = deliveries
        .iter()
        .filter(|delivery| !failed_only || is_failing(delivery))
        .map(describe)
        .collect();
    Ok(json!({
        "bulk_id": bulk.id,
        "webhook_url": bulk.webhook_url.as_str(),
        "summary": summary,
        "deliveries": shown,
    }))
}

pub(crate) async fn resend(deps: &Deps, bulk_id: Uuid, which: Resend) -> Result<Value> {
    let bulk = bulk(deps, bulk_id).await?;
    let deliveries = sorted(deps.store.deliveries(bulk_id).await?);
    let now = Utc::now();
    let chosen: Vec<&Delivery> = match which {
        Resend::Failed => deliveries.iter().filter(|d| is_failing(d)).collect(),
        Resend::One(update_id) => vec![
            deliveries
                .iter()
                .find(|delivery| delivery.update_id == update_id)
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "delivery {update_id} of bulk {bulk_id} (no attempt was made at it yet)"
                    ))
                })?,
        ],
    };
    let mut tasks = Vec::new();
    let mut resent = Vec::new();
    let mut skipped = Vec::new();
    for delivery in chosen {
        match reopen(deps, &bulk, delivery, now).await? {
            Ok(task) => {
                resent.push(json!({
                    "event": event_name(delivery),
                    "update_id": delivery.update_id,
                    "attempt": task.attempt,
                }));
                tasks.push(task);
            }
            Err(why) if which == Resend::Failed => skipped.push(json!({
                "event": event_name(delivery),
                "update_id": delivery.update_id,
                "reason": why,
            })),
            Err(why) => {
                return Err(Error::Usage(format!(
                    "delivery {}: {why}",
                    delivery.update_id
                )));
            }
        }
    }
    let circuit_closed = !tasks.is_empty() && close_circuit(deps, &bulk, now).await?;
    // Reopened first, queued second: if queueing fails, the reopened deliveries wait, pending
    // with nothing scheduled, and the same command queues them again.
    Queue::new(deps.sqs.clone(), &deps.config.webhook_queue_url)
        .send_all(&tasks)
        .await?;
    Ok(json!({
        "bulk_id": bulk_id,
        "resent": resent,
        "skipped": skipped,
        "destination": destination::of_url(&bulk.webhook_url),
        "circuit_closed": circuit_closed,
    }))
}

/// Closes the circuit of the bulk's destination if it is not closed (as `destination reset`
/// does), and says whether it did. A resend is the operator saying the endpoint is back; and
/// behind an open circuit the dispatcher gives up, unsent, the messages of a bulk accepted
/// longer ago than its retry schedule lasts (all but the probe), which a resend's bulk usually
/// is. If the endpoint still fails, the circuit opens again after as many failures as ever.
async fn close_circuit(deps: &Deps, bulk: &Bulk, now: DateTime<Utc>) -> Result<bool> {
    let name = destination::of_url(&bulk.webhook_url);
    // Read first: a healthy destination's record is the dispatchers' to write.
    if deps.store.get_destination(&name).await?.circuit == Circuit::Closed {
        return Ok(false);
    }
    let (closed, _) = deps
        .store
        .change_destination(&name, now, |state| {
            let open = state.circuit != Circuit::Closed;
            if open {
                state.reset();
            }
            open
        })
        .await?;
    Ok(closed)
}

/// Reopens one delivery and answers the task of its next attempt, or why it is not resent.
async fn reopen(
    deps: &Deps,
    bulk: &Bulk,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Result<WebhookTask, String>> {
    if let Some(why) = still_pending(delivery, now) {
        return Ok(Err(why));
    }
    let Some(event) = event_of(bulk, delivery) else {
        return Ok(Err(
            "bulk_completed can be resent only once the bulk is complete".into(),
        ));
    };
    if !delivery.recorded {
        // Delivered at its first attempt, which only its tally record notes: a record to reopen.
        let key = DeliveryKey {
            bulk_id: bulk.id,
            update_id: delivery.update_id,
            item_index: delivery.item_index,
            expires_at: bulk.expires_at,
        };
        deps.store.record_first_delivery(&key).await?;
    }
    let reopened = deps
        .store
        .reopen_for_resend(bulk.id, delivery.update_id, delivery.attempts, now)
        .await?;
    if !reopened {
        return Ok(Err(
            "it changed since it was read (an attempt began, or it was resent meanwhile)".into(),
        ));
    }
    Ok(Ok(WebhookTask {
        attempt: delivery.attempts + 1,
        ..WebhookTask::of_account(event, bulk.account_id)
    }))
}

async fn bulk(deps: &Deps, bulk_id: Uuid) -> Result<Bulk> {
    deps.store
        .get_bulk(bulk_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("bulk {bulk_id}")))
}

/// Items by `item_index`, then `bulk_completed`.
fn sorted(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by_key(|delivery| delivery.item_index.map_or(u64::MAX, u64::from));
    deliveries
}

/// What the dispatcher is told to deliver again: `None` for a `bulk_completed` of a bulk that
/// is not complete (it has no such event to send).
fn event_of(bulk: &Bulk, delivery: &Delivery) -> Option<WebhookMessage> {
    match delivery.item_index {
        Some(item_index) => Some(WebhookMessage::Item {
            bulk_id: bulk.id,
            item_index,
            update_id: delivery.update_id,
        }),
        None => bulk
            .completion
            .as_ref()
            .filter(|completion| completion.update_id == delivery.update_id)
            .map(|completion| WebhookMessage::BulkCompleted {
                bulk_id: bulk.id,
                update_id: completion.update_id,
            }),
    }
}

/// Why a pending delivery is the dispatcher's to carry on; `None` when it is not pending, or
/// was reopened and its attempt has not begun.
fn still_pending(delivery: &Delivery, now: DateTime<Utc>) -> Option<String> {
    if delivery.state != DeliveryState::Pending || awaits_resent_attempt(delivery, now) {
        return None;
    }
    let next = delivery.attempts + 1;
    Some(match (delivery.lease_until, delivery.next_attempt_at) {
        (Some(until), _) if until > now => format!("pending: attempt {next} is under way"),
        (_, Some(at)) => format!(
            "pending: the dispatcher makes attempt {next} at {}",
            shared::clock::rfc3339(at)
        ),
        _ => format!("pending: attempt {next} began, and its message comes back to the dispatcher"),
    })
}

/// Pending with nothing scheduled and nobody at it, after a failed attempt: a delivery that
/// was reopened for a resend whose attempt has not begun.
fn awaits_resent_attempt(delivery: &Delivery, now: DateTime<Utc>) -> bool {
    delivery.state == DeliveryState::Pending
        && delivery.next_attempt_at.is_none()
        && delivery.lease_until.is_none_or(|until| until <= now)
        && delivery.log.last().is_some_and(failed)
}

/// Given up, or pending after a failed attempt (retrying, or reopened for a resend).
fn is_failing(delivery: &Delivery) -> bool {
    match delivery.state {
        DeliveryState::Failed => true,
        DeliveryState::Pending => delivery.log.last().is_some_and(failed),
        DeliveryState::Delivered => false,
    }
}

fn failed(attempt: &AttemptRecord) -> bool {
    !attempt
        .status
        .is_some_and(|status| (200..300).contains(&status))
}

fn event_name(delivery: &Delivery) -> String {
    delivery.item_index.map_or_else(
        || "bulk_completed".to_owned(),
        |index| format!("item {index}"),
    )
}

fn describe(delivery: &Delivery) -> Value {
    let attempts: Vec<Value> = delivery
        .log
        .iter()
        .map(|attempt| {
            let mut entry = json!({
                "attempt": attempt.attempt,
                "at": shared::clock::rfc3339(attempt.at),
                "latency_ms": attempt.latency_ms,
            });
            if let Some(status) = attempt.status {
                entry["status"] = status.into();
            }
            if let Some(error) = &attempt.error {
                entry["error"] = error.as_str().into();
            }
            entry
        })
        .collect();
    let mut entry = json!({
        "event": event_name(delivery),
        "update_id": delivery.update_id,
        "state": match delivery.state {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        },
        "attempts": delivery.attempts,
    });
    if let Some(at) = delivery.next_attempt_at {
        entry["next_attempt_at"] = shared::clock::rfc3339(at).into();
    }
    entry["log"] = attempts.into();
    entry
}
