//! Whether a bulk's items may be worked on: read once per bulk per batch.
//!
//! A bulk is `accepted` for good once it is (only `submitting` bulks change state), so one
//! strongly consistent read that says `accepted` is enough for the whole batch.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::{
    error::Chain,
    store::{
        Store,
        bulks::{Bulk, BulkState},
    },
};
use uuid::Uuid;

/// What the batch may do with a bulk's items.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Accepted: process its items.
    Open(Bulk),
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

pub(crate) async fn open(store: &Store, id: Uuid, now: DateTime<Utc>) -> Gate {
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
            BulkState::Accepted => return Gate::Open(bulk),
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
