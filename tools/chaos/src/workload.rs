//! What the accounts submit: bulks whose items are mostly new radars, with invalid items (400),
//! repeats of an account's earlier radars (409), and one account whose balance runs out part-way
//! (402). The mix is drawn from a seed, so a failing run can be repeated with the same load.
//!
//! Beside the well-behaved accounts, whose endpoints answer at once, there may be two noisy
//! ones ([`NOISY`]): one whose endpoint never answers and one whose endpoint flaps. Their bulks
//! go first, so that everyone else's meet them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::endpoint::Behaviour;

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Well-behaved accounts.
    pub accounts: usize,
    /// Bulks of the well-behaved accounts, spread over them in turn.
    pub bulks: usize,
    pub items: usize,
    /// Bulks of each noisy account ([`NOISY`]); none: no noisy accounts.
    pub noisy_bulks: usize,
}

/// The noisy accounts' endpoints, after the well-behaved accounts: one accepts connections
/// and never answers, one flaps between 200s, 500s and silence every 30 s.
pub const NOISY: [Behaviour; 2] = [
    Behaviour::Silent,
    Behaviour::Flapping {
        phase: Duration::from_secs(30),
    },
];

/// What an item was made to be, which bounds the outcomes it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A radar the account asks for only here.
    Fresh,
    /// A radar the account asks for here first, and again later: this item or a later one gets
    /// it, whichever is decided first.
    Repeated,
    /// Fails validation: always a 400.
    Invalid,
    /// Asks again for a radar of an earlier item of the same account.
    Repeat,
}

/// One bulk, before it is submitted.
#[derive(Debug, Clone)]
pub struct PlannedBulk {
    /// Index into [`Workload::credits`].
    pub account: usize,
    pub radars: Vec<Value>,
    pub kinds: Vec<Kind>,
}

/// Every bulk of a run, and each account's starting balance and endpoint.
#[derive(Debug, Clone)]
pub struct Workload {
    /// In the order they are submitted.
    pub bulks: Vec<PlannedBulk>,
    pub credits: Vec<i64>,
    pub endpoints: Vec<Behaviour>,
    /// The account whose balance runs out part-way, if any.
    pub tight: Option<usize>,
}

/// Radar types the load draws from: each needs only a domain.
const TYPES: [&str; 3] = [
    "company_job_openings",
    "company_mentions",
    "company_reviews",
];
/// Shares of the items that are invalid and that repeat an earlier radar.
const INVALID: f64 = 0.08;
const REPEAT: f64 = 0.06;
/// The first account can pay for this share of its new radars: the rest are 402s.
const TIGHT_BALANCE: f64 = 0.7;

