//! Webhook destinations: one record per destination (a webhook URL's host and port), holding
//! what [`crate::destination`] decides with: the slots in flight, the pace, the circuit.
//!
//! Every change reads the record strongly and writes it back whole, conditional on the
//! version it read ([`Store::change_destination`]); a writer that lost the race gets the
//! winner's record back with the refusal and decides again, after a pause of a few
//! milliseconds. The record is small (one write unit) and a batch changes it twice (to
//! take slots, to give them back), so a busy destination's record takes two writes per ten
//! deliveries: far from a partition's 1,000 a second. An idle destination's record expires a
//! week after its last change.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValuesOnConditionCheckFailure},
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EXPIRES_AT, Fields, Item, Read, Store, key, n, s};
use crate::{
    Error, Result,
    destination::{Circuit, Destination, Failure, Lease},
};

/// How many times a change is tried against other writers before it is given up.
/// Twenty invocations racing for one busy destination settle in about twenty rounds.
const TRIES: u32 = 40;
/// An idle destination's record lives this long after its last change.
const IDLE_TTL_SECONDS: i64 = 7 * 24 * 3600;

const VERSION: &str = "version";
const LEASES: &str = "leases";
const PACED_UNTIL: &str = "paced_until";
const CIRCUIT: &str = "circuit";
const CIRCUIT_UNTIL: &str = "circuit_until";
const PROBE: &str = "probe";
const TRIPS: &str = "trips";
const FAILURES: &str = "failures";
const LATENCY: &str = "latency_ms";
const RECENT: &str = "recent_failures";
const LAST_SUCCESS: &str = "last_success";

fn destination_key(authority: &str) -> Item {
    key(format!("DEST#{authority}"), "DEST")
}

impl Store {
    /// The destination's state as stored (a never-seen destination's is the default).
    pub async fn get_destination(&self, authority: &str) -> Result<Destination> {
        Ok(self.read_destination(authority).await?.1)
    }

    /// Applies `change` to the destination's state and stores what changed (if anything did),
    /// conditional on the version read, trying again (with the state another writer left) while others
    /// change it first. `change` may run more than once; what it returns for the state that
    /// was stored is returned, with that state.
    ///
    /// Only the attributes that changed are written, each lease on its own: a batch's
    /// [`Store::return_slots`], which touches its own lease alone and no version, is never
    /// undone by a change decided before it.
    pub async fn change_destination<T>(
        &self,
        authority: &str,
        now: DateTime<Utc>,
        mut change: impl FnMut(&mut Destination) -> T,
    ) -> Result<(T, Destination)> {
        let mut current = self.read_destination(authority).await?;
        for tried in 1..=TRIES {
            let (version, read) = current;
            let mut changed = read.clone();
            let answer = change(&mut changed);
            // Nothing changed (every ask waits): nothing is written. A wait takes nothing, so
            // it needs no guard, and an invocation waiting in place for a slot would otherwise
            // write the record at each ask.
            if version > 0 && changed == read {
                return Ok((answer, changed));
            }
            let mut update = Update::default();
            if version == 0 {
                // A new record: every attribute (the update makes it, with its key).
                update.set_all(&to_attributes(&changed));
            } else {
                update.diff(&read, &changed);
            }
            update.set("#version", &n(version + 1));
            update.set("#expires", &n(now.timestamp() + IDLE_TTL_SECONDS));
            let result = update
                .apply(
                    self.client()
                        .update_item()
                        .table_name(self.table())
                        .set_key(Some(destination_key(authority)))
                        .condition_expression(
                            "(attribute_not_exists(pk) AND :read = :zero) OR #version = :read",
                        )
                        .expression_attribute_names("#version", VERSION)
                        .expression_attribute_names("#expires", EXPIRES_AT)
                        .expression_attribute_values(":read", n(version))
                        .expression_attribute_values(":zero", n(0))
                        // The loser learns the winner's state from its refusal: no second read.
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        ),
                )
                .send()
                .await;
            match result {
                Ok(_) => return Ok((answer, changed)),
                Err(error) => match error.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                        current = match failed.item() {
                            Some(old) => (Fields(old).number(VERSION)?, from_item(old)?),
                            None => self.read_destination(authority).await?,
                        };
                        tokio::time::sleep(pause(tried)).await;
                    }
                    _ => return Err(Error::dynamo(error)),
                },
            }
        }
        Err(Error::Contended {
            what: "the webhook destination",
            tries: TRIES,
        })
    }

    /// Gives back the slots a batch holds under `token`, and with `answered` the latency and
    /// time of its answered attempts: one update of the batch's own lease, with no condition
    /// on the version, so that it never waits behind other batches' admissions. (What else
    /// the attempts mean for the circuit goes through [`Store::change_destination`].)
    pub async fn return_slots(
        &self,
        authority: &str,
        token: Uuid,
        answered: Option<(u32, DateTime<Utc>)>,
    ) -> Result<()> {
        let mut expression = "REMOVE #leases.#token".to_owned();
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(destination_key(authority)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#leases", LEASES)
            .expression_attribute_names("#token", token.to_string());
        if let Some((latency_ms, at)) = answered {
            expression.push_str(" SET #latency = :latency, #success = :success");
            update = update
                .expression_attribute_names("#latency", LATENCY)
                .expression_attribute_names("#success", LAST_SUCCESS)
                .expression_attribute_values(":latency", n(latency_ms))
                .expression_attribute_values(":success", millis(at));
        }
        let result = update.update_expression(expression).send().await;
        match result {
            Ok(_) => Ok(()),
            // The record expired meanwhile: nothing is held.
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(Error::dynamo(error)),
        }
    }

    async fn read_destination(&self, authority: &str) -> Result<(u64, Destination)> {
        match self.get(destination_key(authority), Read::Strong).await? {
            None => Ok((0, Destination::default())),
            Some(item) => Ok((Fields(&item).number(VERSION)?, from_item(&item)?)),
        }
    }
}

