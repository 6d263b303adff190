//! Webhook destinations: one record per destination (a webhook URL's host and port), holding
//! what [`crate::destination`] decides with: the slots in flight, the pace, the circuit.
//!
//! Every change reads the record strongly and writes it back whole, conditional on the
//! version it read ([`Store::change_destination`]); a writer that lost the race reads again
//! and decides again. The record is small (one write unit) and a batch changes it twice (to
//! take slots, to give them back), so a busy destination's record takes two writes per ten
//! deliveries: far from a partition's 1,000 a second. An idle destination's record expires a
//! week after its last change.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{operation::put_item::PutItemError, types::AttributeValue};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EXPIRES_AT, Fields, Item, Read, Store, key, n, radars::backoff, s};
use crate::{
    Error, Result,
    destination::{Circuit, Destination, Failure, Lease},
};

/// How many times a change is tried against other writers before it is given up.
const TRIES: u32 = 8;
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

    /// Applies `change` to the destination's state and stores the result, trying again (with
    /// the state another writer left) while others change it first. `change` may run more
    /// than once; what it returns for the state that was stored is returned.
    pub async fn change_destination<T>(
        &self,
        authority: &str,
        now: DateTime<Utc>,
        mut change: impl FnMut(&mut Destination) -> T,
    ) -> Result<T> {
        for tried in 1..=TRIES {
            let (version, mut destination) = self.read_destination(authority).await?;
            let answer = change(&mut destination);
            let mut item = destination_key(authority);
            item.extend(to_attributes(&destination));
            item.insert(VERSION.into(), n(version + 1));
            item.insert(EXPIRES_AT.into(), n(now.timestamp() + IDLE_TTL_SECONDS));
            let put = self
                .client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #version = :read")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":read", n(version))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(answer),
                Err(error)
                    if matches!(
                        error.as_service_error(),
                        Some(PutItemError::ConditionalCheckFailedException(_))
                    ) =>
                {
                    tokio::time::sleep(backoff(tried)).await;
                }
                Err(error) => return Err(Error::dynamo(error)),
            }
        }
        Err(Error::Contended {
            what: "the webhook destination",
            tries: TRIES,
        })
    }

    async fn read_destination(&self, authority: &str) -> Result<(u64, Destination)> {
        match self.get(destination_key(authority), Read::Strong).await? {
            None => Ok((0, Destination::default())),
            Some(item) => Ok((Fields(&item).number(VERSION)?, from_item(&item)?)),
        }
    }
}

fn millis(at: DateTime<Utc>) -> AttributeValue {
    n(at.timestamp_millis())
}

fn to_attributes(destination: &Destination) -> Item {
    let leases = destination
        .leases
        .iter()
        .map(|(token, lease)| {
            let entry = Item::from([
                ("slots".to_owned(), n(lease.slots)),
                ("until".to_owned(), millis(lease.until)),
            ]);
            (token.to_string(), AttributeValue::M(entry))
        })
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
