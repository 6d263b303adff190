//! The accounts of a run: each made with limits high enough for the load, with a webhook
//! endpoint of its own that records every delivery it gets and answers as the workload says
//! (at once, never, or flapping).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use chrono::Utc;
use devstack::receiver::Received;
use shared::{
    credentials::{ApiKey, WebhookSecret},
    rate_limit::LimitOverrides,
    store::{Store, accounts::Account},
};
use uuid::Uuid;

use crate::{
    Result,
    endpoint::{Behaviour, Endpoint},
    workload::Workload,
};

/// A delivery as a receiver saw it, numbered in the order deliveries arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: u64,
    pub at: Instant,
    pub account: usize,
    pub received: Received,
}

/// Deliveries of an event already delivered (same `webhook-id`).
pub(crate) fn duplicates(deliveries: &[Delivery]) -> usize {
    let events: std::collections::HashSet<&str> =
        deliveries.iter().map(|d| d.received.id.as_str()).collect();
    deliveries.len() - events.len()
}

/// A submitting account: its key, its webhook endpoint, and what it started with.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub id: Uuid,
    pub api_key: String,
    pub webhook_url: String,
    pub credits: i64,
    pub behaviour: Behaviour,
    /// Stops when the last clone of the account goes.
    pub endpoint: Arc<Endpoint>,
}

/// Makes each account (limits high enough for the load) and starts its webhook endpoint.
pub(crate) async fn open_accounts(
    store: &Store,
    workload: &Workload,
    deliveries: &Arc<Mutex<Vec<Delivery>>>,
) -> Result<Vec<OpenAccount>> {
    let sequence = Arc::new(AtomicU64::new(0));
    let mut accounts = Vec::new();
    for (index, (&credits, &behaviour)) in
        workload.credits.iter().zip(&workload.endpoints).enumerate()
    {
        let api_key = format!("rbk_chaos_{}", Uuid::new_v4().simple());
        let secret = WebhookSecret::generate()?;
        let account = Account {
            id: Uuid::new_v4(),
            credits,
            reserved: 0,
            limits: LimitOverrides {
                bulk_per_minute: Some(10_000),
                read_per_minute: Some(100_000),
                read_per_second: Some(10_000),
                ..LimitOverrides::default()
            },
            active: true,
            created_at: Utc::now(),
        };
        store
            .create_account(&account, &ApiKey::new(&api_key).digest(), &secret)
            .await?;
        let (seen, sequence) = (Arc::clone(deliveries), Arc::clone(&sequence));
        let endpoint = Endpoint::start(behaviour, Some(secret.expose()), move |received| {
            let mut seen = seen.lock().expect("deliveries lock");
            // Numbered under the lock, so that numbers follow the order deliveries are kept in.
            let seq = sequence.fetch_add(1, Ordering::SeqCst);
            seen.push(Delivery {
                seq,
                at: Instant::now(),
                account: index,
                received,
            });
        })
        .await?;
        accounts.push(OpenAccount {
            id: account.id,
            api_key,
            webhook_url: endpoint.url.clone(),
            credits,
            behaviour,
            endpoint: Arc::new(endpoint),
        });
    }
    Ok(accounts)
}
