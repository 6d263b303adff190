//! What every delivery of a bulk needs, read once per bulk per batch: where its events go and
//! the secrets that sign them.

use std::time::Instant;

use chrono::{DateTime, Utc};
use shared::{
    auth::WebhookSecret,
    error::Chain,
    store::{Store, bulks::Bulk},
};
use uuid::Uuid;

/// A bulk's deliveries' context.
#[derive(Debug)]
pub(crate) enum Context {
    Ready {
        bulk: Bulk,
        /// The account's current secret first, then the one it is rotating out, if any.
        secrets: Vec<WebhookSecret>,
    },
    /// The bulk or its account no longer exists (retention ended, account deleted): its
    /// events cannot be delivered, ever.
    Gone(&'static str),
    /// It could not be read: SQS redelivers.
    Unknown,
}

pub(crate) async fn load(store: &Store, bulk_id: Uuid) -> Context {
    let bulk = match store.get_bulk(bulk_id).await {
        Ok(Some(bulk)) => bulk,
        Ok(None) => return Context::Gone("no such bulk (expired)"),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the bulk");
            return Context::Unknown;
        }
    };
    match store.get_account(bulk.account_id).await {
        Ok(Some(account)) => Context::Ready {
            bulk,
            secrets: std::iter::once(account.webhook_secret)
                .chain(account.previous_webhook_secret)
                .collect(),
        },
        Ok(None) => Context::Gone("the bulk's account no longer exists"),
        Err(error) => {
            tracing::warn!(%bulk_id, error = %Chain(&error), "could not read the account");
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

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.at + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}
