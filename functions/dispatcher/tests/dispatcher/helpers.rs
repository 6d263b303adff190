//! `spawn_app`: a dispatcher wired to fresh tables and queues and to a real receiver on
//! 127.0.0.1, bulks seeded through the real store as the processor leaves them, and a small
//! SQS simulation that hands requeued messages back when they are due.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use dispatcher::{
    BatchReport, Deps,
    resolver::{HostLookup, SystemLookup},
};
use serde::Serialize;
use serde_json::json;
use shared::{
    clock,
    queue::{WebhookMessage, WebhookTask},
    store::{
        accounts::Account,
        bulks::{Bulk, BulkState, Completion},
        deliveries::{Delivery, Ledger},
        items::{ItemState, Outcome},
        secrets::Secrets,
    },
    submission::SubmittedItem,
};
use test_support::TestEnv;
use uuid::Uuid;

use test_support::receiver::Receiver;

pub struct App {
    pub env: TestEnv,
    pub deps: Deps,
    pub account: Account,
    /// The account's signing secrets, as the dispatcher reads them.
    pub secrets: Secrets,
    pub receiver: Receiver,
}

/// Local development settings (loopback `http://` allowed), the system's resolver.
pub async fn spawn_app() -> App {
    spawn_app_with(&[], Arc::new(SystemLookup)).await
}

/// With configuration `overrides` and where host names resolve.
pub async fn spawn_app_with(overrides: &[(&str, &str)], lookup: Arc<dyn HostLookup>) -> App {
    let env = TestEnv::new().await;
    let mut settings = vec![("RADAR_ALLOW_INSECURE_WEBHOOKS", "true")];
    settings.extend_from_slice(overrides);
    let config = env.config_with(&settings);
    let deps = Deps::new(config, env.dynamodb.clone(), env.sqs.clone(), lookup).unwrap();
    let id = env.account().await.id;
    let account = deps.store.get_account(id).await.unwrap().unwrap();
    let secrets = deps.store.get_secrets(id).await.unwrap().unwrap();
    let receiver = Receiver::start().await;
    env.requests.reset();
    App {
        env,
        deps,
        account,
        secrets,
        receiver,
    }
}

/// A complete bulk, as the processor leaves it.
pub struct Seeded {
    pub bulk: Bulk,
    /// Each item's stored event text, by `item_index`.
    pub events: Vec<String>,
    pub update_ids: Vec<Uuid>,
    pub completion: Completion,
}

impl Seeded {
    /// The processor's hand-off of item `index`.
    pub fn item(&self, index: usize) -> WebhookMessage {
        WebhookMessage::Item {
            bulk_id: self.bulk.id,
            item_index: u32::try_from(index).unwrap(),
            update_id: self.update_ids[index],
        }
    }

    pub fn items(&self) -> Vec<WebhookMessage> {
        (0..self.events.len()).map(|i| self.item(i)).collect()
    }

    /// The processor's hand-off of `bulk_completed`.
    pub fn completed(&self) -> WebhookMessage {
        WebhookMessage::BulkCompleted {
            bulk_id: self.bulk.id,
            update_id: self.completion.update_id,
        }
    }
}

impl App {
    /// A complete bulk of `total` items whose events go to the receiver; every third item
    /// failed (409), the others were created.
    pub async fn seed(&self, total: u32) -> Seeded {
        self.seed_to(&self.receiver.url, total).await
    }

    pub async fn seed_to(&self, webhook_url: &str, total: u32) -> Seeded {
        self.seed_for(self.account.id, webhook_url, total).await
    }

