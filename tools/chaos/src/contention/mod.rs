//! DynamoDB's contention, which DynamoDB Local does not have (DESIGN.md, "As strict as AWS"):
//! it runs transactions one at a time, never reports a `TransactionConflict` and never
//! throttles a hot key. The fault proxy runs DynamoDB calls through this model when a run asks
//! for it ([`crate::proxy::Proxy::start_with`]):
//!
//! - a `TransactWriteItems` holds every item it writes from the moment it goes to the emulator
//!   until a short window after it committed; a transaction touching a held item is cancelled
//!   with `TransactionConflict` at that item's position, and a single write on one gets
//!   `TransactionConflictException`. Reads never conflict.
//! - each partition key has 1,000 write and 3,000 read units a second ([`Contention`]), as token
//!   buckets with a second's burst. A single call beyond them gets
//!   `ProvisionedThroughputExceededException`, a transaction `ThrottlingError` at the actions
//!   in that partition. Writes are charged when let through; reads once answered, from the
//!   size of what came back (so a read may leave its partition in debt, and a projection
//!   is charged less than DynamoDB would). Batch calls are charged but never refused: DynamoDB
//!   would leave the throttled part unprocessed, which would need their bodies rewritten.
//!
//! Refused calls never reach the emulator and are not charged. [`Counts`] says what was done,
//! by record kind.

mod answer;
mod bucket;
mod holds;
pub mod request;

use std::{
    collections::BTreeMap,
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use serde_json::Value;

use self::{
    answer::Reason,
    bucket::Buckets,
    holds::Holds,
    request::{Call, ItemKey, Partition, item_size, partition_of, read_units},
};

/// The model's settings.
#[derive(Debug, Clone)]
pub struct Contention {
    /// How long a committed transaction goes on holding its items: drawn per transaction,
    /// evenly from this range.
    pub hold: RangeInclusive<Duration>,
    /// Write units a second for one partition key, which is also its burst.
    pub write_units: f64,
    /// Read units a second for one partition key, which is also its burst.
    pub read_units: f64,
}

impl Default for Contention {
    /// DynamoDB's documented partition limits; a transaction's window of about 10 ms.
    fn default() -> Self {
        Self {
            hold: Duration::from_millis(5)..=Duration::from_millis(15),
            write_units: 1000.0,
            read_units: 3000.0,
        }
    }
}

impl Contention {
    /// The default model, with every transaction holding for exactly `hold`. Tests use one far
    /// longer than a call takes, so that what conflicts does not depend on the machine's speed.
    pub fn holding(hold: Duration) -> Self {
        Self {
            hold: hold..=hold,
            ..Self::default()
        }
    }

    /// One transaction's window.
    pub fn draw_hold(&self) -> Duration {
        let (low, high) = (*self.hold.start(), *self.hold.end());
        low + high.saturating_sub(low).mul_f64(fastrand::f64())
    }
}

/// What the model did to the records of one kind (`BULK`, `ACCOUNT`, `RADAR`, ...).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindCounts {
    /// Items held by transactions that committed.
    pub held: u64,
    /// Actions of cancelled transactions whose item another transaction held.
    pub transaction_conflicts: u64,
    /// Single writes on a held item (`TransactionConflictException`).
    pub write_conflicts: u64,
    /// Actions of cancelled transactions whose partition was out of write units.
    pub transaction_throttles: u64,
    /// Single writes beyond their partition's units (`ProvisionedThroughputExceededException`).
    pub write_throttles: u64,
    /// Reads beyond their partition's units (`ProvisionedThroughputExceededException`).
    pub read_throttles: u64,
    pub write_units: f64,
    pub read_units: f64,
}

/// Everything the model did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// `TransactWriteItems` calls it judged, and those it cancelled.
    pub transactions: u64,
    pub cancelled: u64,
    /// The write units the cancelled transactions would have used, had they committed: what a
    /// bill that charges cancelled attempts as written would add to the kinds' `write_units`.
    pub cancelled_write_units: f64,
    pub by_kind: BTreeMap<String, KindCounts>,
    /// Writes DynamoDB bills, by item: single writes let through and every write of a
    /// transaction, committed or cancelled. Batch writes are counted by partition only.
    pub writes: BTreeMap<ItemKey, u64>,
}

impl Counts {
    fn kind(&mut self, partition: &Partition) -> &mut KindCounts {
        self.by_kind.entry(partition.kind().to_owned()).or_default()
    }

