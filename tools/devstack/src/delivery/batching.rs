//! The delivery policy: which received messages go into a batch, in what order, which wait for
//! a later one, and which are delivered a second time.

use std::collections::HashSet;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};

/// The odds of SQS's standard-queue behaviours, for each message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shuffle {
    /// Seeds every choice; `None` draws a seed. Concurrent workers still interleave as they
    /// will, so only a single worker's run repeats exactly.
    pub seed: Option<u64>,
    /// The chance that a received message is held back for a later batch.
    pub hold: f64,
    /// The chance that a delivered message is delivered a second time.
    pub duplicate: f64,
}

impl Default for Shuffle {
    /// About one message a batch held back, one in a hundred delivered twice.
    fn default() -> Self {
        Self {
            seed: None,
            hold: 0.1,
            duplicate: 0.01,
        }
    }
}

/// Where the policy's chances come from.
pub trait Random {
    /// True with probability `odds`.
    fn chance(&mut self, odds: f64) -> bool;
    /// Puts `items` in a random order.
    fn shuffle<T>(&mut self, items: &mut [T]);
}

impl Random for fastrand::Rng {
    fn chance(&mut self, odds: f64) -> bool {
        self.f64() < odds
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        fastrand::Rng::shuffle(self, items);
    }
}

/// What the policy needs of a message.
pub trait Letter: Clone {
    /// The message's id, which every copy of it shares.
    fn id(&self) -> &str;
    /// The copy a second receive of this message returns.
    #[must_use]
    fn received_again(&self) -> Self;
}

impl Letter for Message {
    fn id(&self) -> &str {
        self.message_id.as_deref().unwrap_or_default()
    }

    fn received_again(&self) -> Self {
        let mut copy = self.clone();
        let count = copy.attributes.as_mut().and_then(|attributes| {
            attributes.get_mut(&MessageSystemAttributeName::ApproximateReceiveCount)
        });
        if let Some(count) = count
            && let Ok(n) = count.parse::<u32>()
        {
            *count = (n + 1).to_string();
        }
        copy
    }
}

/// A message kept for a later batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting<L> {
    pub letter: L,
    /// A second copy of a message already delivered, rather than a held-back one.
    pub copy: bool,
}

/// One batch, planned: what the function gets, in order, and what waits for a later batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<L> {
    pub batch: Vec<Waiting<L>>,
    /// Held back, or a copy that would have shared the batch with its twin.
    pub later: Vec<Waiting<L>>,
    /// Second copies of messages of this batch, for a later one.
    pub copies: Vec<L>,
    /// Received messages held back.
    pub held: usize,
    /// Whether the batch's order differs from the order its messages came in.
    pub shuffled: bool,
}

