//! How each webhook delivery ended, against what its account's endpoint allows: delivered
//! where the endpoint answers; given up where it never does (after every attempt of the
//! schedule, or held behind the destination's open circuit for as long); either where it
//! flaps. A given-up delivery is parked on the webhook dead-letter queue,
//! and nothing else is: the queue holds exactly the given-up deliveries.

use std::collections::{HashMap, HashSet};

use shared::{queue::WebhookTask, store::deliveries::DeliveryState};
use uuid::Uuid;

use super::{Check, Evidence, Findings};
use crate::{
    Error, Result,
    endpoint::Behaviour,
    settle::{PARKED, was_held},
};

/// Checks every accepted bulk's deliveries, and the parked ones.
pub(super) async fn check(evidence: &Evidence<'_>) -> Result<Check> {
    let mut ends = Findings::new(
        "1. a delivery ends delivered, or given up after its whole schedule and parked",
    );
    let (parked, unreadable) = parked(evidence).await?;
    ends.check(unreadable == 0, || {
        format!("{unreadable} parked messages are not webhook tasks")
    });
    let mut given_up: HashSet<Uuid> = HashSet::new();
    let mut delivered = 0;
    for (planned, id) in evidence.bulk_ids.iter().enumerate() {
        let Some(id) = *id else { continue };
        let account = evidence.workload.bulks[planned].account;
        let behaviour = evidence.workload.endpoints[account];
        for delivery in evidence.store.deliveries(id).await? {
            // Given up after every attempt of its schedule, or held behind the destination's
            // open circuit until the schedule's time was spent, without a request.
            let exhausted = delivery.state == DeliveryState::Failed
                && (delivery.attempts == evidence.attempts || was_held(&delivery));
            let fits = match behaviour {
                Behaviour::Answers => delivery.state == DeliveryState::Delivered,
                Behaviour::Silent => exhausted,
                Behaviour::Late { .. } | Behaviour::Flapping { .. } => {
                    delivery.state == DeliveryState::Delivered || exhausted
                }
            };
            ends.check(fits, || {
                format!(
                    "{id} event {}: {:?} after {} attempts, to an endpoint that {}",
                    delivery.update_id,
                    delivery.state,
                    delivery.attempts,
                    behaviour.describe()
                )
            });
            match delivery.state {
                DeliveryState::Delivered => delivered += 1,
                DeliveryState::Failed => {
                    given_up.insert(delivery.update_id);
                    ends.check(parked.contains_key(&delivery.update_id), || {
                        format!("{id} event {}: given up, never parked", delivery.update_id)
                    });
                }
                DeliveryState::Pending => {}
            }
        }
    }
    let strays: HashSet<&Uuid> = parked
        .keys()
        .filter(|update_id| !given_up.contains(update_id))
        .collect();
    ends.check(strays.is_empty(), || {
        format!(
            "{} parked events were never given up, such as {:?}",
            strays.len(),
            strays.iter().next()
        )
    });
    let copies: usize = parked.values().sum();
    Ok(ends.done(format!(
        "{delivered} delivered; {} given up after {} attempts, each parked ({copies} parked \
         messages)",
        given_up.len(),
        evidence.attempts
    )))
}

/// Every message on the webhook dead-letter queue, by the event it parks (and how many times
/// it is there: a crash between parking and recording parks it twice), and how many are not
/// webhook tasks. Reading leaves them in flight for ten minutes.
async fn parked(evidence: &Evidence<'_>) -> Result<(HashMap<Uuid, usize>, usize)> {
    let url = &evidence
        .provisioned
        .queues
        .get(PARKED)
        .ok_or_else(|| Error::Setup(format!("the template has no {PARKED}")))?
        .url;
    let mut parked: HashMap<Uuid, usize> = HashMap::new();
    let mut unreadable = 0;
    loop {
        let messages = evidence
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(600)
            .send()
            .await
            .map_err(|e| Error::Aws(aws_sdk_sqs::Error::from(e).to_string()))?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok((parked, unreadable));
        }
        for message in messages {
            let task = message
                .body
                .as_deref()
                .and_then(|body| serde_json::from_str::<WebhookTask>(body).ok());
            match task {
                Some(task) => *parked.entry(task.event.update_id()).or_default() += 1,
                None => unreadable += 1,
            }
        }
    }
}
