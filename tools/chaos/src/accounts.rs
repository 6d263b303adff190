//! The accounts of a run: each made with limits high enough for the load, with a webhook
//! receiver of its own that records every delivery it gets.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use chrono::Utc;
use devstack::receiver::{self, Received};
use shared::{
    credentials::{ApiKey, WebhookSecret},
    rate_limit::LimitOverrides,
    store::{Store, accounts::Account},
};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{Result, workload::Workload};

/// A delivery as a receiver saw it, numbered in the order deliveries arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: u64,
    pub account: usize,
    pub received: Received,
}

/// Deliveries of an event already delivered (same `webhook-id`).
pub(crate) fn duplicates(deliveries: &[Delivery]) -> usize {
    let events: std::collections::HashSet<&str> =
        deliveries.iter().map(|d| d.received.id.as_str()).collect();
    deliveries.len() - events.len()
}

/// A submitting account: its key, its webhook receiver, and what it started with.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub id: Uuid,
    pub api_key: String,
    pub webhook_url: String,
    pub credits: i64,
}

/// Makes each account (limits high enough for the load) and starts its webhook receiver.
pub(crate) async fn open_accounts(
    store: &Store,
    workload: &Workload,
    deliveries: &Arc<Mutex<Vec<Delivery>>>,
) -> Result<Vec<OpenAccount>> {
    let sequence = Arc::new(AtomicU64::new(0));
    let mut accounts = Vec::new();
    for (index, &credits) in workload.credits.iter().enumerate() {
        let api_key = format!("rbk_chaos_{}", Uuid::new_v4().simple());
        let secret = WebhookSecret::generate()?;
        let account = Account {
            id: Uuid::new_v4(),
            credits,
            limits: LimitOverrides {
                bulk_per_minute: Some(10_000),
                read_per_minute: Some(100_000),
                read_per_second: Some(10_000),
            },
            active: true,
            created_at: Utc::now(),
        };
        store
            .create_account(&account, &ApiKey::new(&api_key).digest(), &secret)
            .await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let webhook_url = format!("http://{}/hooks", listener.local_addr()?);
        let secret = secret.expose().to_owned();
        let (seen, sequence) = (Arc::clone(deliveries), Arc::clone(&sequence));
        tokio::spawn(async move {
            receiver::serve(listener, Some(&secret), move |received| {
                let seq = sequence.fetch_add(1, Ordering::SeqCst);
                seen.lock().expect("deliveries lock").push(Delivery {
                    seq,
                    account: index,
                    received,
                });
            })
            .await
        });
        accounts.push(OpenAccount {
            id: account.id,
            api_key,
            webhook_url,
            credits,
        });
    }
    Ok(accounts)
}