impl Workload {
    /// Bulks go to the well-behaved accounts in turn; account 0 is the one that runs short of
    /// credits. The noisy accounts' bulks come first, drawn apart so that the well-behaved
    /// accounts' load is the same with them or without.
    pub fn draw(shape: Shape, seed: u64) -> Self {
        let accounts = shape.accounts.max(1);
        let noisy = if shape.noisy_bulks > 0 {
            NOISY.len()
        } else {
            0
        };
        let mut draw = Draw {
            items: shape.items,
            earlier: vec![Vec::new(); accounts + noisy],
            bulks: Vec::with_capacity(shape.bulks + noisy * shape.noisy_bulks),
        };
        // Another stream from the same seed ("noisy" in ASCII).
        let mut noisy_rng = fastrand::Rng::with_seed(seed ^ 0x006e_6f69_7379);
        for n in 0..noisy * shape.noisy_bulks {
            draw.bulk(&mut noisy_rng, accounts + n % noisy);
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        for b in 0..shape.bulks {
            draw.bulk(&mut rng, b % accounts);
        }
        let tight = (accounts > 1).then_some(0);
        let credits = draw
            .earlier
            .iter()
            .enumerate()
            .map(|(account, new)| {
                let new = i64::try_from(new.len()).unwrap_or(i64::MAX);
                if tight == Some(account) {
                    // Truncation is the point: a balance that cannot cover every radar.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                    let tight = (new as f64 * TIGHT_BALANCE) as i64;
                    tight
                } else {
                    new + 10
                }
            })
            .collect();
        let endpoints = std::iter::repeat_n(Behaviour::Answers, accounts)
            .chain(NOISY.into_iter().take(noisy))
            .collect();
        Self {
            bulks: draw.bulks,
            credits,
            endpoints,
            tight,
        }
    }

    pub fn items(&self) -> usize {
        self.bulks.iter().map(|bulk| bulk.radars.len()).sum()
    }
}

/// The bulks drawn so far, and each account's new radars among them: (bulk, item).
struct Draw {
    items: usize,
    earlier: Vec<Vec<(usize, usize)>>,
    bulks: Vec<PlannedBulk>,
}

impl Draw {
    /// The next bulk, of `account`.
    fn bulk(&mut self, rng: &mut fastrand::Rng, account: usize) {
        let b = self.bulks.len();
        self.bulks.push(PlannedBulk {
            account,
            radars: Vec::with_capacity(self.items),
            kinds: Vec::with_capacity(self.items),
        });
        for i in 0..self.items {
            let roll = rng.f64();
            let custom_fields = json!({ "bulk": b, "item": i });
            let radar_type = TYPES[rng.usize(..TYPES.len())];
            let earlier = &mut self.earlier[account];
            let (radar, kind) = if roll < INVALID {
                let domain = format!("not a domain {b}.{i}");
                (
                    json!({ "radar_type": radar_type, "domain": domain }),
                    Kind::Invalid,
                )
            } else if roll < INVALID + REPEAT && !earlier.is_empty() {
                let (ob, oi) = earlier[rng.usize(..earlier.len())];
                self.bulks[ob].kinds[oi] = Kind::Repeated;
                (self.bulks[ob].radars[oi].clone(), Kind::Repeat)
            } else {
                earlier.push((b, i));
                let domain = format!("a{account}-b{b}-i{i}.example.com");
                (
                    json!({ "radar_type": radar_type, "domain": domain }),
                    Kind::Fresh,
                )
            };
            let mut radar = radar;
            radar["custom_fields"] = custom_fields;
            self.bulks[b].radars.push(radar);
            self.bulks[b].kinds.push(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_has_every_kind_and_one_tight_account() {
        let workload = Workload::draw(
            Shape {
                accounts: 3,
                bulks: 6,
                items: 200,
                noisy_bulks: 0,
            },
            7,
        );
        assert_eq!(workload.items(), 1200);
        let kinds: Vec<Kind> = workload
            .bulks
            .iter()
            .flat_map(|bulk| bulk.kinds.clone())
            .collect();
        for kind in [Kind::Fresh, Kind::Repeated, Kind::Invalid, Kind::Repeat] {
            assert!(kinds.contains(&kind), "{kind:?} is missing");
        }
        let fresh_of_first: i64 = workload
            .bulks
            .iter()
            .filter(|bulk| bulk.account == 0)
            .flat_map(|bulk| &bulk.kinds)
            .filter(|kind| matches!(kind, Kind::Fresh | Kind::Repeated))
            .count()
            .try_into()
            .unwrap();
        assert!(workload.credits[0] < fresh_of_first);
        assert!(workload.credits[1..].iter().all(|&c| c > 0));
        let again = Workload::draw(
            Shape {
                accounts: 3,
                bulks: 6,
                items: 200,
                noisy_bulks: 0,
            },
            7,
        );
        assert_eq!(again.bulks[5].radars, workload.bulks[5].radars);
    }

    #[test]
    fn repeats_name_an_earlier_radar_of_the_same_account() {
        let workload = Workload::draw(
            Shape {
                accounts: 2,
                bulks: 4,
                items: 100,
                noisy_bulks: 0,
            },
            11,
        );
        for bulk in &workload.bulks {
            for (radar, kind) in bulk.radars.iter().zip(&bulk.kinds) {
                let domain = radar["domain"].as_str().unwrap();
                match kind {
                    Kind::Repeat | Kind::Repeated | Kind::Fresh => {
                        assert!(domain.starts_with(&format!("a{}-", bulk.account)));
                    }
                    Kind::Invalid => assert!(domain.contains(' ')),
                }
            }
        }
    }

    #[test]
    fn noisy_accounts_submit_first_and_leave_the_others_load_as_it_was() {
        let shape = Shape {
            accounts: 2,
            bulks: 4,
            items: 50,
            noisy_bulks: 2,
        };
        let quiet = Workload::draw(
            Shape {
                noisy_bulks: 0,
                ..shape
            },
            5,
        );
        let noisy = Workload::draw(shape, 5);
        assert_eq!(noisy.endpoints[..2], [Behaviour::Answers; 2]);
        assert_eq!(noisy.endpoints[2..], NOISY);
        let owners: Vec<usize> = noisy.bulks.iter().map(|bulk| bulk.account).collect();
        assert_eq!(owners, [2, 3, 2, 3, 0, 1, 0, 1]);
        let kinds = |workload: &Workload| -> Vec<Vec<Kind>> {
            workload
                .bulks
                .iter()
                .filter(|bulk| bulk.account < 2)
                .map(|bulk| bulk.kinds.clone())
                .collect()
        };
        assert_eq!(kinds(&noisy), kinds(&quiet));
        assert_eq!(noisy.credits[..2], quiet.credits[..]);
        assert!(noisy.credits[2..].iter().all(|&c| c > 0));
        assert_eq!((noisy.tight, quiet.tight), (Some(0), Some(0)));
    }
}
