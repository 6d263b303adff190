//! How long bulks took, from their `202` to the first arrival of their `bulk_completed`, by
//! the kind of endpoint their account has: what the noisy accounts cost everyone else. A run
//! with `--no-noisy` gives the figures to compare with.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use crate::{accounts::Delivery, endpoint::Behaviour, traffic::Accepted, workload::Workload};

/// The bulks of the accounts whose endpoints behave one way.
#[derive(Debug, Clone)]
pub struct Group {
    pub endpoint: Behaviour,
    pub bulks: usize,
    /// From each bulk's `202` to its `bulk_completed`, sorted; bulks without one are left out.
    pub took: Vec<Duration>,
}

impl Group {
    pub fn median(&self) -> Option<Duration> {
        self.took.get(self.took.len().checked_sub(1)? / 2).copied()
    }

    pub fn slowest(&self) -> Option<Duration> {
        self.took.last().copied()
    }
}

/// What the bulks took.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// One group per kind of endpoint, in the order of the workload's accounts.
    pub groups: Vec<Group>,
    /// From the run's first `202` to the last `bulk_completed` of an account whose endpoint
    /// answers at once.
    pub well_behaved_done: Option<Duration>,
}

/// Times each accepted bulk from `accepted` (in the workload's order) and the receivers'
/// `deliveries`.
pub fn measure(
    workload: &Workload,
    accepted: &[Option<Accepted>],
    deliveries: &[Delivery],
) -> Timing {
    let mut completed: HashMap<&str, Instant> = HashMap::new();
    for delivery in deliveries {
        let body = &delivery.received.body;
        if body["update_type"] == "bulk_completed"
            && let Some(bulk) = body["bulk_id"].as_str()
        {
            let first = completed.entry(bulk).or_insert(delivery.at);
            *first = (*first).min(delivery.at);
        }
    }
    let start = accepted.iter().flatten().map(|a| a.at).min();
    let mut timing = Timing::default();
    for &endpoint in &workload.endpoints {
        if timing.groups.iter().all(|g| g.endpoint != endpoint) {
            timing.groups.push(Group {
                endpoint,
                bulks: 0,
                took: Vec::new(),
            });
        }
    }
    for (bulk, accepted) in workload.bulks.iter().zip(accepted) {
        let endpoint = workload.endpoints[bulk.account];
        let Some(group) = timing.groups.iter_mut().find(|g| g.endpoint == endpoint) else {
            continue;
        };
        group.bulks += 1;
        let Some(accepted) = accepted else { continue };
        let Some(&done) = completed.get(accepted.id.to_string().as_str()) else {
            continue;
        };
        group.took.push(done.saturating_duration_since(accepted.at));
        if endpoint == Behaviour::Answers
            && let Some(start) = start
        {
            let since = done.saturating_duration_since(start);
            timing.well_behaved_done =
                Some(timing.well_behaved_done.map_or(since, |d| d.max(since)));
        }
    }
    for group in &mut timing.groups {
        group.took.sort_unstable();
    }
    timing
}