    /// The item written most often, and how often.
    pub fn most_written(&self) -> Option<(&ItemKey, u64)> {
        self.writes
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(key, count)| (key, *count))
    }

    fn wrote(&mut self, key: &ItemKey) {
        *self.writes.entry(key.clone()).or_default() += 1;
    }

    /// The sum over every kind.
    pub fn total(&self) -> KindCounts {
        let mut total = KindCounts::default();
        for counts in self.by_kind.values() {
            total.held += counts.held;
            total.transaction_conflicts += counts.transaction_conflicts;
            total.write_conflicts += counts.write_conflicts;
            total.transaction_throttles += counts.transaction_throttles;
            total.write_throttles += counts.write_throttles;
            total.read_throttles += counts.read_throttles;
            total.write_units += counts.write_units;
            total.read_units += counts.read_units;
        }
        total
    }
}

/// What becomes of a call.
#[derive(Debug)]
pub enum Verdict {
    /// Answered at once with a 400 and this body; the emulator never sees it.
    Refuse(Value),
    /// On to the emulator; how it ended goes back to [`Model::settle`] ([`Pending::hear`]).
    Pass(Pending),
}

/// What the model still needs to hear about a call it let through.
#[derive(Debug)]
pub struct Pending(Waiting);

#[derive(Debug)]
enum Waiting {
    Nothing,
    Transaction(Vec<ItemKey>),
    Read {
        partition: Partition,
        consistent: bool,
    },
    BatchRead {
        consistent: BTreeMap<String, bool>,
    },
}

impl Pending {
    /// Reads the emulator's answer (`succeeded` for a 2xx) for what the model needs of it. Apart
    /// from [`Model::settle`], so that a page of a `Query` (up to 1 MB of JSON) is parsed
    /// outside the model's lock.
    pub fn hear(self, succeeded: bool, body: &[u8]) -> Heard {
        let answer = || serde_json::from_slice::<Value>(body).unwrap_or_default();
        Heard(match self.0 {
            Waiting::Nothing => Ended::Nothing,
            Waiting::Transaction(keys) if succeeded => Ended::Committed(keys),
            Waiting::Transaction(keys) => Ended::Failed(keys),
            Waiting::Read { .. } | Waiting::BatchRead { .. } if !succeeded => Ended::Nothing,
            Waiting::Read {
                partition,
                consistent,
            } => {
                let answer = answer();
                // One item (`GetItem`), or a page of them (`Query`), charged as one read.
                let size: usize = match answer["Item"].as_object() {
                    Some(item) => item_size(item),
                    None => answer["Items"].as_array().map_or(0, |items| {
                        items
                            .iter()
                            .filter_map(Value::as_object)
                            .map(item_size)
                            .sum()
                    }),
                };
                Ended::Read(vec![(partition, read_units(size, consistent))])
            }
            Waiting::BatchRead { consistent } => {
                let answer = answer();
                let mut charges = Vec::new();
                // Each item of a batch is a read of its own.
                for (table, items) in answer["Responses"].as_object().into_iter().flatten() {
                    let consistent = consistent.get(table).copied().unwrap_or(false);
                    for item in items.as_array().into_iter().flatten() {
                        let Some(item) = item.as_object() else {
                            continue;
                        };
                        if let Some(partition) = partition_of(table, item) {
                            charges.push((partition, read_units(item_size(item), consistent)));
                        }
                    }
                }
                Ended::Read(charges)
            }
        })
    }
}

/// How a call let through ended, as [`Model::settle`] takes it.
#[derive(Debug)]
pub struct Heard(Ended);

#[derive(Debug)]
enum Ended {
    Nothing,
    Committed(Vec<ItemKey>),
    Failed(Vec<ItemKey>),
    /// Read units by partition.
    Read(Vec<(Partition, f64)>),
}

/// The model's state: held items, partition buckets, counts.
#[derive(Debug)]
pub struct Model {
    holds: Holds,
    writes: Buckets,
    reads: Buckets,
    counts: Counts,
}

