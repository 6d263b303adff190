//! How the [`bridge`] hands received messages to a function, and which to delete afterwards.
//!
//! moto returns a queue's messages in the order they were sent, each once per receive. A
//! standard SQS queue promises neither: a receive samples some of the servers that hold the
//! queue, so messages come back out of order and some only in a later receive, and now and then
//! a message is delivered twice, the second time while its first copy may still be at work.
//! With [`Shuffle`] the bridge does the same, so that the functions are held to what SQS does
//! rather than to what moto does:
//!
//! - every batch reaches the function in a random order;
//! - a received message is sometimes held back and mixed into a later batch (once at most, so
//!   that it is late, never lost; it stays in flight on the queue meanwhile);
//! - a delivered message is sometimes delivered again in a later batch, which another worker
//!   may take while the first copy is still running: a second receipt of the same message,
//!   with its `ApproximateReceiveCount` one higher.
//!
//! Both copies are receipts of one message, and deleting either deletes it, as in SQS: the
//! [`Ledger`] deletes a message once, when the first of its copies succeeds, whichever that is,
//! and leaves it to the visibility timeout only when every copy failed. A copy that fails after
//! its twin was acknowledged is not redelivered; a function that acknowledges a message without
//! having made sure its work gets done is wrong under SQS, and this is how a test finds out.
//!
//! With [`Delivery::with_fair_queues`] the bridge also delivers as a fair queue does: the
//! messages of accounts with few in flight before those of an account with a backlog
//! ([`fair`]). The template's queues are fair queues because every message carries its account
//! as its message group.
//!
//! The policy ([`plan`], [`Ledger`], [`Pool`]) is pure and takes its chances from a [`Random`],
//! so tests script them; [`Delivery`] is the state a bridge's workers share.
//!
//! [`bridge`]: crate::bridge

mod batching;
pub mod fair;
mod ledger;

use std::{
    collections::{BTreeMap, HashMap},
    ops::AddAssign,
    sync::{Mutex, PoisonError},
    time::Instant,
};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

pub use self::{
    batching::{Letter, Plan, Random, Shuffle, Waiting, plan},
    fair::{Group, Pool},
    ledger::{Ack, Ledger},
};

/// What the bridge did: for one turn of a worker ([`bridge::pump`]), or added up over a run
/// ([`Delivery::pumped`]).
///
/// [`bridge::pump`]: crate::bridge::pump
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Messages SQS returned (into the pool, with fair queues).
    pub received: usize,
    /// Acknowledged: deleted from the queue.
    pub deleted: usize,
    /// Failed: left for SQS to deliver again, unless another copy acknowledges them.
    pub retried: usize,
    /// Invocations.
    pub batches: usize,
    /// Batches whose order differs from the order their messages came in.
    pub shuffled: usize,
    /// Received messages held back for a later batch.
    pub held: usize,
    /// Second copies delivered.
    pub duplicates: usize,
    /// Deliveries of a message while another copy of it was in an invocation.
    pub concurrent: usize,
    /// Copies that succeeded after another copy had deleted their message.
    pub acknowledged_again: usize,
}

impl AddAssign for Pumped {
    fn add_assign(&mut self, other: Self) {
        self.received += other.received;
        self.deleted += other.deleted;
        self.retried += other.retried;
        self.batches += other.batches;
        self.shuffled += other.shuffled;
        self.held += other.held;
        self.duplicates += other.duplicates;
        self.concurrent += other.concurrent;
        self.acknowledged_again += other.acknowledged_again;
    }
}

