//! Step 3: what each open item should become, decided from the item alone (no I/O): a radar
//! to create, with its `radar_created` fixed now, or a refusal (400; 500 for dead letters).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use shared::{
    api::Refusal,
    clock,
    radar::{self, Identity, Radar},
    store::{bulks::Bulk, items::Outcome},
};
use uuid::Uuid;

use crate::{Record, events, failure::Failure, gate::Open};

/// An open item, read: what every later step needs of it.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) record: Record,
    pub(crate) bulk: Arc<Bulk>,
    /// What every event of the item echoes.
    pub(crate) custom_fields: Value,
}

/// What an item should become.
#[derive(Debug)]
pub(crate) enum Decision {
    /// A valid radar: create it (and charge for it).
    Create(Prepared),
    /// A failure outcome to record.
    Refuse(Refusal),
    /// Its event could not even be built: transient, like any failure of ours.
    Fail(Failure),
}

/// A valid item, ready for the creating transaction: a new radar id, its data and its
/// `radar_created`, fixed now so that the transaction stores exactly what is delivered.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) radar_id: Uuid,
    pub(crate) identity: Identity,
    pub(crate) cost: i64,
    pub(crate) data: String,
    pub(crate) outcome: Outcome,
}

/// Decides one item. Off the dead-letter queue every item is a 500: its deliveries ran out.
pub(crate) fn decide(open: Open, dead_letters: bool, now: DateTime<Utc>) -> (Item, Decision) {
    let json = item_json(&open.record);
    let item = Item {
        custom_fields: radar::custom_fields(&json).into_owned(),
        record: open.record,
        bulk: open.bulk,
    };
    let decision = if dead_letters {
        Decision::Refuse(Refusal::Exhausted {
            dead_lettered: true,
        })
    } else {
        match Radar::parse(&json) {
            Err(errors) => Decision::Refuse(Refusal::Invalid(errors)),
            Ok(radar) => match prepare(&item, &radar, now) {
                Ok(prepared) => Decision::Create(prepared),
                Err(error) => Decision::Fail(error.into()),
            },
        }
    };
    (item, decision)
}

fn prepare(item: &Item, radar: &Radar, now: DateTime<Utc>) -> shared::Result<Prepared> {
    // Time-ordered, so that an account's radars list newest first by id (`store::index`).
    let radar_id = Uuid::now_v7();
    let data = radar.data(radar_id, clock::rfc3339(now), item.custom_fields.clone());
    let data_text =
        serde_json::to_string(&data).map_err(|e| shared::Error::Serialize("radar data", e))?;
    Ok(Prepared {
        radar_id,
        identity: radar.identity(),
        cost: radar.cost(),
        data: data_text,
        outcome: events::created(&item.record.body, item.custom_fields.clone(), data, now)?,
    })
}

/// The queued item as JSON. Submit queued it as a JSON object; anything else is refused like
/// any invalid item.
fn item_json(record: &Record) -> Value {
    serde_json::from_str(record.body.radar.get()).unwrap_or(Value::Null)
}