impl Model {
    pub fn new(contention: &Contention) -> Self {
        Self {
            holds: Holds::default(),
            writes: Buckets::new(contention.write_units),
            reads: Buckets::new(contention.read_units),
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Judges `call` arriving at `now`: refused, or let through (and charged, if a write).
    pub fn admit(&mut self, call: &Call, now: Instant) -> Verdict {
        match call {
            Call::Transaction { actions, token } => {
                self.admit_transaction(actions, token.as_deref(), now)
            }
            Call::Write { key, units } => {
                let partition = key.partition();
                if self.holds.held(key, None, now) {
                    self.counts.kind(&partition).write_conflicts += 1;
                    return Verdict::Refuse(answer::transaction_conflict());
                }
                if !self.writes.allows(&partition, *units, now) {
                    self.counts.kind(&partition).write_throttles += 1;
                    return Verdict::Refuse(answer::throughput_exceeded(true));
                }
                self.spend_writes(&partition, *units, now);
                self.counts.wrote(key);
                Verdict::Pass(Pending(Waiting::Nothing))
            }
            Call::BatchWrite { units } => {
                for (partition, units) in units {
                    self.spend_writes(partition, *units, now);
                }
                Verdict::Pass(Pending(Waiting::Nothing))
            }
            Call::Read {
                partition,
                consistent,
            } => {
                // What a read costs is known once it is answered; it needs its least to start.
                if !self
                    .reads
                    .allows(partition, read_units(0, *consistent), now)
                {
                    self.counts.kind(partition).read_throttles += 1;
                    return Verdict::Refuse(answer::throughput_exceeded(false));
                }
                Verdict::Pass(Pending(Waiting::Read {
                    partition: partition.clone(),
                    consistent: *consistent,
                }))
            }
            Call::BatchRead { consistent } => Verdict::Pass(Pending(Waiting::BatchRead {
                consistent: consistent.clone(),
            })),
        }
    }

    fn admit_transaction(
        &mut self,
        actions: &[request::Action],
        token: Option<&str>,
        now: Instant,
    ) -> Verdict {
        self.counts.transactions += 1;
        let mut needs: BTreeMap<Partition, f64> = BTreeMap::new();
        for action in actions {
            *needs.entry(action.key.partition()).or_default() += action.units;
        }
        let throttled: Vec<&Partition> = needs
            .iter()
            .filter(|(partition, units)| !self.writes.allows(partition, **units, now))
            .map(|(partition, _)| partition)
            .collect();
        let reasons: Vec<Reason> = actions
            .iter()
            .map(|action| {
                if self.holds.held(&action.key, token, now) {
                    Reason::TransactionConflict
                } else if throttled.contains(&&action.key.partition()) {
                    Reason::ThrottlingError
                } else {
                    Reason::None
                }
            })
            .collect();
        for action in actions.iter().filter(|action| action.writes) {
            self.counts.wrote(&action.key);
        }
        if reasons.iter().any(|reason| *reason != Reason::None) {
            self.counts.cancelled += 1;
            self.counts.cancelled_write_units += needs.values().sum::<f64>();
            for (action, reason) in actions.iter().zip(&reasons) {
                let counts = self.counts.kind(&action.key.partition());
                match reason {
                    Reason::TransactionConflict => counts.transaction_conflicts += 1,
                    Reason::ThrottlingError => counts.transaction_throttles += 1,
                    Reason::None => {}
                }
            }
            return Verdict::Refuse(answer::transaction_cancelled(&reasons));
        }
        for (partition, units) in &needs {
            self.spend_writes(partition, *units, now);
        }
        let keys: Vec<ItemKey> = actions
            .iter()
            .filter(|action| action.writes)
            .map(|action| action.key.clone())
            .collect();
        self.holds.take(&keys, token);
        Verdict::Pass(Pending(Waiting::Transaction(keys)))
    }

    /// Takes in how a call let through ended: a committed transaction holds its items for
    /// `hold` from `now`, one that failed frees them; a read is charged what it read.
    pub fn settle(&mut self, heard: Heard, now: Instant, hold: Duration) {
        match heard.0 {
            Ended::Nothing => {}
            Ended::Committed(keys) => {
                self.holds.commit(&keys, now, hold);
                for key in &keys {
                    self.counts.kind(&key.partition()).held += 1;
                }
            }
            Ended::Failed(keys) => self.holds.release(&keys, now),
            Ended::Read(charges) => {
                for (partition, units) in charges {
                    self.spend_reads(&partition, units, now);
                }
            }
        }
    }

    fn spend_writes(&mut self, partition: &Partition, units: f64, now: Instant) {
        self.writes.spend(partition, units, now);
        self.counts.kind(partition).write_units += units;
    }

    fn spend_reads(&mut self, partition: &Partition, units: f64, now: Instant) {
        self.reads.spend(partition, units, now);
        self.counts.kind(partition).read_units += units;
    }
}

#[cfg(test)]
// Units here are whole numbers and halves, exact in binary.
#[allow(clippy::float_cmp)]
mod tests;
