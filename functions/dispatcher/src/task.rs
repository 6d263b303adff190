//! One message: one attempt at one delivery, or a reason to wait.
//!
//! 1. A message not due yet (`not_before` ahead, a pause longer than SQS's 15 minutes) goes
//!    back to the queue for what is left, at most 15 minutes at a time.
//! 2. `bulk_completed`, on its first attempt, waits until every item's event is settled. One
//!    copy of it waits: each look is taken on the bulk record
//!    ([`Store::take_completion_look`]). A copy whose look was taken stands by until a dead
//!    copy's look would be stale, then looks once more: it takes over if no copy renewed the
//!    look meanwhile, and ends if one did.
//!
//! Between 2 and 3 the message passes its destination's gate ([`crate::gate`]), which may
//! make it wait without spending its attempt.
//!
//! 3. Claim the attempt ([`Store::claim_attempt`]). Only the winner goes on; a message whose
//!    attempt is settled or spent is done, one whose delivery is leased to someone else comes
//!    back after the lease. An item event's first attempt whose delivery has no record and
//!    whose item is not in its tally record's `delivered` set (the batch read both) is made
//!    without a claim ([`Claim::first`]), at the price of a rare second send of the same
//!    `webhook-id` and body by a worker holding the same message at once.
//! 4. Read the body (the item's stored event, or `bulk_completed` assembled), sign it, POST it.
//! 5. Record the result and decide: delivered (a first attempt's success is left to the batch,
//!    which notes all of them in their tally records' `delivered` sets at once); retry later (the next attempt's message is
//!    queued by the batch after the record is written); or give up (410, a refused
//!    destination, the schedule spent, a circuit open for longer than that): the delivery is
//!    marked failed, then the message is parked on the dead-letter queue. A message that finds
//!    its delivery failed (this one, redelivered after a crash between the two; or any other
//!    copy) parks itself too: a delivery may be parked twice, never not at all, and nothing is
//!    parked that did not end failed. (Parking first left a stray copy behind whenever the
//!    record was then refused, a lapsed lease or a crash, and the attempt made again was
//!    delivered: `make chaos` found one among 10,000 deliveries to a flapping endpoint.)
//!
//! A crash after the record and before the next attempt's message is queued is healed by the
//! original message, which SQS redelivers: it finds its attempt spent and the next one not
//! begun, waits until the next one should have begun, and then becomes it.

use std::{
    collections::{HashMap, HashSet},
    ops::ControlFlow,
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::channel::oneshot;
use shared::{
    credentials::WebhookSecret,
    destination::{self, Health},
    error::Chain,
    queue::{MAX_DELAY, WebhookMessage, WebhookTask},
    store::{
        bulks::Bulk,
        deliveries::{AttemptRecord, Claim, Claimed, DeliveryKey, DeliveryState},
        items::ItemRecord,
    },
};
use uuid::Uuid;

use crate::{
    Deps,
    completed::{self, Readiness},
    context::Clock,
    metrics, retry,
    sender::{Reply, Sent},
    signature,
};

/// What the batch does with a message once it has been handled.
#[derive(Debug)]
pub(crate) enum Step {
    /// Nothing more to do with it: acknowledge.
    Done,
    /// Delivered by this message: acknowledge.
    Delivered,
    /// Delivered by this message at the event's first attempt, and not recorded yet: the batch
    /// notes it in the item's tally record with the batch's others, then acknowledges.
    DeliveredFirst,
    /// Queue this (a later attempt, or the same message later), then acknowledge.
    Requeue(WebhookTask, Duration),
    /// Given up and parked on the dead-letter queue: acknowledge.
    Parked,
    /// Something transient failed: SQS redelivers it.
    Retry,
}

/// What the batch read for a message's bulk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub bulk: &'a Bulk,
    /// The signing secrets, current first.
    pub secrets: &'a [WebhookSecret],
    /// The batch's items of this bulk, by `item_index`.
    pub items: &'a HashMap<u32, ItemRecord>,
    /// Of the batch's first attempts, the events whose delivery has a record already.
    pub begun: &'a HashSet<Uuid>,
    /// Items whose event was delivered at its first attempt, with no record.
    pub delivered_first: &'a HashSet<u32>,
}