/// An update expression in the making: `SET` and `REMOVE` of top-level attributes and of
/// single leases, each name and value a placeholder.
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl Update {
    /// `SET` of the attribute whose placeholder is `name` (already bound, or bound here to
    /// the same text without its `#`).
    fn set(&mut self, name: &str, value: &AttributeValue) {
        let placeholder = format!(":v{}", self.values.len());
        if !self.names.iter().any(|(bound, _)| bound == name)
            && !matches!(name, "#version" | "#expires")
        {
            self.names.push((name.to_owned(), name[1..].to_owned()));
        }
        self.set.push(format!("{name} = {placeholder}"));
        self.values.push((placeholder, value.clone()));
    }

    fn set_all(&mut self, item: &Item) {
        for (attribute, value) in item {
            self.set(&format!("#{attribute}"), value);
        }
    }

    fn remove(&mut self, name: &str) {
        if !self.names.iter().any(|(bound, _)| bound == name) {
            self.names.push((name.to_owned(), name[1..].to_owned()));
        }
        self.remove.push(name.to_owned());
    }

    /// One lease: `#leases.#lN`.
    fn lease(&mut self, token: Uuid) -> String {
        if !self.names.iter().any(|(bound, _)| bound == "#leases") {
            self.names.push(("#leases".into(), LEASES.into()));
        }
        let placeholder = format!("#l{}", self.names.len());
        self.names.push((placeholder.clone(), token.to_string()));
        format!("#leases.{placeholder}")
    }

    /// What turns `old` into `new`.
    fn diff(&mut self, old: &Destination, new: &Destination) {
        for (token, lease) in &new.leases {
            if old.leases.get(token) != Some(lease) {
                let path = self.lease(*token);
                let placeholder = format!(":v{}", self.values.len());
                self.set.push(format!("{path} = {placeholder}"));
                self.values.push((placeholder, lease_value(lease)));
            }
        }
        for token in old.leases.keys().filter(|t| !new.leases.contains_key(t)) {
            let path = self.lease(*token);
            self.remove.push(path);
        }
        let (before, after) = (to_attributes(old), to_attributes(new));
        for (attribute, value) in &after {
            if attribute != LEASES && before.get(attribute) != Some(value) {
                self.set(&format!("#{attribute}"), value);
            }
        }
        for attribute in before.keys().filter(|a| !after.contains_key(*a)) {
            self.remove(&format!("#{attribute}"));
        }
    }

    fn apply(
        self,
        mut request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut expression = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            expression = format!("{expression} REMOVE {}", self.remove.join(", "));
        }
        for (name, attribute) in self.names {
            request = request.expression_attribute_names(name, attribute);
        }
        for (name, value) in self.values {
            request = request.expression_attribute_values(name, value);
        }
        request.update_expression(expression)
    }
}

fn lease_value(lease: &Lease) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("slots".to_owned(), n(lease.slots)),
        ("until".to_owned(), millis(lease.until)),
    ]))
}

/// The pause after the `tried`th lost race: up to 10 ms doubling each time to 80 ms (full
/// jitter). Short: a change is one round trip, and the winner of each round is already done.
fn pause(tried: u32) -> std::time::Duration {
    let mut bytes = [0u8; 2];
    let random = getrandom::fill(&mut bytes).map_or(u16::MAX, |()| u16::from_le_bytes(bytes));
    let ceiling = 10u64 << tried.min(3);
    std::time::Duration::from_millis(ceiling * u64::from(random) / u64::from(u16::MAX))
}

fn millis(at: DateTime<Utc>) -> AttributeValue {
    n(at.timestamp_millis())
}

