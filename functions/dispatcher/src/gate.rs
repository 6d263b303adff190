//! A batch's messages for one destination pass its gate together ([`shared::destination`]):
//! one change of the destination's record decides which go now (each in a slot) and when the
//! others look again; the ones that go run at once; a second change gives the slots back with
//! what the requests met (which is what moves the circuit breaker) as soon as every request is
//! answered, while the attempts are being recorded.
//!
//! A message that waits is queued again with the wait as its delay and keeps its attempt
//! number: waiting spends nothing. One that has waited behind an open circuit for longer than
//! its whole retry schedule would have lasted ([`retry::schedule_span`], counted from its
//! bulk's acceptance) is given up as an exhausted delivery would be, without a request.
//!
//! If the destination's record cannot be read or written, nothing goes: the messages come
//! back in [`UNDECIDED_WAIT`]. Sending without the gate would let a DynamoDB outage undo
//! every limit at once.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{StreamExt, channel::oneshot, future::join_all, stream};
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
/// How long messages may wait in the invocation for a quick destination's slot.
const IN_PLACE: Duration = Duration::from_secs(2);
/// How soon messages that got no slot ask again, while they wait in place.
const ASK_AGAIN: Duration = Duration::from_millis(100);

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
///
/// Those that wait only for a slot of a destination that gives its slots back quickly
/// ([`Destination::frees_slots_quickly`]) wait here rather than on the queue, for up to
/// [`IN_PLACE`]: SQS delays by whole seconds, and a healthy destination's slots come back in
/// milliseconds, so a round trip through the queue would cost more than the wait. Each ask
/// again comes once this invocation's own attempts gave their slots back, or after
/// [`ASK_AGAIN`] when it had none. The others wait on the queue at once: a slow, silent or
/// failing destination never holds an invocation (and the accounts queued behind it) in place.
pub(crate) async fn pass(
    deps: &Deps,
    destination: &str,
    mut members: Vec<Member<'_>>,
    clock: Clock,
) -> Vec<Passed> {
    // Paced messages first (they have waited longest), then first attempts before retries.
    members.sort_by_key(|member| (!member.task.paced, member.task.attempt));
    let waiting_ends = Instant::now() + IN_PLACE;
    let mut passed = Vec::new();
    while !members.is_empty() {
        let (went, waiting) = wave(deps, destination, members, clock, &mut passed).await;
        if waiting.is_empty() || Instant::now() >= waiting_ends {
            for (member, wait) in waiting {
                passed.push(wait_for(deps, member, wait, clock).await);
            }
            break;
        }
        if !went {
            tokio::time::sleep(ASK_AGAIN).await;
        }
        members = waiting
            .into_iter()
            .map(|(mut member, wait)| {
                member.task.paced = wait.paced;
                member
            })
            .collect();
    }
    passed
}

/// One ask of the gate for `members`: those that may go run (their steps added to `passed`)
/// and give their slots back; those that wait elsewhere are queued again (also in `passed`).
/// Answers whether any went, and those that may wait here for a slot, with their waits.
async fn wave<'a>(
    deps: &Deps,
    destination: &str,
    members: Vec<Member<'a>>,
    clock: Clock,
    passed: &mut Vec<Passed>,
) -> (bool, Vec<(Member<'a>, Wait)>) {
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
            passed.extend(members.into_iter().map(|member| Passed {
                message_id: member.message_id,
                task: member.task,
                step: Step::Requeue(member.task, UNDECIDED_WAIT),
                waited: None,
            }));
            return (false, Vec::new());
        }
    };

    let quick = admitted.frees_slots_quickly();
    let mut going = Vec::new();
    let mut waiting = Vec::new();
    for (member, decision) in members.into_iter().zip(decisions) {
        match decision {
            Decision::Go => going.push(member),
            Decision::Wait(wait) if quick && wait.reason == WaitReason::InFlight => {
                waiting.push((member, wait));
            }
            Decision::Wait(wait) => passed.push(wait_for(deps, member, wait, clock).await),
        }
    }
    if going.is_empty() {
        return (false, waiting);
    }

    // The futures are made first so that the stream holds no closure over a member's
    // lifetime (a closure there keeps the whole future from being provably `Send`).
    let (runs, answers): (Vec<_>, Vec<_>) = going
        .into_iter()
        .map(|member| {
            let (answered, answer) = oneshot::channel();
            (run(deps, member, clock, answered), answer)
        })
        .unzip();
    let running = stream::iter(runs)
        .buffer_unordered(deps.config.dispatch.concurrency)
        .collect::<Vec<Passed>>();
    // The slots go back once every request is answered (or was never made), while the
    // attempts are still being recorded: a slot is a request in flight to the destination.
    let releasing = async {
        let healths: Vec<Health> = join_all(answers)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        release(deps, destination, token, &admitted, &healths, clock.now()).await;
    };
    let (ran, ()) = futures::join!(running, releasing);
    passed.extend(ran);
    (true, waiting)
}

/// A message that goes now: its step. What its request says of the destination goes to
/// `answered` ([`task::run`]).
async fn run(
    deps: &Deps,
    member: Member<'_>,
    clock: Clock,
    answered: oneshot::Sender<Health>,
) -> Passed {
    let Member {
        message_id,
        task,
        scope,
        span,
    } = member;
    let step = task::run(deps, &scope, task, clock, answered)
        .instrument(span)
        .await;
    Passed {
        message_id,
        task,
        step,
        waited: None,
    }
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