/// Plans a batch from the messages kept from earlier batches (`taken`, which all go now) and
/// those just `received`. Two copies of one message never share a batch: a second one waits.
pub fn plan<L: Letter>(
    odds: &Shuffle,
    taken: Vec<Waiting<L>>,
    received: Vec<L>,
    random: &mut impl Random,
) -> Plan<L> {
    let mut batch = Vec::new();
    let mut later = Vec::new();
    let mut held = 0;
    let mut ids = HashSet::new();
    for waiting in taken {
        if ids.insert(waiting.letter.id().to_owned()) {
            batch.push(waiting);
        } else {
            later.push(waiting);
        }
    }
    for letter in received {
        let waiting = Waiting {
            letter,
            copy: false,
        };
        if ids.contains(waiting.letter.id()) {
            later.push(waiting);
        } else if random.chance(odds.hold) {
            held += 1;
            later.push(waiting);
        } else {
            ids.insert(waiting.letter.id().to_owned());
            batch.push(waiting);
        }
    }
    let mut order: Vec<usize> = (0..batch.len()).collect();
    random.shuffle(&mut order);
    let shuffled = order.windows(2).any(|pair| pair[0] > pair[1]);
    let mut slots: Vec<Option<Waiting<L>>> = batch.into_iter().map(Some).collect();
    let batch: Vec<Waiting<L>> = order.iter().filter_map(|&at| slots[at].take()).collect();
    // A copy is not copied again: three deliveries of one message would be rarer than rare.
    let copies = batch
        .iter()
        .filter(|waiting| !waiting.copy && random.chance(odds.duplicate))
        .map(|waiting| waiting.letter.received_again())
        .collect();
    Plan {
        batch,
        later,
        copies,
        held,
        shuffled,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A message of a test: its id, and how many times it was received.
    #[derive(Debug, Clone, PartialEq)]
    struct Note(&'static str, u32);

    impl Letter for Note {
        fn id(&self) -> &str {
            self.0
        }

        fn received_again(&self) -> Self {
            Note(self.0, self.1 + 1)
        }
    }

    fn notes(ids: &[&'static str]) -> Vec<Note> {
        ids.iter().map(|id| Note(id, 1)).collect()
    }

    const ODDS: Shuffle = Shuffle {
        seed: None,
        hold: 0.5,
        duplicate: 0.25,
    };

    /// Answers each hold and each duplicate chance from its own script (no, once it runs out),
    /// and shuffles by reversing, if told to.
    #[derive(Default)]
    struct Script {
        holds: VecDeque<bool>,
        duplicates: VecDeque<bool>,
        asked_to_hold: usize,
        reverse: bool,
    }

    impl Random for Script {
        fn chance(&mut self, odds: f64) -> bool {
            if (odds - ODDS.hold).abs() < f64::EPSILON {
                self.asked_to_hold += 1;
                self.holds.pop_front().unwrap_or(false)
            } else {
                self.duplicates.pop_front().unwrap_or(false)
            }
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            if self.reverse {
                items.reverse();
            }
        }
    }

    fn letters(waiting: &[Waiting<Note>]) -> Vec<(&str, bool)> {
        waiting.iter().map(|w| (w.letter.0, w.copy)).collect()
    }

    #[test]
    fn without_a_chance_taken_a_batch_is_what_sqs_returned_in_its_order() {
        let plan = plan(
            &ODDS,
            Vec::new(),
            notes(&["a", "b", "c"]),
            &mut Script::default(),
        );

        assert_eq!(
            letters(&plan.batch),
            [("a", false), ("b", false), ("c", false)]
        );
        assert!(plan.later.is_empty() && plan.copies.is_empty());
        assert_eq!((plan.held, plan.shuffled), (0, false));
    }

    #[test]
    fn a_held_message_goes_with_the_next_batch_and_is_never_held_twice() {
        let mut first = Script {
            holds: VecDeque::from([false, true, false]),
            ..Script::default()
        };
        let held = plan(&ODDS, Vec::new(), notes(&["a", "b", "c"]), &mut first);
        assert_eq!(letters(&held.batch), [("a", false), ("c", false)]);
        assert_eq!(letters(&held.later), [("b", false)]);
        assert_eq!(held.held, 1);

        let mut second = Script {
            holds: VecDeque::from([true, true]),
            ..Script::default()
        };
        let next = plan(&ODDS, held.later, notes(&["d"]), &mut second);

        // Only `d` was asked; `b` had been held once already and goes now.
        assert_eq!(second.asked_to_hold, 1);
        assert_eq!(letters(&next.batch), [("b", false)]);
        assert_eq!(letters(&next.later), [("d", false)]);
    }

    #[test]
    fn a_reordered_batch_counts_as_shuffled_and_a_single_message_cannot() {
        let mut reversing = Script {
            reverse: true,
            ..Script::default()
        };

        let many = plan(&ODDS, Vec::new(), notes(&["a", "b", "c"]), &mut reversing);
        let one = plan(&ODDS, Vec::new(), notes(&["a"]), &mut reversing);

        assert_eq!(
            letters(&many.batch),
            [("c", false), ("b", false), ("a", false)]
        );
        assert!(many.shuffled);
        assert!(!one.shuffled);
    }

    #[test]
    fn a_duplicate_is_a_second_receive_of_the_message_kept_for_a_later_batch() {
        let mut script = Script {
            duplicates: VecDeque::from([false, true]),
            ..Script::default()
        };

        let plan = plan(&ODDS, Vec::new(), notes(&["a", "b"]), &mut script);

        assert_eq!(letters(&plan.batch), [("a", false), ("b", false)]);
        assert_eq!(plan.copies, [Note("b", 2)]);
    }

    #[test]
    fn two_copies_of_a_message_never_share_a_batch_and_a_copy_is_not_copied_again() {
        let copy = Waiting {
            letter: Note("a", 2),
            copy: true,
        };
        let mut script = Script {
            holds: VecDeque::from([false]),
            duplicates: VecDeque::from([true, true]),
            ..Script::default()
        };

        let plan = plan(&ODDS, vec![copy], notes(&["a", "b"]), &mut script);

        assert_eq!(letters(&plan.batch), [("a", true), ("b", false)]);
        // The second `a` waits without being asked to; it is not a held message.
        assert_eq!(letters(&plan.later), [("a", false)]);
        assert_eq!((plan.held, script.asked_to_hold), (0, 1));
        // Only `b` was asked to be copied; the script's second yes is left.
        assert_eq!(plan.copies, [Note("b", 2)]);
        assert_eq!(script.duplicates, [true]);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let odds = Shuffle::default();
        let run = |seed| {
            let mut random = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| plan(&odds, Vec::new(), notes(&["a", "b", "c", "d"]), &mut random))
                .collect::<Vec<_>>()
        };

        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn the_default_odds_hold_a_tenth_back_and_copy_a_hundredth() {
        let mut random = fastrand::Rng::with_seed(15);
        let (mut held, mut copies, mut shuffled) = (0, 0, 0);
        let ten = notes(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);

        for _ in 0..2_000 {
            let plan = plan(&Shuffle::default(), Vec::new(), ten.clone(), &mut random);
            held += plan.held;
            copies += plan.copies.len();
            shuffled += usize::from(plan.shuffled);
        }

        // 20,000 messages: about 2,000 held back and 180 copied (a hundredth of those sent).
        assert!((1_800..2_200).contains(&held), "{held} held");
        assert!((120..250).contains(&copies), "{copies} copied");
        assert!(shuffled > 1_990, "{shuffled} of 2,000 batches shuffled");
    }

    #[test]
    fn a_message_received_again_counts_one_more_receive() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("receipt")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .build();

        let again = message.received_again();

        assert_eq!(again.id(), "m-1");
        assert_eq!(again.receipt_handle(), Some("receipt"));
        assert_eq!(
            again.attributes().unwrap()[&MessageSystemAttributeName::ApproximateReceiveCount],
            "4"
        );
    }
}
