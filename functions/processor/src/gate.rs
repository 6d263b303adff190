//! Step 2: whether each item's bulk may be worked on, read once per bulk per batch.
//!
//! A bulk is `accepted` for good once it is (only `submitting` bulks change state), so one
//! strongly consistent read that says `accepted` is enough for the whole batch.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use shared::{
    error::Chain,
    store::{
        Store,
        bulks::{Bulk, BulkState},
    },
};
use uuid::Uuid;

use crate::{Record, Verdict};

/// An item whose bulk is open, with that bulk.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) record: Record,
    pub(crate) bulk: Arc<Bulk>,
}

/// What the batch may do with a bulk's items.
#[derive(Debug)]
enum Gate {
    /// Accepted: process its items.
    Open(Arc<Bulk>),
    /// Its submission failed, was abandoned, or the bulk is gone: acknowledge and drop.
    Closed(&'static str),
    /// Still being submitted: try its items again in a few seconds.
    NotYet,
    /// The bulk could not be read: let SQS redeliver.
    Unknown,
}

/// Reads while a submission is still finishing, before giving its items back to the queue:
/// submit accepts a bulk right after queueing its last item, so early items usually need
/// only a moment.
const READS: u32 = 4;
const PAUSE: Duration = Duration::from_millis(250);

/// Splits the batch into the items to work on and the verdicts of the others. Off the
/// dead-letter queue, an item whose bulk is not accepted yet is retried rather than deferred:
/// its bulk was accepted long ago, or it is not there at all.
pub(crate) async fn gate_all(
    store: &Store,
    records: Vec<Record>,
    dead_letters: bool,
    now: DateTime<Utc>,
) -> (Vec<Open>, Vec<(Record, Verdict)>) {
    let mut bulk_ids: Vec<Uuid> = records.iter().map(|r| r.body.bulk_id).collect();
    bulk_ids.sort_unstable();
    bulk_ids.dedup();
    let gates: BTreeMap<Uuid, Gate> = join_all(
        bulk_ids
            .into_iter()
            .map(|id| async move { (id, gate(store, id, now).await) }),
    )
    .await
    .into_iter()
    .collect();

    let mut open = Vec::new();
    let mut settled = Vec::new();
    for record in records {
        let verdict = match &gates[&record.body.bulk_id] {
            Gate::Open(bulk) => {
                let bulk = Arc::clone(bulk);
                open.push(Open { record, bulk });
                continue;
            }
            Gate::Closed(why) => {
                tracing::info!(message_id = %record.message_id, why, "dropping an item");
                Verdict::Dropped
            }
            Gate::NotYet if !dead_letters => Verdict::Defer,
            Gate::NotYet | Gate::Unknown => Verdict::Retry,
        };
        settled.push((record, verdict));
    }
    (open, settled)
}

async fn gate(store: &Store, id: Uuid, now: DateTime<Utc>) -> Gate {
    for read in 1..=READS {
        let bulk = match store.get_bulk(id).await {
            Ok(Some(bulk)) => bulk,
            Ok(None) => return Gate::Closed("no such bulk (expired, or never stored)"),
            Err(error) => {
                tracing::warn!(%id, error = %Chain(&error), "could not read the bulk");
                return Gate::Unknown;
            }
        };
        match bulk.state {
            BulkState::Accepted => return Gate::Open(Arc::new(bulk)),
            BulkState::Aborted => return Gate::Closed("its submission failed"),
            BulkState::Submitting if bulk.is_abandoned(now) => match store.abort_bulk(id).await {
                Ok(true) => {
                    tracing::warn!(%id, "marked an abandoned submission aborted");
                    return Gate::Closed("its submission was abandoned");
                }
                // It changed state meanwhile: read it again.
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%id, error = %Chain(&error), "could not abort the bulk");
                    return Gate::Unknown;
                }
            },
            BulkState::Submitting if read < READS => tokio::time::sleep(PAUSE).await,
            BulkState::Submitting => {}
        }
    }
    Gate::NotYet
}
