//! What the accounts submit: bulks whose items are mostly new radars, with invalid items (400),
//! repeats of an account's earlier radars (409), and one account whose balance runs out part-way
//! (402). The mix is drawn from a seed, so a failing run can be repeated with the same load.

use serde_json::{Value, json};

/// How much load.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub accounts: usize,
    pub bulks: usize,
    pub items: usize,
}

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

/// Every bulk of a run, and each account's starting balance.
#[derive(Debug, Clone)]
pub struct Workload {
    pub bulks: Vec<PlannedBulk>,
    pub credits: Vec<i64>,
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
    /// Bulks go to the accounts in turn; account 0 is the one that runs short of credits.
    pub fn draw(shape: Shape, seed: u64) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let accounts = shape.accounts.max(1);
        // Each account's new radars so far: (bulk, item).
        let mut earlier: Vec<Vec<(usize, usize)>> = vec![Vec::new(); accounts];
        let mut bulks: Vec<PlannedBulk> = Vec::with_capacity(shape.bulks);
        for b in 0..shape.bulks {
            let account = b % accounts;
            bulks.push(PlannedBulk {
                account,
                radars: Vec::with_capacity(shape.items),
                kinds: Vec::with_capacity(shape.items),
            });
            for i in 0..shape.items {
                let roll = rng.f64();
                let custom_fields = json!({ "bulk": b, "item": i });
                let radar_type = TYPES[rng.usize(..TYPES.len())];
                let (radar, kind) = if roll < INVALID {
                    let domain = format!("not a domain {b}.{i}");
                    (
                        json!({ "radar_type": radar_type, "domain": domain }),
                        Kind::Invalid,
                    )
                } else if roll < INVALID + REPEAT && !earlier[account].is_empty() {
                    let (ob, oi) = earlier[account][rng.usize(..earlier[account].len())];
                    bulks[ob].kinds[oi] = Kind::Repeated;
                    (bulks[ob].radars[oi].clone(), Kind::Repeat)
                } else {
                    earlier[account].push((b, i));
                    let domain = format!("a{account}-b{b}-i{i}.example.com");
                    (
                        json!({ "radar_type": radar_type, "domain": domain }),
                        Kind::Fresh,
                    )
                };
                let mut radar = radar;
                radar["custom_fields"] = custom_fields;
                bulks[b].radars.push(radar);
                bulks[b].kinds.push(kind);
            }
        }
        let credits = earlier
            .iter()
            .enumerate()
            .map(|(account, new)| {
                let new = i64::try_from(new.len()).unwrap_or(i64::MAX);
                if account == 0 && accounts > 1 {
                    // Truncation is the point: a balance that cannot cover every radar.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                    let tight = (new as f64 * TIGHT_BALANCE) as i64;
                    tight
                } else {
                    new + 10
                }
            })
            .collect();
        Self { bulks, credits }
    }

    pub fn items(&self) -> usize {
        self.bulks.iter().map(|bulk| bulk.radars.len()).sum()
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
}