/// How long after its next attempt was due a spent message checks that it was made.
const GRACE: Duration = Duration::from_secs(120);
/// When a first attempt whose record another wrote looks at that record.
const FIRST_RECORDED_ELSEWHERE: Duration = Duration::from_secs(1);

/// Steps 1 and 2: whether the message may try now, or what to do with it instead.
pub(crate) async fn prepare(
    deps: &Deps,
    bulk: &Bulk,
    mut task: WebhookTask,
    clock: Clock,
) -> ControlFlow<Step, WebhookTask> {
    let now = clock.now();
    if let Some(due) = task.not_before.filter(|due| *due > clock.batch_start()) {
        return ControlFlow::Break(Step::Requeue(
            task,
            until(now, due).max(Duration::from_secs(1)),
        ));
    }
    if let (WebhookMessage::BulkCompleted { .. }, 1) = (task.event, task.attempt) {
        let schedule = &deps.config.dispatch.retry_schedule;
        match completed::readiness(&deps.store, bulk, schedule, now).await {
            Ok(Readiness::Ready) => {}
            Ok(Readiness::Waiting { settled }) => {
                let look = task.waits + 1;
                let stale_before = now - chrono_duration(retry::LOOK_RENEWED_WITHIN);
                let taken = deps
                    .store
                    .take_completion_look(bulk.id, look, Uuid::new_v4(), now, stale_before)
                    .await;
                match taken {
                    Ok(true) => task.standby = false,
                    // A copy that was standing by finds the look renewed: another copy lives.
                    Ok(false) if task.standby => {
                        tracing::info!(look, "another copy of bulk_completed waits; this one ends");
                        return ControlFlow::Break(Step::Done);
                    }
                    // Another copy took this look, or this copy's own predecessor did and died
                    // before queueing its successor: stand by until a dead copy's look would
                    // be stale, then look once more.
                    Ok(false) => {
                        let wait = retry::LOOK_RENEWED_WITHIN + Duration::from_secs(5);
                        tracing::info!(
                            look,
                            ?wait,
                            "another copy of bulk_completed looked; standing by"
                        );
                        task.standby = true;
                        task.not_before = Some(now + chrono_duration(wait));
                        return ControlFlow::Break(Step::Requeue(task, wait));
                    }
                    // A spare copy costs a look every half minute; no copy would lose the event.
                    Err(error) => {
                        tracing::warn!(error = %Chain(&error), "could not take the look; waiting anyway");
                    }
                }
                let wait = retry::completion_wait(task.waits);
                tracing::info!(settled, total = bulk.total, ?wait, "items still delivering");
                task.waits += 1;
                task.not_before = Some(now + chrono_duration(wait));
                return ControlFlow::Break(Step::Requeue(task, wait));
            }
            Err(error) => {
                tracing::warn!(error = %Chain(&error), "could not read the deliveries");
                return ControlFlow::Break(Step::Retry);
            }
        }
    }
    ControlFlow::Continue(task)
}

