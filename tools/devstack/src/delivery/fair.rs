//! SQS fair queues: which of a queue's waiting messages a consumer gets next.
//!
//! A standard queue whose messages carry a message group is a fair queue: when one group (here,
//! one account) has many messages in flight, SQS hands consumers the messages of the other
//! groups first, so that their dwell time stays low while the busy group's backlog drains with
//! whatever capacity is left. moto keeps groups on standard queues but delivers in sending order,
//! so a 1000-item bulk sent just before a 100-item one is processed entirely first. The bridge
//! models the fair queue instead: it receives ahead into a [`Pool`] (up to [`Pool::DEPTH`]
//! messages, hidden on the queue meanwhile) and [`Pool::choose`]s from it, one message at a time,
//! from the group with the fewest in flight. With one group that is the queue's own order.
//!
//! A message waits in the pool at most [`Pool::AGED`]: after that it goes before any fairness,
//! so that the busy group is slowed, never starved. The bridge keeps it hidden on the queue
//! for longer than that, so that waiting here never counts as a receive towards the queue's
//! redrive; one that outlives it all the same is received again and keeps its place with its
//! new receipt.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use super::Letter;

/// A message group: the `MessageGroupId` a message was sent with, if any. Messages without one
/// are one group together.
pub type Group = Option<String>;

/// Messages received ahead, by group, each group's in the order they came.
#[derive(Debug)]
pub struct Pool<L> {
    groups: BTreeMap<Group, VecDeque<Pooled<L>>>,
    len: usize,
}

#[derive(Debug)]
struct Pooled<L> {
    letter: L,
    /// When it came into the pool: its place.
    since: Instant,
}

impl<L> Default for Pool<L> {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<L: Letter> Pool<L> {
    /// How many messages the bridge keeps received ahead, per queue: more than a 1000-item bulk,
    /// so that another account's messages sent after one are seen at once.
    pub const DEPTH: usize = 2_000;
    /// How long a message may wait in the pool before it goes first.
    pub const AGED: Duration = Duration::from_secs(120);

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many more messages the pool takes.
    pub fn room(&self) -> usize {
        Self::DEPTH.saturating_sub(self.len)
    }

    /// Adds a received message at the back of its group. A message received again (its
    /// visibility ran out while it waited here) replaces its older copy, keeping its place: only
    /// the newest receipt can delete it.
    pub fn add(&mut self, group: Group, letter: L, now: Instant) {
        let waiting = self.groups.entry(group).or_default();
        if let Some(older) = waiting.iter_mut().find(|p| p.letter.id() == letter.id()) {
            older.letter = letter;
            return;
        }
        waiting.push_back(Pooled { letter, since: now });
        self.len += 1;
    }

    /// Up to `wanted` messages for one batch: first any that waited longer than [`Pool::AGED`],
    /// oldest first; then, one at a time, the oldest of the group with the fewest in flight,
    /// counting `in_flight` and those already chosen (on a tie, the group whose next message
    /// came first).
    pub fn choose(
        &mut self,
        wanted: usize,
        in_flight: &HashMap<Group, usize>,
        now: Instant,
    ) -> Vec<L> {
        let mut chosen: Vec<L> = Vec::with_capacity(wanted);
        let mut counts: HashMap<Group, usize> = in_flight.clone();
        while chosen.len() < wanted {
            let Some(group) = self.next_group(&counts, now) else {
                break;
            };
            let Some(waiting) = self.groups.get_mut(&group) else {
                break;
            };
            let Some(pooled) = waiting.pop_front() else {
                break;
            };
            if waiting.is_empty() {
                self.groups.remove(&group);
            }
            self.len -= 1;
            *counts.entry(group).or_default() += 1;
            chosen.push(pooled.letter);
        }
        chosen
    }

