//! Which copy of a message deletes it: SQS deletes a message when any of its receipts is
//! deleted, so the first copy to succeed does, and a message all of whose copies failed stays
//! for SQS to deliver again.

use std::collections::HashMap;

/// What to do with a message once one copy of it is through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// The first copy to succeed: delete the message.
    Delete,
    /// Succeeded, but another copy already deleted the message.
    AlreadyDeleted,
    /// Failed: leave it; unless another copy deletes it, SQS delivers it again.
    Keep,
}

/// The messages with a copy out (running, or waiting for a later batch), and which of them
/// are deleted already. A message is forgotten once none of its copies is out.
#[derive(Debug, Default)]
pub struct Ledger {
    messages: HashMap<String, Copies>,
}

#[derive(Debug, Default)]
struct Copies {
    waiting: usize,
    running: usize,
    deleted: bool,
}

impl Ledger {
    /// A second copy of `id` waits for a later batch.
    pub fn copied(&mut self, id: &str) {
        self.messages.entry(id.to_owned()).or_default().waiting += 1;
    }

    /// `id` goes to an invocation; whether another copy of it is running at this moment.
    pub fn started(&mut self, id: &str, copy: bool) -> bool {
        let copies = self.messages.entry(id.to_owned()).or_default();
        if copy {
            copies.waiting = copies.waiting.saturating_sub(1);
        }
        copies.running += 1;
        copies.running > 1
    }

    /// A copy's invocation is over.
    pub fn finished(&mut self, id: &str, succeeded: bool) -> Ack {
        let Some(copies) = self.messages.get_mut(id) else {
            return if succeeded { Ack::Delete } else { Ack::Keep };
        };
        copies.running = copies.running.saturating_sub(1);
        let ack = match (succeeded, copies.deleted) {
            (false, _) => Ack::Keep,
            (true, true) => Ack::AlreadyDeleted,
            (true, false) => {
                copies.deleted = true;
                Ack::Delete
            }
        };
        if copies.running == 0 && copies.waiting == 0 {
            self.messages.remove(id);
        }
        ack
    }

    /// The delete of `id` failed: it is on the queue still, and a later copy may delete it.
    pub fn not_deleted(&mut self, id: &str) {
        if let Some(copies) = self.messages.get_mut(id) {
            copies.deleted = false;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_delivered_once_is_deleted_if_it_succeeds_and_then_forgotten() {
        let mut ledger = Ledger::default();

        assert!(!ledger.started("a", false));
        assert!(!ledger.started("b", false));

        assert_eq!(ledger.finished("a", true), Ack::Delete);
        assert_eq!(ledger.finished("b", false), Ack::Keep);
        assert!(ledger.is_empty());
    }

    #[test]
    fn a_duplicated_message_is_deleted_by_its_first_successful_copy_only() {
        let mut ledger = Ledger::default();
        ledger.started("a", false);
        ledger.copied("a");

        let concurrent = ledger.started("a", true);

        assert!(concurrent, "the copy started while the first was running");
        assert_eq!(ledger.finished("a", true), Ack::Delete);
        assert_eq!(ledger.finished("a", true), Ack::AlreadyDeleted);
        assert!(ledger.is_empty());
    }

    #[test]
    fn a_failed_copy_does_not_keep_a_message_its_twin_deletes_either_way_round() {
        for first_fails in [true, false] {
            let mut ledger = Ledger::default();
            ledger.started("a", false);
            ledger.copied("a");
            ledger.started("a", true);

            let acks = if first_fails {
                [ledger.finished("a", false), ledger.finished("a", true)]
            } else {
                [ledger.finished("a", true), ledger.finished("a", false)]
            };

            assert_eq!(acks.iter().filter(|ack| **ack == Ack::Delete).count(), 1);
            assert!(acks.contains(&Ack::Keep));
            assert!(ledger.is_empty());
        }
    }

    #[test]
    fn a_message_whose_copies_all_fail_is_left_to_sqs() {
        let mut ledger = Ledger::default();
        ledger.started("a", false);
        ledger.copied("a");
        ledger.started("a", true);

        assert_eq!(ledger.finished("a", false), Ack::Keep);
        assert_eq!(ledger.finished("a", false), Ack::Keep);
        assert!(ledger.is_empty());
    }

    #[test]
    fn a_deleted_message_is_remembered_while_a_copy_of_it_waits() {
        let mut ledger = Ledger::default();
        ledger.started("a", false);
        ledger.copied("a");
        assert_eq!(ledger.finished("a", true), Ack::Delete);
        assert!(!ledger.is_empty());

        let concurrent = ledger.started("a", true);

        assert!(!concurrent, "its first copy was through");
        assert_eq!(ledger.finished("a", true), Ack::AlreadyDeleted);
        assert!(ledger.is_empty());
    }

    #[test]
    fn after_a_failed_delete_another_copy_deletes_the_message() {
        let mut ledger = Ledger::default();
        ledger.started("a", false);
        ledger.copied("a");
        assert_eq!(ledger.finished("a", true), Ack::Delete);

        ledger.not_deleted("a");
        ledger.started("a", true);

        assert_eq!(ledger.finished("a", true), Ack::Delete);
    }
}