/// How a bridge delivers, shared by all of its workers: as moto does ([`Delivery::exact`]), or
/// as a standard SQS queue does ([`Delivery::shuffled`]); either in sending order or as a fair
/// queue ([`Delivery::with_fair_queues`]). Keeps each queue's waiting messages, pool and
/// [`Ledger`], and what was pumped, function by function.
#[derive(Debug)]
pub struct Delivery {
    odds: Option<Shuffle>,
    seed: u64,
    fair: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    random: fastrand::Rng,
    queues: HashMap<String, Queue>,
    pumped: BTreeMap<String, Pumped>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiting<Message>>,
    ledger: Ledger,
    pool: Pool<Message>,
    /// Messages in an invocation, by group.
    in_flight: HashMap<Group, usize>,
    /// The queue's visibility timeout, in seconds, once read.
    visibility: Option<i32>,
    /// When a receive into the pool last found the queue empty.
    drained: Option<Instant>,
}

impl Default for Delivery {
    fn default() -> Self {
        Self::exact()
    }
}

impl Delivery {
    /// Each batch as SQS returned it, each message once: what the emulator does.
    pub fn exact() -> Self {
        Self::new(None, 0)
    }

    /// Out of order, held back and now and then twice: what a standard queue does.
    pub fn shuffled(odds: Shuffle) -> Self {
        Self::new(Some(odds), odds.seed.unwrap_or_else(|| fastrand::u64(..)))
    }

    /// The same, from a fair queue: each batch from the pool of messages received ahead, the
    /// groups with fewest in flight first ([`fair`]).
    #[must_use]
    pub fn with_fair_queues(self) -> Self {
        Self { fair: true, ..self }
    }

    fn new(odds: Option<Shuffle>, seed: u64) -> Self {
        Self {
            odds,
            seed,
            fair: false,
            state: Mutex::new(State {
                random: fastrand::Rng::with_seed(seed),
                queues: HashMap::new(),
                pumped: BTreeMap::new(),
            }),
        }
    }

    pub fn odds(&self) -> Option<Shuffle> {
        self.odds
    }

    pub fn is_fair(&self) -> bool {
        self.fair
    }

    /// The seed of every choice (drawn when [`Shuffle::seed`] was `None`).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// What every pump through this delivery did, by function.
    pub fn pumped(&self) -> BTreeMap<String, Pumped> {
        self.lock().pumped.clone()
    }

    /// [`Delivery::pumped`], all functions together.
    pub fn total(&self) -> Pumped {
        let mut total = Pumped::default();
        for pumped in self.lock().pumped.values() {
            total += *pumped;
        }
        total
    }

    /// Up to `up_to` of the messages waiting on `queue`: they go with the next batch.
    pub fn take(&self, queue: &str, up_to: usize) -> Vec<Waiting<Message>> {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(queue) else {
            return Vec::new();
        };
        let up_to = up_to.min(queue.waiting.len());
        queue.waiting.drain(..up_to).collect()
    }

    /// How many more messages `queue`'s pool takes.
    pub fn room(&self, queue: &str) -> usize {
        self.lock()
            .queues
            .get(queue)
            .map_or(Pool::<Message>::DEPTH, |queue| queue.pool.room())
    }

    /// How many messages wait in `queue`'s pool.
    pub fn pooled(&self, queue: &str) -> usize {
        self.lock()
            .queues
            .get(queue)
            .map_or(0, |queue| queue.pool.len())
    }

    /// Keeps received messages in `queue`'s pool, each in its group.
    pub fn pool(&self, queue: &str, received: Vec<Message>) {
        let now = Instant::now();
        let mut state = self.lock();
        let pool = &mut state.queues.entry(queue.to_owned()).or_default().pool;
        for message in received {
            pool.add(group_of(&message), message, now);
        }
    }

    /// Up to `wanted` messages from `queue`'s pool, as the fair queue hands them out.
    pub fn choose(&self, queue: &str, wanted: usize) -> Vec<Message> {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(queue) else {
            return Vec::new();
        };
        queue.pool.choose(wanted, &queue.in_flight, Instant::now())
    }

    /// A receive into `queue`'s pool found nothing more.
    pub fn drained(&self, queue: &str) {
        self.lock()
            .queues
            .entry(queue.to_owned())
            .or_default()
            .drained = Some(Instant::now());
    }

