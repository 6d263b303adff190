//! The invariants of DESIGN.md, checked after a run against three independent witnesses: what
//! the webhook receivers got, what the API answers a poll with, and what the table holds.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use provision::Provisioned;
use serde_json::Value;
use shared::store::Store;
use uuid::Uuid;

use crate::{
    Error, Result,
    accounts::{Delivery, OpenAccount},
    seen::{Event, Seen, outcome},
    settle::queued,
    traffic::Submissions,
    workload::{Kind, Workload},
};

mod ends;
mod held;

/// One invariant, and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    pub invariant: &'static str,
    pub held: bool,
    /// What was counted, or the first few violations.
    pub detail: String,
}

/// Everything a run leaves behind to be checked.
#[derive(Debug)]
pub struct Evidence<'a> {
    pub workload: &'a Workload,
    pub accounts: &'a [OpenAccount],
    /// The bulk id each planned bulk was accepted as.
    pub bulk_ids: &'a [Option<Uuid>],
    pub deliveries: &'a [Delivery],
    pub polled: &'a HashMap<Uuid, Value>,
    pub store: &'a Store,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub provisioned: &'a Provisioned,
    pub settled: bool,
    pub submissions: Submissions,
    /// Attempts of a delivery that is given up: the retry schedule's pauses, plus one.
    pub attempts: u32,
}

/// Violations are listed up to this many per invariant.
const SHOWN: usize = 3;

/// Collects violations of one invariant.
struct Findings {
    invariant: &'static str,
    violations: Vec<String>,
    count: usize,
}

impl Findings {
    fn new(invariant: &'static str) -> Self {
        Self {
            invariant,
            violations: Vec::new(),
            count: 0,
        }
    }

    fn fail(&mut self, what: impl Into<String>) {
        self.count += 1;
        if self.violations.len() < SHOWN {
            self.violations.push(what.into());
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(what());
        }
    }

    fn done(self, held: impl Into<String>) -> Check {
        if self.count == 0 {
            Check {
                invariant: self.invariant,
                held: true,
                detail: held.into(),
            }
        } else {
            Check {
                invariant: self.invariant,
                held: false,
                detail: format!("{} violations: {}", self.count, self.violations.join("; ")),
            }
        }
    }
}

/// Checks every invariant; also counts items by outcome.
pub async fn check(evidence: &Evidence<'_>) -> Result<(Vec<Check>, BTreeMap<String, u64>)> {
    let seen = Seen::new(evidence.bulk_ids, evidence.deliveries);
    let held = held::load(evidence).await?;
    let mut stable = Findings::new("5. a redelivered event keeps its update_id and body");
    let items = items(evidence, &seen, &held, &mut stable);
    let mut checks = vec![items.once];
    checks.extend(radars(evidence, &items.created).await?);
    checks.push(completions(evidence, &seen, &held, &mut stable));
    let duplicates = evidence.deliveries.len() - seen.events.len();
    checks.push(stable.done(format!("{duplicates} duplicate deliveries, all identical")));
    checks.push(refusals(evidence, &seen));
    checks.push(polls(evidence, &seen));
    checks.push(items.kinds);
    checks.push(ends::check(evidence).await?);
    checks.push(in_flight(evidence).await);
    Ok((checks, items.outcomes))
}

/// What the item events showed.
struct Items<'a> {
    once: Check,
    kinds: Check,
    outcomes: BTreeMap<String, u64>,
    /// Each account's `radar_created` bodies.
    created: HashMap<usize, Vec<&'a Value>>,
}

/// 1, 5 and 8: one event per item, stable across deliveries, with an outcome it could have.
/// An item whose event was held back and given up without a request has its stored event
/// instead ([`held`]).
fn items<'a>(
    evidence: &Evidence<'a>,
    seen: &Seen<'a>,
    held: &'a held::Held,
    stable: &mut Findings,
) -> Items<'a> {
    let mut once = Findings::new("1. every item of an accepted bulk ends exactly once");
    let mut kinds = Findings::new("8. each item's outcome fits what it was (bad input is a 400)");
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut created: HashMap<usize, Vec<&'a Value>> = HashMap::new();
    for (planned, id) in evidence.bulk_ids.iter().enumerate() {
        let bulk = &evidence.workload.bulks[planned];
        let Some(id) = *id else {
            once.fail(format!("planned bulk {planned} was never accepted"));
            continue;
        };
        for (index, kind) in bulk.kinds.iter().enumerate() {
            let body = if let Some(event) = seen.item(id, index) {
                let body = event.bodies[0];
                stable.check(event.bodies.iter().all(|b| *b == body), || {
                    format!("{} was delivered with different bodies", event.id)
                });
                stable.check(body["update_id"] == event.id, || {
                    format!(
                        "webhook-id {} is not update_id {}",
                        event.id, body["update_id"]
                    )
                });
                body
            } else if let Some(body) = held.items.get(&(id, index as u64)) {
                body
            } else {
                once.fail(format!("{id} item {index}: not exactly one event"));
                continue;
            };
            let outcome = outcome(body);
            *outcomes.entry(outcome.clone()).or_default() += 1;
            if outcome == "created" {
                created.entry(bulk.account).or_default().push(body);
            }
            let fits = match kind {
                Kind::Invalid => outcome == "400",
                Kind::Fresh if evidence.workload.tight == Some(bulk.account) => {
                    matches!(outcome.as_str(), "created" | "402" | "500")
                }
                Kind::Fresh => matches!(outcome.as_str(), "created" | "500"),
                Kind::Repeat | Kind::Repeated => {
                    matches!(outcome.as_str(), "created" | "409" | "402" | "500")
                }
            };
            kinds.check(fits, || {
                format!("{id} item {index}: {kind:?} ended as {outcome}")
            });
        }
    }
    let total: u64 = outcomes.values().sum();
    Items {
        once: once.done(format!("{total} items, one event each")),
        kinds: kinds.done("400 for every invalid item; no 409 or 402 where none was possible"),
        outcomes,
        created,
    }
}

