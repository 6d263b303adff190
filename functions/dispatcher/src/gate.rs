//! A batch's messages for one destination pass its gate together ([`shared::destination`]):
//! one change of the destination's record decides which go now (each in a slot) and when the
//! others look again; the ones that go run at once; a second change gives the slots back with
//! what the attempts met, which is what moves the circuit breaker.
//!
//! A message that waits is queued again with the wait as its delay and keeps its attempt
//! number: waiting spends nothing. One that has waited behind an open circuit for longer than
//! its whole retry schedule would have lasted ([`retry::schedule_span`], counted from its
//! bulk's acceptance) is given up as an exhausted delivery would be, without a request.
//!
//! If the destination's record cannot be read or written, nothing goes: the messages come
//! back in [`UNDECIDED_WAIT`]. Sending without the gate would let a DynamoDB outage undo
//! every limit at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use shared::{
    destination::{Ask, Circuit, Decision, Destination, Health, Wait, WaitReason},
    error::Chain,
    queue::{MAX_DELAY, WebhookTask},
};
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    Deps,
    context::Clock,
    metrics, retry,
    task::{self, Scope, Step},
};

/// How long messages wait when their destination's gate could not decide.
pub(crate) const UNDECIDED_WAIT: Duration = Duration::from_secs(5);
/// How long past its attempt's timeout a slot is held, for the claim and the record around
/// the request; a crashed invocation's slots come back after that.
const SLOT_MARGIN: Duration = Duration::from_secs(15);

/// One message at the gate, with its span and what its bulk's context gave it.
pub(crate) struct Member<'a> {
    pub message_id: String,
    pub task: WebhookTask,
    pub scope: Scope<'a>,
    pub span: tracing::Span,
}

/// What became of one message.
pub(crate) struct Passed {
    pub message_id: String,
    pub task: WebhookTask,
    pub step: Step,
    /// Why it waits, if it does.
    pub waited: Option<WaitReason>,
}

/// Passes `members` (all for `destination`) through its gate.
pub(crate) async fn pass(
    deps: &Deps,
    destination: &str,
    mut members: Vec<Member<'_>>,
    clock: Clock,
) -> Vec<Passed> {
    // Paced messages first (they have waited longest), then first attempts before retries.
    members.sort_by_key(|member| (!member.task.paced, member.task.attempt));
    let asks: Vec<Ask> = members
        .iter()
        .map(|member| Ask {
            paced: member.task.paced,
        })
        .collect();
    let token = Uuid::new_v4();
    let limits = deps.config.dispatch.destinations;
    let lease = deps.config.dispatch.timeout + SLOT_MARGIN;
    // The time is read in each try: a try that lost to another writer is decided again
    // at the time it is written, not at the time the first try began.
    let decided = deps
        .store
        .change_destination(destination, clock.now(), |state| {
            state.admit(token, &asks, clock.now(), &limits, lease)
        })
        .await;
    let (decisions, admitted) = match decided {
        Ok(decided) => decided,
        Err(error) => {
            tracing::warn!(destination, error = %Chain(&error), "the destination's gate could not decide; waiting");
            return members
                .into_iter()
                .map(|member| Passed {
                    message_id: member.message_id,
                    task: member.task,
                    step: Step::Requeue(member.task, UNDECIDED_WAIT),
                    waited: None,
                })
                .collect();
        }
    };

    let mut going = Vec::new();
    let mut passed = Vec::new();
    for (member, decision) in members.into_iter().zip(decisions) {
        match decision {
            Decision::Go => going.push(member),
            Decision::Wait(wait) => passed.push(wait_for(deps, member, wait, clock).await),
        }
    }
    if going.is_empty() {
        return passed;
    }

    // The futures are made first so that the stream holds no closure over a member's
    // lifetime (a closure there keeps the whole future from being provably `Send`).
    let runs: Vec<_> = going
        .into_iter()
        .map(|member| run(deps, member, clock))
        .collect();
    let ran: Vec<(Passed, Option<Health>)> = stream::iter(runs)
        .buffer_unordered(deps.config.dispatch.concurrency)
        .collect()
        .await;
    let healths: Vec<Health> = ran.iter().filter_map(|(_, h)| h.clone()).collect();
    release(deps, destination, token, &admitted, &healths, clock.now()).await;
    passed.extend(ran.into_iter().map(|(passed, _)| passed));
    passed
}