/// Steps 3 to 5, for a message its destination let through: the step. What the request (if
/// one was made) says of the destination goes to `answered` as soon as it is answered, before
/// the attempt is recorded: the destination's slot is free from then on. `answered` is dropped
/// unsent if no request was made.
pub(crate) async fn run(
    deps: &Deps,
    scope: &Scope<'_>,
    mut task: WebhookTask,
    clock: Clock,
    answered: oneshot::Sender<Health>,
) -> Step {
    let now = clock.now();
    let key = delivery_key(scope.bulk, task);
    if let (1, Some(index)) = (task.attempt, key.item_index)
        && !scope.begun.contains(&key.update_id)
    {
        if scope.delivered_first.contains(&index) {
            tracing::info!("delivered at its first attempt already");
            return Step::Done;
        }
        return attempt(deps, scope, task, &Claim::first(key), clock, answered).await;
    }
    // Twice at most: a spent message that finds its successor missing becomes it.
    for _ in 0..2 {
        let claim = match claim(deps, &key, &mut task, now).await {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(Some(step)) => return step,
            ControlFlow::Break(None) => continue,
        };
        return attempt(deps, scope, task, &claim, clock, answered).await;
    }
    Step::Done
}

/// Gives up a delivery whose destination's circuit stayed open longer than its whole
/// schedule would have lasted: no request is sent, the attempt is recorded as not made, and
/// the delivery is parked as any given-up one.
pub(crate) async fn give_up_unreachable(
    deps: &Deps,
    scope: &Scope<'_>,
    mut task: WebhookTask,
    clock: Clock,
) -> Step {
    let now = clock.now();
    let key = delivery_key(scope.bulk, task);
    for _ in 0..2 {
        let claim = match claim(deps, &key, &mut task, now).await {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(Some(step)) => return step,
            ControlFlow::Break(None) => continue,
        };
        let record = AttemptRecord {
            attempt: claim.attempt(),
            at: now,
            status: None,
            latency_ms: 0,
            error: Some(destination::HELD_TOO_LONG.into()),
        };
        return settle(
            deps,
            task,
            &claim,
            &record,
            Outcome::GiveUp(GiveUp::CircuitOpen),
            now,
        )
        .await;
    }
    Step::Done
}

fn delivery_key(bulk: &Bulk, task: WebhookTask) -> DeliveryKey {
    DeliveryKey {
        bulk_id: bulk.id,
        update_id: task.event.update_id(),
        item_index: match task.event {
            WebhookMessage::Item { item_index, .. } => Some(item_index),
            WebhookMessage::BulkCompleted { .. } => None,
        },
        expires_at: bulk.expires_at,
    }
}

/// Step 3: the claim, or the step instead (`Break(None)`: the message became the next
/// attempt, claim again).
async fn claim(
    deps: &Deps,
    key: &DeliveryKey,
    task: &mut WebhookTask,
    now: DateTime<Utc>,
) -> ControlFlow<Option<Step>, Claim> {
    let lease = deps.config.dispatch.timeout * 2 + Duration::from_secs(30);
    let claimed = match deps
        .store
        .claim_attempt(key, task.attempt, now, lease)
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "could not claim the attempt");
            return ControlFlow::Break(Some(Step::Retry));
        }
    };
    match claimed {
        Claimed::Now(claim) => ControlFlow::Continue(claim),
        Claimed::Settled(DeliveryState::Failed) => {
            tracing::info!("given up already; parking this copy");
            ControlFlow::Break(Some(match park(deps, *task).await {
                Ok(()) => Step::Done,
                Err(()) => Step::Retry,
            }))
        }
        Claimed::Settled(state) => {
            tracing::info!(?state, "already settled");
            ControlFlow::Break(Some(Step::Done))
        }
        Claimed::Busy { until: lease_end } => {
            let wait = until(now, lease_end) + Duration::from_secs(1);
            tracing::info!(?wait, "another worker holds this delivery");
            ControlFlow::Break(Some(Step::Requeue(*task, wait)))
        }
        Claimed::Spent {
            attempts,
            next_attempt_at: Some(next),
        } if attempts == task.attempt => {
            let check_at = next + chrono_duration(GRACE);
            if check_at > now {
                task.not_before = Some(check_at);
                return ControlFlow::Break(Some(Step::Requeue(*task, until(now, check_at))));
            }
            tracing::warn!(
                attempt = attempts + 1,
                "the next attempt never began; making it"
            );
            task.attempt += 1;
            task.not_before = None;
            ControlFlow::Break(None)
        }
        Claimed::Spent { .. } => ControlFlow::Break(Some(Step::Done)),
    }
}

