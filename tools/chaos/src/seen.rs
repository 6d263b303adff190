//! The first witness: what the webhook receivers got, grouped by event and sorted by bulk
//! and item.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use uuid::Uuid;

use crate::accounts::Delivery;

/// The deliveries of one event (`webhook-id`), in arrival order.
pub(crate) struct Event<'a> {
    pub(crate) id: &'a str,
    pub(crate) first_seq: u64,
    pub(crate) bodies: Vec<&'a Value>,
}

/// What the receivers saw, sorted by bulk and item.
pub(crate) struct Seen<'a> {
    /// Accepted bulk id to planned bulk.
    pub(crate) accepted: HashMap<Uuid, usize>,
    pub(crate) events: HashMap<String, Event<'a>>,
    /// Per bulk, its item events by index.
    pub(crate) items: HashMap<Uuid, BTreeMap<u64, Vec<&'a str>>>,
    pub(crate) completions: HashMap<Uuid, Vec<&'a str>>,
    /// Events for bulks that were never accepted.
    pub(crate) strangers: usize,
}

impl<'a> Seen<'a> {
    /// What the receivers got (`deliveries`) for the bulks accepted as `bulk_ids`.
    pub(crate) fn new(bulk_ids: &[Option<Uuid>], deliveries: &'a [Delivery]) -> Self {
        let accepted: HashMap<Uuid, usize> = bulk_ids
            .iter()
            .enumerate()
            .filter_map(|(planned, id)| Some(((*id)?, planned)))
            .collect();
        let events = events(deliveries);
        let mut seen = Self {
            accepted,
            events: HashMap::new(),
            items: HashMap::new(),
            completions: HashMap::new(),
            strangers: 0,
        };
        for event in events.values() {
            let body = event.bodies[0];
            let bulk_id = body["bulk_id"].as_str().and_then(|b| b.parse().ok());
            let Some(bulk_id) = bulk_id.filter(|b| seen.accepted.contains_key(b)) else {
                seen.strangers += 1;
                continue;
            };
            let id: &'a str = event.id;
            if body["update_type"] == "bulk_completed" {
                seen.completions.entry(bulk_id).or_default().push(id);
            } else {
                let index = body["item_index"].as_u64().unwrap_or(u64::MAX);
                let bulk = seen.items.entry(bulk_id).or_default();
                bulk.entry(index).or_default().push(id);
            }
        }
        seen.events = events;
        seen
    }

    /// The one event of an item, if it has exactly one.
    pub(crate) fn item(&self, bulk: Uuid, index: usize) -> Option<&Event<'a>> {
        match self.items.get(&bulk)?.get(&(index as u64))?.as_slice() {
            [id] => self.events.get(*id),
            _ => None,
        }
    }
}

/// Deliveries grouped by `webhook-id`.
fn events(deliveries: &[Delivery]) -> HashMap<String, Event<'_>> {
    let mut events: HashMap<String, Event<'_>> = HashMap::new();
    let mut ordered: Vec<&Delivery> = deliveries.iter().collect();
    ordered.sort_by_key(|d| d.seq);
    for delivery in ordered {
        events
            .entry(delivery.received.id.clone())
            .or_insert_with(|| Event {
                id: &delivery.received.id,
                first_seq: delivery.seq,
                bodies: Vec::new(),
            })
            .bodies
            .push(&delivery.received.body);
    }
    events
}

/// `created`, or the failure's code.
pub(crate) fn outcome(body: &Value) -> String {
    if body["update_type"] == "radar_created" {
        "created".into()
    } else {
        body["code"].to_string()
    }
}
