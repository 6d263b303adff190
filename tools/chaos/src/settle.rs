//! Waiting for a run to settle: every accepted bulk's `bulk_completed` received (or given up
//! unsent behind its endpoint's open circuit) and every queue empty, but for the deliveries
//! the dispatcher gave up and parked.

use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, Instant},
};

use aws_sdk_sqs::types::QueueAttributeName;
use provision::Provisioned;
use uuid::Uuid;

use shared::{
    destination::HELD_TOO_LONG,
    store::{
        Store,
        deliveries::{self, DeliveryState},
    },
};

use crate::{Result, accounts::Delivery};

/// The queue where the dispatcher parks deliveries it gave up: a silent endpoint's end there,
/// so it is not empty when a run has settled (`verify` checks what it holds).
pub(crate) const PARKED: &str = "WebhookDeadLetterQueue";

/// Waits until every accepted bulk's `bulk_completed` has arrived and every queue but
/// [`PARKED`] is empty.
pub(crate) async fn settle(
    store: &Store,
    sqs: &aws_sdk_sqs::Client,
    provisioned: &Provisioned,
    deliveries: &Mutex<Vec<Delivery>>,
    bulk_ids: &[Option<Uuid>],
    patience: Duration,
    progress: bool,
) -> bool {
    let started = Instant::now();
    let deadline = started + patience;
    let mut said = started;
    while Instant::now() < deadline {
        let completed: usize = {
            let deliveries = deliveries.lock().expect("deliveries lock");
            let done: HashSet<&str> = deliveries
                .iter()
                .filter(|d| d.received.body["update_type"] == "bulk_completed")
                .filter_map(|d| d.received.body["bulk_id"].as_str())
                .collect();
            bulk_ids
                .iter()
                .flatten()
                .filter(|id| done.contains(id.to_string().as_str()))
                .count()
        };
        // A bulk whose bulk_completed was given up unsent (held behind its endpoint's open
        // circuit) is as done as one whose summary arrived.
        let mut completed = completed;
        for id in bulk_ids.iter().flatten() {
            if !arrived(deliveries, *id) && completion_held(store, *id).await.unwrap_or(false) {
                completed += 1;
            }
        }
        let queued = queued(sqs, provisioned).await;
        let accepted = bulk_ids.iter().flatten().count();
        if completed == accepted && queued == Some(0) {
            return true;
        }
        if progress && said.elapsed() >= Duration::from_secs(10) {
            said = Instant::now();
            eprintln!(
                "chaos: {:>4} s: {completed}/{accepted} bulks completed, {} messages queued",
                started.elapsed().as_secs(),
                queued.map_or_else(|| "?".into(), |n| n.to_string()),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// Whether a delivery was given up without a request.
pub(crate) fn was_held(delivery: &deliveries::Delivery) -> bool {
    delivery.state == DeliveryState::Failed
        && delivery
            .log
            .last()
            .is_some_and(|attempt| attempt.error.as_deref() == Some(HELD_TOO_LONG))
}

/// Whether `bulk_id`'s `bulk_completed` was given up without a request.
pub(crate) async fn completion_held(store: &Store, bulk_id: Uuid) -> Result<bool> {
    Ok(store
        .deliveries(bulk_id)
        .await?
        .iter()
        .any(|delivery| delivery.item_index.is_none() && was_held(delivery)))
}

/// Whether `bulk_id`'s `bulk_completed` has arrived.
fn arrived(deliveries: &Mutex<Vec<Delivery>>, bulk_id: Uuid) -> bool {
    let id = bulk_id.to_string();
    deliveries.lock().expect("deliveries lock").iter().any(|d| {
        d.received.body["update_type"] == "bulk_completed"
            && d.received.body["bulk_id"] == id.as_str()
    })
}

/// Messages on every queue of the stack but [`PARKED`], visible, in flight or delayed.
pub(crate) async fn queued(sqs: &aws_sdk_sqs::Client, provisioned: &Provisioned) -> Option<u64> {
    let mut total = 0;
    for (_, queue) in provisioned.queues.iter().filter(|(id, _)| *id != PARKED) {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok()?
            .attributes
            .unwrap_or_default();
        total += attributes
            .values()
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}
