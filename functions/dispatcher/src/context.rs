//! What the deliveries of a bulk need, read once per bulk per batch: where its events go, the
//! secrets that sign them, the batch's item events, and whether their first attempts were
//! recorded or delivered already (one BatchGetItem for all of it, not a read each).

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use shared::{
    credentials::WebhookSecret,
    error::Chain,
    queue::{WebhookMessage, WebhookTask},
    store::{Store, bulks::Bulk, deliveries::BatchRead, items::ItemRecord},
};
use uuid::Uuid;

/// A bulk's deliveries' context.
#[derive(Debug)]
pub(crate) enum Context {
    Ready {
        /// Boxed: the other variants are a word or two.
        bulk: Box<Bulk>,
        /// The account's current secret first, then the one it is rotating out, if any.
        secrets: Vec<WebhookSecret>,
        /// The items whose events this batch delivers, by `item_index`; an item that no
        /// longer exists is missing.
        items: HashMap<u32, ItemRecord>,
        /// Of the first attempts the batch holds, the events whose delivery has a record: an
        /// attempt was made or claimed already.
        begun: HashSet<Uuid>,
        /// Items whose event was delivered at its first attempt, with no record (the tally
        /// records' `delivered` sets, of the shards the batch's first attempts fall in).
        delivered_first: HashSet<u32>,
    },
    /// The bulk or its account no longer exists (retention ended, account deleted): its
    /// events cannot be delivered, ever.
    Gone(&'static str),
    /// It could not be read: SQS redelivers.
    Unknown,
}

/// What a batch reads of one bulk's items.
#[derive(Debug, Default)]
struct Wanted {
    /// The items whose events are due.
    indices: Vec<u32>,
    /// The first attempts: item index and `update_id`.
    first_attempts: Vec<(u32, Uuid)>,
}

/// The context of every bulk the batch's `tasks` name, each read once: with the items whose
/// events are due at `now`, and the deliveries of the items' first attempts.
pub(crate) async fn load_all<'a>(
    store: &Store,
    tasks: impl Iterator<Item = &'a WebhookTask>,
    now: DateTime<Utc>,
) -> HashMap<Uuid, Context> {
    let mut wanted: HashMap<Uuid, Wanted> = HashMap::new();
    for task in tasks {
        let Wanted {
            indices,
            first_attempts,
        } = wanted.entry(task.event.bulk_id()).or_default();
        if let WebhookMessage::Item {
            item_index,
            update_id,
            ..
        } = task.event
        {
            if task.not_before.is_none_or(|due| due <= now) {
                indices.push(item_index);
            }
            if task.attempt == 1 {
                first_attempts.push((item_index, update_id));
            }
        }
    }
    join_all(wanted.into_iter().map(|(id, mut wanted)| async move {
        let Wanted {
            indices,
            first_attempts,
        } = &mut wanted;
        indices.sort_unstable();
        indices.dedup();
        first_attempts.sort_unstable();
        first_attempts.dedup();
        (id, load(store, id, indices, first_attempts).await)
    }))
    .await
    .into_iter()
    .collect()
}

/// Reads the bulk, its account's secrets, the items at `indices` and what the first attempts
/// `first_attempts` (item index and `update_id`) left. Never the account record: signing
/// needs the secrets only.
async fn load(
    store: &Store,
    bulk_id: Uuid,
    indices: &[u32],
    first_attempts: &[(u32, Uuid)],
) -> Context {
    let bulk = match store.get_bulk(bulk_id).await {
        Ok(Some(bulk)) => bulk,
        Ok(None) => return Context::Gone("no such bulk (expired)"),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the bulk");
            return Context::Unknown;
        }
    };
    let (secrets, read) = tokio::join!(store.get_secrets(bulk.account_id), async {
        if indices.is_empty() && first_attempts.is_empty() {
            Ok(BatchRead::default())
        } else {
            store.read_for_batch(&bulk, indices, first_attempts).await
        }
    });
    let (items, begun, delivered_first) = match read {
        Ok(read) => (
            read.items
                .into_iter()
                .map(|item| (item.index, item))
                .collect(),
            read.deliveries.into_iter().map(|d| d.update_id).collect(),
            read.delivered_first,
        ),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the items");
            return Context::Unknown;
        }
    };
    match secrets {
        Ok(Some(secrets)) => Context::Ready {
            bulk: Box::new(bulk),
            secrets: std::iter::once(secrets.current)
                .chain(secrets.previous)
                .collect(),
            items,
            begun,
            delivered_first,
        },
        // An account's secrets are made with it: no secrets, no account.
        Ok(None) => Context::Gone("the bulk's account no longer exists"),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the account's secrets");
            Context::Unknown
        }
    }
}

/// The batch's notion of the time: the instant it was handed, moved on by the time spent
/// since, so that leases and schedules stay right in a long batch while tests can still hand
/// in any instant they like.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    at: DateTime<Utc>,
    started: Instant,
}

impl Clock {
    pub(crate) fn starting_at(at: DateTime<Utc>) -> Self {
        Self {
            at,
            started: Instant::now(),
        }
    }

    /// The instant the batch was handed: what decides which messages are due, so that the
    /// batch reads the items of exactly those.
    pub(crate) fn batch_start(&self) -> DateTime<Utc> {
        self.at
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}