    fn next_group(&self, counts: &HashMap<Group, usize>, now: Instant) -> Option<Group> {
        let heads = self
            .groups
            .iter()
            .filter_map(|(group, waiting)| Some((group, waiting.front()?.since)));
        let oldest = heads.clone().min_by_key(|(_, since)| *since)?;
        if now.saturating_duration_since(oldest.1) > Self::AGED {
            return Some(oldest.0.clone());
        }
        heads
            .min_by_key(|(group, since)| (counts.get(*group).copied().unwrap_or(0), *since))
            .map(|(group, _)| group.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of a test: its id, and which receipt of it this is.
    #[derive(Debug, Clone, PartialEq)]
    struct Note(String, u32);

    impl Letter for Note {
        fn id(&self) -> &str {
            &self.0
        }

        fn received_again(&self) -> Self {
            Note(self.0.clone(), self.1 + 1)
        }
    }

    /// The group `name`, as a message sent with `MessageGroupId` `name` has it.
    fn group(name: &str) -> Group {
        Group::from(name.to_owned())
    }

    /// A pool holding `count` messages of `name` (`a0`, `a1`, ...), each a millisecond apart.
    fn fill(pool: &mut Pool<Note>, name: &str, count: usize, start: Instant) {
        for at in 0..count {
            let since = start + Duration::from_millis(u64::try_from(at).unwrap());
            pool.add(group(name), Note(format!("{name}{at}"), 1), since);
        }
    }

    fn ids(chosen: &[Note]) -> Vec<&str> {
        chosen.iter().map(|note| note.0.as_str()).collect()
    }

    #[test]
    fn one_group_is_served_in_the_order_it_came() {
        let start = Instant::now();
        let mut pool = Pool::default();
        fill(&mut pool, "a", 5, start);

        let chosen = pool.choose(3, &HashMap::new(), start);

        assert_eq!(ids(&chosen), ["a0", "a1", "a2"]);
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn a_quiet_group_behind_a_backlog_is_served_at_once() {
        let start = Instant::now();
        let mut pool = Pool::default();
        fill(&mut pool, "a", 1000, start);
        fill(&mut pool, "b", 3, start + Duration::from_secs(1));
        let busy = HashMap::from([(group("a"), 20)]);

        let chosen = pool.choose(10, &busy, start + Duration::from_secs(2));

        // b has none in flight: its three go first, then a's backlog fills the batch.
        assert_eq!(
            ids(&chosen),
            ["b0", "b1", "b2", "a0", "a1", "a2", "a3", "a4", "a5", "a6"]
        );
    }

    #[test]
    fn two_backlogs_with_nothing_in_flight_take_turns() {
        let start = Instant::now();
        let mut pool = Pool::default();
        fill(&mut pool, "a", 10, start);
        fill(&mut pool, "b", 10, start + Duration::from_secs(1));

        let chosen = pool.choose(4, &HashMap::new(), start + Duration::from_secs(2));

        assert_eq!(ids(&chosen), ["a0", "b0", "a1", "b1"]);
    }

    #[test]
    fn a_message_that_waited_too_long_goes_before_any_fairness() {
        let start = Instant::now();
        let mut pool = Pool::default();
        fill(&mut pool, "a", 2, start);
        fill(&mut pool, "b", 2, start + Pool::<Note>::AGED);
        let busy = HashMap::from([(group("a"), 50)]);

        let later = start + Pool::<Note>::AGED + Duration::from_secs(1);
        let chosen = pool.choose(3, &busy, later);

        assert_eq!(ids(&chosen), ["a0", "a1", "b0"]);
    }

    #[test]
    fn a_message_received_again_keeps_one_place_with_its_newest_receipt() {
        let start = Instant::now();
        let mut pool = Pool::default();
        let first = Note("m".into(), 1);
        pool.add(group("a"), first.clone(), start);
        pool.add(group("a"), Note("n".into(), 1), start);
        pool.add(
            group("a"),
            first.received_again(),
            start + Duration::from_secs(1),
        );

        assert_eq!(pool.len(), 2);
        assert_eq!(pool.room(), Pool::<Note>::DEPTH - 2);
        let chosen = pool.choose(5, &HashMap::new(), start);
        assert_eq!(ids(&chosen), ["m", "n"]);
        assert_eq!(chosen[0], Note("m".into(), 2));
        assert!(pool.is_empty());
    }
}