fn to_attributes(destination: &Destination) -> Item {
    let leases = destination
        .leases
        .iter()
        .map(|(token, lease)| (token.to_string(), lease_value(lease)))
        .collect();
    let recent = destination
        .recent
        .iter()
        .map(|failure| {
            AttributeValue::M(Item::from([
                ("at".to_owned(), millis(failure.at)),
                ("what".to_owned(), s(&failure.what)),
            ]))
        })
        .collect();
    let mut item = Item::from([
        (LEASES.to_owned(), AttributeValue::M(leases)),
        (CIRCUIT.to_owned(), s(destination.circuit.as_str())),
        (FAILURES.to_owned(), n(destination.failures)),
        (LATENCY.to_owned(), n(destination.latency_ms)),
        (RECENT.to_owned(), AttributeValue::L(recent)),
    ]);
    if let Some(at) = destination.paced_until {
        item.insert(PACED_UNTIL.into(), millis(at));
    }
    if let Some(at) = destination.last_success {
        item.insert(LAST_SUCCESS.into(), millis(at));
    }
    match destination.circuit {
        Circuit::Closed => {}
        Circuit::Open { until, trips } => {
            item.insert(CIRCUIT_UNTIL.into(), millis(until));
            item.insert(TRIPS.into(), n(trips));
        }
        Circuit::Probing {
            probe,
            until,
            trips,
        } => {
            item.insert(CIRCUIT_UNTIL.into(), millis(until));
            item.insert(TRIPS.into(), n(trips));
            item.insert(PROBE.into(), s(probe.to_string()));
        }
    }
    item
}

fn from_item(item: &Item) -> Result<Destination> {
    let fields = Fields(item);
    let at = |fields: &Fields<'_>, name: &str| -> Result<Option<DateTime<Utc>>> {
        Ok(fields
            .optional_number::<i64>(name)?
            .and_then(DateTime::from_timestamp_millis))
    };
    let required_at = |fields: &Fields<'_>, name: &str| -> Result<DateTime<Utc>> {
        at(fields, name)?.ok_or_else(|| fields.corrupt(format!("{name} is missing")))
    };
    let leases = match item.get(LEASES) {
        Some(AttributeValue::M(entries)) => entries
            .iter()
            .map(|(token, entry)| {
                let AttributeValue::M(entry) = entry else {
                    return Err(fields.corrupt("a lease is not a map".into()));
                };
                let lease = Fields(entry);
                let token: Uuid = token
                    .parse()
                    .map_err(|_| fields.corrupt(format!("lease token {token:?}")))?;
                Ok((
                    token,
                    Lease {
                        slots: lease.number("slots")?,
                        until: required_at(&lease, "until")?,
                    },
                ))
            })
            .collect::<Result<BTreeMap<_, _>>>()?,
        None => BTreeMap::new(),
        Some(_) => return Err(fields.corrupt(format!("{LEASES} is not a map"))),
    };
    let recent = match item.get(RECENT) {
        Some(AttributeValue::L(entries)) => entries
            .iter()
            .map(|entry| {
                let AttributeValue::M(entry) = entry else {
                    return Err(fields.corrupt("a failure is not a map".into()));
                };
                let failure = Fields(entry);
                Ok(Failure {
                    at: required_at(&failure, "at")?,
                    what: failure.string("what")?.to_owned(),
                })
            })
            .collect::<Result<_>>()?,
        None => Vec::new(),
        Some(_) => return Err(fields.corrupt(format!("{RECENT} is not a list"))),
    };
    let circuit = match fields.string(CIRCUIT)? {
        "closed" => Circuit::Closed,
        "open" => Circuit::Open {
            until: required_at(&fields, CIRCUIT_UNTIL)?,
            trips: fields.number(TRIPS)?,
        },
        "probing" => Circuit::Probing {
            probe: fields.parsed(PROBE)?,
            until: required_at(&fields, CIRCUIT_UNTIL)?,
            trips: fields.number(TRIPS)?,
        },
        other => return Err(fields.corrupt(format!("{CIRCUIT} {other:?}"))),
    };
    Ok(Destination {
        leases,
        paced_until: at(&fields, PACED_UNTIL)?,
        circuit,
        failures: fields.number(FAILURES)?,
        latency_ms: fields.number(LATENCY)?,
        recent,
        last_success: at(&fields, LAST_SUCCESS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_survives_its_record() {
        let at = |ms: i64| DateTime::from_timestamp_millis(1_780_000_000_123 + ms).unwrap();
        let examples = [
            Destination::default(),
            Destination {
                leases: BTreeMap::from([(
                    Uuid::new_v4(),
                    Lease {
                        slots: 3,
                        until: at(45_000),
                    },
                )]),
                paced_until: Some(at(20)),
                circuit: Circuit::Probing {
                    probe: Uuid::new_v4(),
                    until: at(9),
                    trips: 2,
                },
                failures: 7,
                latency_ms: 1500,
                recent: vec![Failure {
                    at: at(1),
                    what: "timed out".into(),
                }],
                last_success: Some(at(-5)),
            },
            Destination {
                circuit: Circuit::Open {
                    until: at(30_000),
                    trips: 1,
                },
                ..Destination::default()
            },
        ];
        for destination in examples {
            let mut item = destination_key("hooks.example.com");
            item.extend(to_attributes(&destination));
            assert_eq!(from_item(&item).unwrap(), destination);
        }
    }
}