    /// Whether a receive into `queue`'s pool found nothing more within `recently`.
    pub fn drained_within(&self, queue: &str, recently: std::time::Duration) -> bool {
        self.lock()
            .queues
            .get(queue)
            .and_then(|queue| queue.drained)
            .is_some_and(|at| at.elapsed() < recently)
    }

    /// These messages are in an invocation now.
    pub fn started(&self, queue: &str, messages: &[Message]) {
        let mut state = self.lock();
        let in_flight = &mut state.queues.entry(queue.to_owned()).or_default().in_flight;
        for message in messages {
            *in_flight.entry(group_of(message)).or_default() += 1;
        }
    }

    /// The invocation of these messages is over.
    pub fn finished<'a>(&self, queue: &str, messages: impl IntoIterator<Item = &'a Message>) {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(queue) else {
            return;
        };
        for message in messages {
            let group = group_of(message);
            if let Some(count) = queue.in_flight.get_mut(&group) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    queue.in_flight.remove(&group);
                }
            }
        }
    }

    /// `queue`'s visibility timeout in seconds, if read already.
    pub fn visibility(&self, queue: &str) -> Option<i32> {
        self.lock().queues.get(queue)?.visibility
    }

    pub fn set_visibility(&self, queue: &str, seconds: i32) {
        self.lock()
            .queues
            .entry(queue.to_owned())
            .or_default()
            .visibility = Some(seconds);
    }

    /// Gives back what [`Delivery::take`] took, for a batch that never went out.
    pub fn put_back(&self, queue: &str, taken: Vec<Waiting<Message>>) {
        let mut state = self.lock();
        state
            .queues
            .entry(queue.to_owned())
            .or_default()
            .waiting
            .extend(taken);
    }

    /// The next batch from `queue`, in the order the function gets it, and what the planning
    /// counted. Every message of it must be [`Delivery::settle`]d.
    pub fn batch(
        &self,
        queue: &str,
        taken: Vec<Waiting<Message>>,
        received: Vec<Message>,
    ) -> (Vec<Message>, Pumped) {
        let mut pumped = Pumped {
            received: received.len(),
            ..Pumped::default()
        };
        let mut state = self.lock();
        let State { random, queues, .. } = &mut *state;
        let plan = match &self.odds {
            Some(odds) => plan(odds, taken, received, random),
            None => Plan {
                batch: taken
                    .into_iter()
                    .chain(received.into_iter().map(|letter| Waiting {
                        letter,
                        copy: false,
                    }))
                    .collect(),
                later: Vec::new(),
                copies: Vec::new(),
                held: 0,
                shuffled: false,
            },
        };
        let queue = queues.entry(queue.to_owned()).or_default();
        queue.waiting.extend(plan.later);
        for letter in plan.copies {
            queue.ledger.copied(letter.id());
            queue.waiting.push(Waiting { letter, copy: true });
        }
        let messages = plan
            .batch
            .into_iter()
            .map(|waiting| {
                pumped.duplicates += usize::from(waiting.copy);
                if queue.ledger.started(waiting.letter.id(), waiting.copy) {
                    pumped.concurrent += 1;
                }
                waiting.letter
            })
            .collect();
        pumped.held = plan.held;
        pumped.shuffled = usize::from(plan.shuffled);
        (messages, pumped)
    }

    /// The invocation of a batch is over: which of `outcomes` (message id, succeeded) to delete.
    /// Adds what the batch did to `pumped`.
    pub fn settle<'a>(
        &self,
        queue: &str,
        outcomes: impl IntoIterator<Item = (&'a str, bool)>,
        pumped: &mut Pumped,
    ) -> Vec<&'a str> {
        let mut state = self.lock();
        let queue = state.queues.entry(queue.to_owned()).or_default();
        let mut delete = Vec::new();
        for (id, succeeded) in outcomes {
            match queue.ledger.finished(id, succeeded) {
                Ack::Delete => delete.push(id),
                Ack::AlreadyDeleted => pumped.acknowledged_again += 1,
                Ack::Keep => pumped.retried += 1,
            }
        }
        pumped.deleted = delete.len();
        delete
    }

    /// Deleting these failed: they are still on `queue`.
    pub fn not_deleted<'a>(&self, queue: &str, ids: impl IntoIterator<Item = &'a str>) {
        let mut state = self.lock();
        if let Some(queue) = state.queues.get_mut(queue) {
            for id in ids {
                queue.ledger.not_deleted(id);
            }
        }
    }

    /// Adds one pump's counts to `function`'s.
    pub fn count(&self, function: &str, pumped: Pumped) {
        *self.lock().pumped.entry(function.to_owned()).or_default() += pumped;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent between statements: a worker that panicked left it usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The message group `message` was sent with.
pub fn group_of(message: &Message) -> Group {
    message
        .attributes()?
        .get(&MessageSystemAttributeName::MessageGroupId)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(ids: &[&str]) -> Vec<Message> {
        ids.iter()
            .map(|id| {
                Message::builder()
                    .message_id(*id)
                    .receipt_handle(format!("receipt-{id}"))
                    .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
                    .build()
            })
            .collect()
    }

    fn ids(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(Letter::id).collect()
    }

    #[test]
    fn exact_delivery_hands_over_what_sqs_returned_and_deletes_what_succeeded() {
        let delivery = Delivery::exact();

        let (batch, mut pumped) = delivery.batch("q", Vec::new(), received(&["a", "b", "c"]));
        let delete = delivery.settle("q", [("a", true), ("b", false), ("c", true)], &mut pumped);
        delivery.count("processor", pumped);

        assert_eq!(ids(&batch), ["a", "b", "c"]);
        assert_eq!(delete, ["a", "c"]);
        assert!(delivery.take("q", 10).is_empty());
        let counted = delivery.pumped()["processor"];
        assert_eq!(
            (counted.received, counted.deleted, counted.retried),
            (3, 2, 1)
        );
        assert_eq!(
            (counted.shuffled, counted.held, counted.duplicates),
            (0, 0, 0)
        );
    }

    #[test]
    fn every_copy_of_a_duplicated_batch_is_delivered_once_more_and_deleted_once() {
        let delivery = Delivery::shuffled(Shuffle {
            seed: Some(3),
            hold: 0.0,
            duplicate: 1.0,
        });

        let (first, mut pumped) = delivery.batch("q", Vec::new(), received(&["a", "b"]));
        let copies = delivery.take("q", 10);
        let (second, mut again) = delivery.batch("q", copies, Vec::new());
        let deleted_first = delivery.settle("q", [("a", true), ("b", false)], &mut pumped);
        let deleted_second = delivery.settle("q", [("a", true), ("b", true)], &mut again);
        delivery.count("processor", pumped);
        delivery.count("processor", again);

        assert_eq!(first.len(), 2);
        assert_eq!(second.len(), 2);
        let count = |m: &Message| {
            m.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount].clone()
        };
        assert!(second.iter().all(|m| count(m) == "2"));
        assert_eq!(deleted_first, ["a"]);
        assert_eq!(deleted_second, ["b"]);
        let total = delivery.total();
        assert_eq!(
            (total.received, total.duplicates, total.concurrent),
            (2, 2, 2)
        );
        assert_eq!(
            (total.deleted, total.retried, total.acknowledged_again),
            (2, 1, 1)
        );
        assert!(delivery.take("q", 10).is_empty(), "copies are not copied");
    }

    #[test]
    fn taken_messages_that_never_went_out_are_given_back() {
        let delivery = Delivery::shuffled(Shuffle {
            seed: Some(4),
            hold: 1.0,
            duplicate: 0.0,
        });
        let (batch, pumped) = delivery.batch("q", Vec::new(), received(&["a", "b"]));
        assert!(batch.is_empty());
        assert_eq!(pumped.held, 2);

        let taken = delivery.take("q", 1);
        delivery.put_back("q", taken);

        assert_eq!(delivery.take("q", 10).len(), 2);
    }
}