/// A message that goes now: its step, and what its attempt says of the destination.
async fn run(deps: &Deps, member: Member<'_>, clock: Clock) -> (Passed, Option<Health>) {
    let Member {
        message_id,
        task,
        scope,
        span,
    } = member;
    let (step, health) = task::run(deps, &scope, task, clock).instrument(span).await;
    let passed = Passed {
        message_id,
        task,
        step,
        waited: None,
    };
    (passed, health)
}

/// A message that may not go now: queued again for when it may, or given up if it has
/// waited behind an open circuit for longer than its schedule.
async fn wait_for(deps: &Deps, member: Member<'_>, wait: Wait, clock: Clock) -> Passed {
    let now = clock.now();
    metrics::waited(wait.reason);
    let behind_circuit = matches!(wait.reason, WaitReason::CircuitOpen | WaitReason::Probing);
    let patience = retry::schedule_span(&deps.config.dispatch.retry_schedule);
    let accepted = member.scope.bulk.created_at;
    if behind_circuit && now - accepted > chrono_duration(patience) {
        let step = task::give_up_unreachable(deps, &member.scope, member.task, clock)
            .instrument(member.span)
            .await;
        return Passed {
            message_id: member.message_id,
            task: member.task,
            step,
            waited: Some(wait.reason),
        };
    }
    member.span.in_scope(|| {
        tracing::info!(reason = wait.reason.as_str(), until = %wait.until, "waiting for the destination");
    });
    let next = WebhookTask {
        not_before: Some(wait.until),
        paced: wait.paced,
        ..member.task
    };
    Passed {
        message_id: member.message_id,
        task: member.task,
        step: Step::Requeue(next, delay(now, wait.until)),
        waited: Some(wait.reason),
    }
}

/// Gives the slots back, then, if the attempts move the circuit breaker, counts them. The
/// first is an update of the batch's own lease that never waits for other batches; if it
/// fails, the slots come back at their lease's end. `admitted` is the state the batch was
/// admitted under: what the attempts are judged against.
async fn release(
    deps: &Deps,
    destination: &str,
    token: Uuid,
    admitted: &Destination,
    healths: &[Health],
    now: DateTime<Utc>,
) {
    let moved = admitted.moved_by(token, healths);
    let answered = (!moved)
        .then(|| {
            admitted
                .latency_after(healths)
                .map(|latency| (latency, now))
        })
        .flatten();
    if let Err(error) = deps.store.return_slots(destination, token, answered).await {
        tracing::warn!(destination, error = %Chain(&error), "could not give the destination's slots back");
    }
    if !moved {
        return;
    }
    let limits = deps.config.dispatch.destinations;
    let counted = deps
        .store
        .change_destination(destination, now, |state| {
            let was_open = !matches!(state.circuit, Circuit::Closed);
            state.release(token, healths, now, &limits);
            (was_open, state.circuit)
        })
        .await;
    match counted {
        Ok(((false, Circuit::Open { until, .. }), _)) => {
            metrics::circuit_opened();
            tracing::warn!(destination, %until, "the destination keeps failing: its circuit is open");
        }
        Ok(((true, Circuit::Closed), _)) => {
            tracing::info!(
                destination,
                "the destination answers again: its circuit is closed"
            );
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(destination, error = %Chain(&error), "could not count the attempts for the circuit");
        }
    }
}

/// The queue delay for a wait until `at`: at least a second, at most SQS's longest.
fn delay(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now)
        .to_std()
        .unwrap_or_default()
        .clamp(Duration::from_secs(1), MAX_DELAY)
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