    /// A complete bulk of another account's.
    pub async fn seed_for(&self, account_id: Uuid, webhook_url: &str, total: u32) -> Seeded {
        let store = &self.deps.store;
        let now = Utc::now();
        let bulk = Bulk {
            id: Uuid::new_v4(),
            account_id,
            webhook_url: shared::webhook_url::WebhookUrl::from_stored(webhook_url).unwrap(),
            total,
            state: BulkState::Submitting,
            created_at: now,
            expires_at: (now + Duration::days(1)).timestamp(),
            completion: None,
            funding: shared::store::bulks::Funding::Metered,
        };
        let items: Vec<SubmittedItem> = (0..total)
            .map(|index| SubmittedItem {
                index,
                radar: serde_json::value::to_raw_value(&json!({"radar_type": "x"})).unwrap(),
                custom_fields: format!(r#"{{"n":{index}}}"#),
            })
            .collect();
        test_support::store_bulk(store, &bulk, &items, BulkState::Accepted).await;
        let mut events = Vec::new();
        let mut update_ids = Vec::new();
        for index in 0..total {
            let update_id = Uuid::new_v4();
            let event = event_text(bulk.id, index, update_id, now);
            let state = if index % 3 == 2 {
                ItemState::Failed
            } else {
                ItemState::Created
            };
            let outcome = Outcome {
                state,
                update_id,
                event: event.clone(),
            };
            store
                .mark_item_terminal(&bulk, index, &outcome)
                .await
                .unwrap();
            events.push(event);
            update_ids.push(update_id);
        }
        let completion = Completion {
            update_id: Uuid::new_v4(),
            completed_at: now,
        };
        let completion = store.complete_bulk(bulk.id, &completion).await.unwrap();
        Seeded {
            bulk,
            events,
            update_ids,
            completion,
        }
    }

    /// One batch of these messages, as of `now`.
    pub async fn dispatch_at<T: Serialize>(
        &self,
        messages: &[T],
        now: DateTime<Utc>,
    ) -> BatchReport {
        let records = messages.iter().enumerate().map(|(i, message)| {
            record(&serde_json::to_string(message).unwrap(), &format!("m-{i}"))
        });
        dispatcher::process_batch(&self.deps, event_of(records), now).await
    }

    pub async fn dispatch<T: Serialize>(&self, messages: &[T]) -> BatchReport {
        self.dispatch_at(messages, Utc::now()).await
    }

    /// Plays SQS for what `report` (made at `at`) put back on the queue: each message is
    /// handed in again, alone, when its delay has passed, until none is left. Returns every
    /// batch's report, in the order they ran.
    pub async fn follow(&self, report: &BatchReport, at: DateTime<Utc>) -> Vec<BatchReport> {
        let mut pending: Vec<(DateTime<Utc>, WebhookTask)> = Vec::new();
        let due =
            |at: DateTime<Utc>, delay: std::time::Duration| at + Duration::from_std(delay).unwrap();
        pending.extend(report.requeued.iter().map(|(t, d)| (due(at, *d), *t)));
        let mut reports = Vec::new();
        while !pending.is_empty() {
            assert!(reports.len() < 10_000, "the messages never settle");
            pending.sort_by_key(|(when, _)| *when);
            let (when, task) = pending.remove(0);
            let next = self.dispatch_at(&[task], when).await;
            pending.extend(next.requeued.iter().map(|(t, d)| (due(when, *d), *t)));
            reports.push(next);
        }
        reports
    }

    /// Plays SQS in real time, as Lambda's event source mapping would: whatever is due is
    /// handed in at once, in concurrent batches of ten, and what each batch puts back comes
    /// back when its delay has passed, until nothing is left. Returns every batch's report.
    pub async fn play(&self, messages: Vec<WebhookMessage>) -> Vec<BatchReport> {
        let start = Utc::now();
        let mut pending: Vec<(DateTime<Utc>, WebhookTask)> = messages
            .into_iter()
            .map(|message| (start, WebhookTask::from(message)))
            .collect();
        let mut reports = Vec::new();
        while !pending.is_empty() {
            assert!(reports.len() < 1000, "the messages never settle");
            pending.sort_by_key(|(when, _)| *when);
            if let Ok(wait) = (pending[0].0 - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            let now = Utc::now();
            let due: Vec<WebhookTask> = pending
                .extract_if(.., |(when, _)| *when <= now)
                .map(|(_, task)| task)
                .collect();
            let batches =
                futures::future::join_all(due.chunks(10).map(|batch| self.dispatch(batch)));
            for report in batches.await {
                pending.extend(
                    report
                        .requeued
                        .iter()
                        .map(|(task, delay)| (now + Duration::from_std(*delay).unwrap(), *task)),
                );
                reports.push(report);
            }
        }
        reports
    }

    /// A delivery as the store tells it: its record, or what its item's tally record says of
    /// a first attempt delivered without one.
    pub async fn delivery(&self, seeded: &Seeded, update_id: Uuid) -> Delivery {
        self.delivery_if_any(seeded, update_id)
            .await
            .expect("the delivery exists")
    }

    /// The bulk's deliveries as the dispatcher counts them.
    pub async fn ledger(&self, seeded: &Seeded) -> Ledger {
        self.deps
            .store
            .delivery_ledger(seeded.bulk.id)
            .await
            .unwrap()
    }

    pub async fn delivery_if_any(&self, seeded: &Seeded, update_id: Uuid) -> Option<Delivery> {
        self.deps
            .store
            .deliveries(seeded.bulk.id)
            .await
            .unwrap()
            .into_iter()
            .find(|delivery| delivery.update_id == update_id)
    }
}

/// A `radar_created`-shaped event, as the processor stores it.
fn event_text(bulk_id: Uuid, index: u32, update_id: Uuid, at: DateTime<Utc>) -> String {
    json!({
        "update_id": update_id,
        "update_type": if index % 3 == 2 { "radar_failure" } else { "radar_created" },
        "completed_at": clock::rfc3339(at),
        "bulk_id": bulk_id,
        "item_index": index,
        "custom_fields": {"n": index},
        "status": if index % 3 == 2 { "error" } else { "success" },
    })
    .to_string()
}

pub fn event_of(records: impl IntoIterator<Item = SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records.into_iter().collect();
    event
}

pub fn record(body: &str, message_id: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_owned());
    message.receipt_handle = Some(format!("receipt-{message_id}"));
    message.body = Some(body.to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    message.event_source = Some("aws:sqs".into());
    message
}
