//! The items transactions hold: from the moment one is let through to the emulator until a
//! window after it committed. DynamoDB Local runs transactions one at a time, so without this
//! table two that overlap on an item would both commit; DynamoDB refuses the second.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use super::request::ItemKey;

#[derive(Debug, Clone)]
struct Hold {
    /// `None` while the transaction is with the emulator.
    until: Option<Instant>,
    /// The transaction's `ClientRequestToken`.
    token: Option<String>,
}

/// Held items, by key.
#[derive(Debug, Default)]
pub struct Holds {
    holds: HashMap<ItemKey, Hold>,
}

/// Lapsed holds are dropped once there are more than this.
const SWEEP_ABOVE: usize = 1024;

impl Holds {
    /// Whether `key` is held at `now` by a transaction other than the one that `token` names
    /// (a retry of a committed transaction is answered as the first was: no conflict with
    /// itself). A call without a token is never that transaction.
    pub fn held(&self, key: &ItemKey, token: Option<&str>, now: Instant) -> bool {
        self.holds.get(key).is_some_and(|hold| {
            let ours = token.is_some() && hold.token.as_deref() == token;
            let live = hold.until.is_none_or(|until| now < until);
            live && !ours
        })
    }

    /// Holds `keys` for a transaction that goes to the emulator now.
    pub fn take(&mut self, keys: &[ItemKey], token: Option<&str>) {
        for key in keys {
            let hold = Hold {
                until: None,
                token: token.map(str::to_owned),
            };
            self.holds.insert(key.clone(), hold);
        }
    }

    /// The transaction committed at `now`: its items stay held for `window`.
    pub fn commit(&mut self, keys: &[ItemKey], now: Instant, window: Duration) {
        for key in keys {
            if let Some(hold) = self.holds.get_mut(key) {
                hold.until = Some(now + window);
            }
        }
        self.sweep(now);
    }

    /// The transaction did not commit: what it held while with the emulator is free again.
    pub fn release(&mut self, keys: &[ItemKey], now: Instant) {
        for key in keys {
            if self.holds.get(key).is_some_and(|hold| hold.until.is_none()) {
                self.holds.remove(key);
            }
        }
        self.sweep(now);
    }

    fn sweep(&mut self, now: Instant) {
        if self.holds.len() > SWEEP_ABOVE {
            self.holds
                .retain(|_, hold| hold.until.is_none_or(|until| now < until));
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.holds.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sk: &str) -> ItemKey {
        ItemKey {
            table: "t".into(),
            pk: "ACCOUNT#a".into(),
            sk: sk.into(),
        }
    }

    const WINDOW: Duration = Duration::from_millis(10);

    #[test]
    fn an_item_is_held_from_the_emulator_until_the_window_after_commit() {
        let now = Instant::now();
        let mut holds = Holds::default();
        let item = key("ACCOUNT");

        holds.take(std::slice::from_ref(&item), Some("a"));
        assert!(holds.held(&item, Some("b"), now + Duration::from_secs(60)));
        holds.commit(std::slice::from_ref(&item), now, WINDOW);

        assert!(holds.held(&item, Some("b"), now + WINDOW / 2));
        assert!(holds.held(&item, None, now + WINDOW / 2));
        assert!(!holds.held(&item, Some("b"), now + WINDOW));
        assert!(!holds.held(&key("OTHER"), None, now));
    }

    #[test]
    fn a_retry_of_the_holding_transaction_is_not_in_conflict() {
        let now = Instant::now();
        let mut holds = Holds::default();
        let item = key("ACCOUNT");
        holds.take(std::slice::from_ref(&item), Some("a"));
        holds.commit(std::slice::from_ref(&item), now, WINDOW);

        assert!(!holds.held(&item, Some("a"), now));
    }

    #[test]
    fn a_transaction_that_did_not_commit_frees_its_items() {
        let now = Instant::now();
        let mut holds = Holds::default();
        let item = key("ACCOUNT");
        holds.take(std::slice::from_ref(&item), None);

        holds.release(std::slice::from_ref(&item), now);

        assert!(!holds.held(&item, None, now));
    }

    #[test]
    fn releasing_never_cuts_a_committed_window_short() {
        let now = Instant::now();
        let mut holds = Holds::default();
        let item = key("ACCOUNT");
        holds.take(std::slice::from_ref(&item), Some("a"));
        holds.commit(std::slice::from_ref(&item), now, WINDOW);

        holds.release(std::slice::from_ref(&item), now);

        assert!(holds.held(&item, Some("b"), now));
    }

    #[test]
    fn lapsed_holds_are_swept() {
        let now = Instant::now();
        let mut holds = Holds::default();
        let keys: Vec<ItemKey> = (0..=SWEEP_ABOVE).map(|i| key(&i.to_string())).collect();
        holds.take(&keys, None);
        holds.commit(&keys, now, WINDOW);

        holds.commit(&[], now + WINDOW, WINDOW);

        assert_eq!(holds.len(), 0);
    }
}