/// 2 and 3: one radar per created item and identity, and balances to the credit.
async fn radars(
    evidence: &Evidence<'_>,
    created: &HashMap<usize, Vec<&Value>>,
) -> Result<[Check; 2]> {
    let mut twice = Findings::new("2. no radar created twice (per item, per identity)");
    let mut balances = Findings::new(
        "3. each balance = start - cost of the radars it owns, nothing left reserved, and its usage counts them",
    );
    let owned = radars_by_account(evidence.store).await?;
    for (index, account) in evidence.accounts.iter().enumerate() {
        let created = created.get(&index).cloned().unwrap_or_default();
        let mut identities = HashSet::new();
        let mut radar_ids = HashSet::new();
        for body in &created {
            let data = &body["data"];
            let identity = (data["radar_type"].to_string(), data["domain"].to_string());
            twice.check(identities.insert(identity.clone()), || {
                format!("account {index}: {identity:?} created twice")
            });
            twice.check(radar_ids.insert(data["radar_id"].to_string()), || {
                format!("account {index}: radar {} reported twice", data["radar_id"])
            });
        }
        let stored = owned.get(&account.id).copied().unwrap_or_default();
        twice.check(stored == created.len(), || {
            format!(
                "account {index}: {stored} radars stored, {} created",
                created.len()
            )
        });
        let cost: i64 = created
            .iter()
            .map(|body| {
                body["data"]["radar_type"]
                    .as_str()
                    .and_then(shared::radar::RadarType::lookup)
                    .map_or(0, |t| t.cost)
            })
            .sum();
        let (holds, reserved) = evidence
            .store
            .get_account(account.id)
            .await?
            .map_or((i64::MIN, i64::MIN), |a| (a.credits, a.reserved));
        balances.check(holds == account.credits - cost, || {
            format!(
                "account {index}: started {}, paid for {cost}, holds {holds}",
                account.credits
            )
        });
        // Every bulk has settled, so none holds a reserve any more.
        balances.check(reserved == 0, || {
            format!("account {index}: {reserved} credits still reserved after every bulk settled")
        });
        // Each completed bulk counts its radars once, when it settles (`store::usage`).
        let active = evidence.store.usage(account.id).await?.active();
        balances.check(active == created.len() as u64, || {
            format!(
                "account {index}: usage counts {active} active radars, {} were created",
                created.len()
            )
        });
    }
    let radars: usize = owned.values().sum();
    Ok([
        twice.done(format!("{radars} radars stored, one per created item")),
        balances.done(format!(
            "{} accounts balanced to the credit",
            evidence.accounts.len()
        )),
    ])
}