/// Makes the claimed attempt and records it.
async fn attempt(
    deps: &Deps,
    scope: &Scope<'_>,
    task: WebhookTask,
    claim: &Claim,
    clock: Clock,
    answered: oneshot::Sender<Health>,
) -> Step {
    let body = match body(deps, scope, task.event).await {
        Ok(Some(body)) => body,
        Ok(None) => return Step::Done,
        // The lease lapses and SQS redelivers.
        Err(()) => return Step::Retry,
    };
    let now = clock.now();
    let update_id = task.event.update_id().to_string();
    let headers = signature::sign(scope.secrets, &update_id, now.timestamp(), body.as_bytes());
    let sent = deps
        .sender
        .post(scope.bulk.webhook_url.as_str(), &headers, body, now)
        .await;
    if let Some(health) = sent.reply.health(sent.latency) {
        // The gate may be gone (its invocation ending); the attempt is recorded all the same.
        let _ = answered.send(health);
    }
    let record = record_of(claim.attempt(), now, &sent);
    metrics::attempt(&sent.reply);
    tracing::info!(
        attempt = record.attempt,
        status = record.status,
        latency_ms = record.latency_ms,
        error = record.error,
        "attempt made"
    );
    let schedule = &deps.config.dispatch.retry_schedule;
    let outcome = match &sent.reply {
        Reply::Status { status, .. } if (200..300).contains(status) => Outcome::Delivered,
        Reply::Status { status: 410, .. } => Outcome::GiveUp(GiveUp::Gone),
        Reply::Refused(_) => Outcome::GiveUp(GiveUp::Refused),
        reply => {
            let retry_after = match reply {
                Reply::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            match retry::next_pause(schedule, task.attempt, retry_after, retry::random_unit()) {
                Some(pause) => Outcome::RetryAfter(pause),
                None => Outcome::GiveUp(GiveUp::Exhausted),
            }
        }
    };
    settle(deps, task, claim, &record, outcome, now).await
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Delivered,
    RetryAfter(Duration),
    GiveUp(GiveUp),
}

/// Why a delivery is given up.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    /// The receiver answered 410 Gone.
    Gone,
    /// The destination is not one a webhook may reach.
    Refused,
    /// Every attempt of the schedule failed.
    Exhausted,
    /// The destination's circuit stayed open longer than the schedule lasts.
    CircuitOpen,
}

impl GiveUp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Gone => "gone",
            Self::Refused => "refused",
            Self::Exhausted => "exhausted",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

