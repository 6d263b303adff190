//! What the deliveries of a bulk need, read once per bulk per batch: where its events go, the
//! secrets that sign them, and the batch's item events (one BatchGetItem, not a read each).

use std::{collections::HashMap, time::Instant};

use chrono::{DateTime, Utc};
use shared::{
    credentials::WebhookSecret,
    error::Chain,
    store::{Store, bulks::Bulk, items::ItemRecord},
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
    },
    /// The bulk or its account no longer exists (retention ended, account deleted): its
    /// events cannot be delivered, ever.
    Gone(&'static str),
    /// It could not be read: SQS redelivers.
    Unknown,
}

/// Reads the bulk, its account's secrets, and the items at `indices`. Never the account
/// record: signing needs the secrets only.
pub(crate) async fn load(store: &Store, bulk_id: Uuid, indices: &[u32]) -> Context {
    let bulk = match store.get_bulk(bulk_id).await {
        Ok(Some(bulk)) => bulk,
        Ok(None) => return Context::Gone("no such bulk (expired)"),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the bulk");
            return Context::Unknown;
        }
    };
    let (secrets, items) = tokio::join!(store.get_secrets(bulk.account_id), async {
        if indices.is_empty() {
            Ok(Vec::new())
        } else {
            store.get_items(bulk_id, indices).await
        }
    });
    let items = match items {
        Ok(items) => items.into_iter().map(|item| (item.index, item)).collect(),
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