/// 4: one `bulk_completed` per bulk, after its items, equal to them and counting them.
/// A `bulk_completed` held back and given up without a request never arrives: its delivery
/// record, failed and parked, is checked by [`ends`]. An item held back so stands in with its
/// stored event ([`held`]), as in [`items`].
fn completions(
    evidence: &Evidence<'_>,
    seen: &Seen<'_>,
    held: &held::Held,
    stable: &mut Findings,
) -> Check {
    let mut completed = Findings::new("4. exactly one bulk_completed per bulk, after its items");
    for (&id, &planned) in &seen.accepted {
        let arrived = seen.completions.get(&id).map_or(0, Vec::len);
        if arrived == 0 && held.completions.contains(&id) {
            continue;
        }
        let Some(event) = completion(seen, id) else {
            completed.fail(format!("{id}: not exactly one bulk_completed"));
            continue;
        };
        let body = event.bodies[0];
        stable.check(event.bodies.iter().all(|b| *b == body), || {
            format!("bulk_completed {} changed between deliveries", event.id)
        });
        let planned_items = evidence.workload.bulks[planned].radars.len();
        let arrived: Vec<&Event<'_>> = (0..planned_items)
            .filter_map(|index| seen.item(id, index))
            .collect();
        let last_item = arrived.iter().map(|e| e.first_seq).max().unwrap_or(0);
        completed.check(event.first_seq > last_item, || {
            format!("{id}: bulk_completed arrived before an item's event")
        });
        // Each item's event as it arrived or, held back and given up unsent, as stored.
        let items: Vec<Option<&Value>> = (0..planned_items)
            .map(|index| {
                seen.item(id, index)
                    .map(|event| event.bodies[0])
                    .or_else(|| held.items.get(&(id, index as u64)))
            })
            .collect();
        let radars = body["radars"].as_array().cloned().unwrap_or_default();
        completed.check(
            radars.len() == planned_items
                && radars
                    .iter()
                    .zip(&items)
                    .all(|(radar, item)| Some(radar) == *item),
            || format!("{id}: radars[] differs from the item events"),
        );
        let created = radars
            .iter()
            .filter(|b| b["update_type"] == "radar_created")
            .count();
        let summary = &body["summary"];
        completed.check(
            summary["total"] == radars.len()
                && summary["created"] == created
                && summary["failed"] == radars.len() - created,
            || format!("{id}: summary {summary} does not count radars[]"),
        );
    }
    completed.done(format!(
        "{} bulks, one bulk_completed each, last ({} given up unsent behind an open circuit)",
        seen.accepted.len(),
        held.completions.len()
    ))
}

fn completion<'s, 'a>(seen: &'s Seen<'a>, bulk: Uuid) -> Option<&'s Event<'a>> {
    match seen.completions.get(&bulk)?.as_slice() {
        [id] => seen.events.get(*id),
        _ => None,
    }
}

/// 6: submissions answered 500 left nothing behind that anyone was told about.
fn refusals(evidence: &Evidence<'_>, seen: &Seen<'_>) -> Check {
    let mut refused = Findings::new("6. a 500 from submit takes no effect");
    let unexpected = evidence.submissions.unexpected;
    refused.check(unexpected == 0, || {
        format!("{unexpected} submissions answered neither 202, 500 nor 409 (in progress)")
    });
    refused.check(seen.strangers == 0, || {
        format!(
            "{} events for bulks that were never accepted",
            seen.strangers
        )
    });
    refused.done(format!(
        "{} submissions answered 500 and retried: no event for any of them; radars only from \
         accepted bulks (invariant 2's count)",
        evidence.submissions.failed
    ))
}

/// 7: the poll of each bulk equals its `bulk_completed`.
fn polls(evidence: &Evidence<'_>, seen: &Seen<'_>) -> Check {
    let mut agree = Findings::new("7. poll and webhooks tell the same story");
    for &id in seen.accepted.keys() {
        let Some(event) = completion(seen, id) else {
            continue;
        };
        let body = event.bodies[0];
        match evidence.polled.get(&id) {
            Some(poll) => agree.check(
                poll["status"] == "completed"
                    && poll["radars"] == body["radars"]
                    && poll["summary"]["created"] == body["summary"]["created"]
                    && poll["summary"]["failed"] == body["summary"]["failed"],
                || format!("{id}: the poll differs from bulk_completed"),
            ),
            None => agree.fail(format!("{id}: the poll never answered 200")),
        }
    }
    agree.done(format!(
        "{} polls equal their bulk_completed",
        seen.accepted.len()
    ))
}

/// 1: nothing left in flight. The deliveries parked on the webhook dead-letter queue are
/// [`ends::check`]'s.
async fn in_flight(evidence: &Evidence<'_>) -> Check {
    let mut stuck =
        Findings::new("1. nothing left in flight (queues and the item dead-letter queue empty)");
    stuck.check(evidence.settled, || "the run did not settle in time".into());
    let left = queued(evidence.sqs, evidence.provisioned).await;
    stuck.check(left == Some(0), || {
        format!("{left:?} messages still queued")
    });
    stuck.done("every queue empty")
}

/// How many radar records each account owns, from a scan of the table.
async fn radars_by_account(store: &Store) -> Result<HashMap<Uuid, usize>> {
    let mut owned = HashMap::new();
    let mut start = None;
    loop {
        let page = store
            .client()
            .scan()
            .table_name(store.table())
            .filter_expression("begins_with(pk, :radar)")
            .expression_attribute_values(":radar", AttributeValue::S("RADAR#".into()))
            .projection_expression("pk")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::Aws(aws_sdk_dynamodb::Error::from(e).to_string()))?;
        for item in page.items() {
            let account = item
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .and_then(|pk| pk.split('#').nth(1))
                .and_then(|id| id.parse().ok());
            if let Some(account) = account {
                *owned.entry(account).or_default() += 1;
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(owned);
        }
    }
}