async fn settle(
    deps: &Deps,
    task: WebhookTask,
    claim: &Claim,
    record: &AttemptRecord,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Step {
    let recorded = match outcome {
        // No record: the batch notes it in the item's tally record, with its others.
        Outcome::Delivered if !claim.is_leased() => return Step::DeliveredFirst,
        Outcome::Delivered => deps.store.mark_delivered(claim, record).await,
        Outcome::RetryAfter(pause) => {
            let next_at = now + chrono_duration(pause);
            deps.store.schedule_retry(claim, record, next_at).await
        }
        // Recorded first, parked once the record stands (below).
        Outcome::GiveUp(_) => deps.store.mark_given_up(claim, record).await,
    };
    match recorded {
        Ok(true) => {}
        // A first attempt made without a claim whose record someone else wrote first (a second
        // copy of this message sent it too), or this very write applied with its answer lost:
        // the message comes back in a second and reads the record as it stands (settled,
        // spent, or overdue for its next attempt, which it then becomes), rather than after
        // the queue's visibility timeout.
        Ok(false) if !claim.is_leased() => {
            tracing::info!("the first attempt was recorded by another; looking again shortly");
            return Step::Requeue(task, FIRST_RECORDED_ELSEWHERE);
        }
        Ok(false) => {
            // Either the lease lapsed and another holds the delivery, or this very write
            // applied and its answer was lost (the SDK's retry then met the write itself). SQS
            // redelivers the message, which finds the delivery as it stands: settled, spent
            // (and it becomes the next attempt when that is overdue), or held by another.
            tracing::warn!("the attempt's record was refused; SQS redelivers to look again");
            return Step::Retry;
        }
        Err(error) => {
            tracing::warn!(error = %Chain(&error), "could not record the attempt");
            return Step::Retry;
        }
    }
    match outcome {
        Outcome::Delivered => {
            metrics::delivered();
            Step::Delivered
        }
        Outcome::GiveUp(reason) => {
            tracing::error!(
                bulk_id = %task.event.bulk_id(),
                update_id = %task.event.update_id(),
                attempts = task.attempt,
                reason = reason.as_str(),
                "webhook delivery given up; parking it on the dead-letter queue"
            );
            metrics::given_up(reason.as_str());
            match park(deps, task).await {
                Ok(()) => Step::Parked,
                // SQS redelivers the message, which finds the delivery failed and parks itself.
                Err(()) => Step::Retry,
            }
        }
        Outcome::RetryAfter(pause) => {
            let next = WebhookTask {
                attempt: task.attempt + 1,
                not_before: Some(now + chrono_duration(pause)),
                ..task
            };
            Step::Requeue(next, pause.min(MAX_DELAY))
        }
    }
}

/// Parks `task` on the webhook dead-letter queue.
async fn park(deps: &Deps, task: WebhookTask) -> Result<(), ()> {
    deps.dead_letters.send_all(&[task]).await.map_err(|error| {
        tracing::warn!(error = %Chain(&error), "could not park the delivery");
    })
}

/// The event's body: `None` when it no longer exists.
async fn body(deps: &Deps, scope: &Scope<'_>, event: WebhookMessage) -> Result<Option<String>, ()> {
    match event {
        WebhookMessage::Item {
            item_index,
            update_id,
            ..
        } => {
            let Some(item) = scope.items.get(&item_index) else {
                tracing::warn!("the item is gone (its bulk expired); dropping");
                return Ok(None);
            };
            match &item.outcome {
                Some(outcome) if outcome.update_id == update_id => Ok(Some(outcome.event.clone())),
                _ => {
                    tracing::error!("the item holds no event with this update_id; dropping");
                    Ok(None)
                }
            }
        }
        WebhookMessage::BulkCompleted { bulk_id, update_id } => {
            match deps.store.read_bulk(bulk_id).await {
                Ok(Some(snapshot)) => match completed::assemble(&snapshot, update_id) {
                    Ok(body) => Ok(Some(body)),
                    Err(error) => {
                        tracing::error!(error = %Chain(&error), "cannot assemble; dropping");
                        Ok(None)
                    }
                },
                Ok(None) => Ok(None),
                Err(error) => {
                    tracing::warn!(error = %Chain(&error), "could not read the bulk");
                    Err(())
                }
            }
        }
    }
}

fn record_of(attempt: u32, at: DateTime<Utc>, sent: &Sent) -> AttemptRecord {
    let (status, error) = match &sent.reply {
        Reply::Status { status, .. } => (Some(*status), None),
        Reply::Timeout => (None, Some("timed out".to_owned())),
        Reply::Connection(cause) => (None, Some(format!("connection failed: {cause}"))),
        Reply::Refused(why) => (None, Some(format!("refused: {why}"))),
    };
    AttemptRecord {
        attempt,
        at,
        status,
        latency_ms: u64::try_from(sent.latency.as_millis()).unwrap_or(u64::MAX),
        error,
    }
}

/// The time from `now` to `at` (zero if past), at most SQS's longest delay.
fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default().min(MAX_DELAY)
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
