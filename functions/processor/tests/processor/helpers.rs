//! `spawn_app`: a processor wired to fresh tables and queues, bulks seeded through the real
//! store, and SQS events built the way Lambda's event source mapping delivers them.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use processor::{BatchReport, Deps};
use serde_json::{Value, json};
use shared::{
    queue::{ItemMessage, WebhookMessage},
    store::{
        bulks::{Bulk, BulkState},
        items::ItemState,
        snapshot::BulkSnapshot,
    },
    submission::SubmittedItem,
};
use test_support::{TestAccount, TestEnv};
use uuid::Uuid;

pub struct App {
    pub env: TestEnv,
    pub deps: Deps,
    pub account: TestAccount,
}

pub async fn spawn_app() -> App {
    spawn_app_with_credits(100).await
}

pub async fn spawn_app_with_credits(credits: i64) -> App {
    let env = TestEnv::new().await;
    let deps = Deps::new(env.config(), env.dynamodb.clone(), env.sqs.clone());
    let account = env
        .account_with(credits, shared::rate_limit::LimitOverrides::default())
        .await;
    App { env, deps, account }
}

/// A submitted bulk: its record and the messages submit queued for it.
pub struct Seeded {
    pub bulk: Bulk,
    pub messages: Vec<String>,
}

impl Seeded {
    /// The event Lambda would deliver for these items, on their `receive_count`th delivery.
    pub fn event(&self, indices: impl IntoIterator<Item = usize>, receive_count: u32) -> SqsEvent {
        event_of(
            indices
                .into_iter()
                .map(|index| record(&self.messages[index], index, receive_count)),
        )
    }

    pub fn all(&self, receive_count: u32) -> SqsEvent {
        self.event(0..self.messages.len(), receive_count)
    }
}

pub fn event_of(records: impl IntoIterator<Item = SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records.into_iter().collect();
    event
}

pub fn record(body: &str, index: usize, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("message-{index}"));
    message.receipt_handle = Some(format!("receipt-{index}-{receive_count}"));
    message.body = Some(body.to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message.event_source = Some("aws:sqs".into());
    message
}

impl App {
    /// Stores an accepted bulk of `radars` for the app's account, as submit would.
    pub async fn submit(&self, radars: &[Value]) -> Seeded {
        self.submit_as(self.account.id, radars, BulkState::Accepted, Utc::now())
            .await
    }

    pub async fn submit_as(
        &self,
        account_id: Uuid,
        radars: &[Value],
        state: BulkState,
        created_at: chrono::DateTime<Utc>,
    ) -> Seeded {
        let store = &self.deps.store;
        let bulk = Bulk {
            id: Uuid::new_v4(),
            account_id,
            webhook_url: shared::webhook_url::WebhookUrl::from_stored("https://example.com/hooks")
                .unwrap(),
            total: u32::try_from(radars.len()).unwrap(),
            state: BulkState::Submitting,
            created_at,
            expires_at: (Utc::now() + Duration::days(1)).timestamp(),
            completion: None,
            funding: shared::store::bulks::Funding::Metered,
        };
        let items: Vec<SubmittedItem> = (0u32..)
            .zip(radars)
            .map(|(index, radar)| SubmittedItem {
                index,
                radar: serde_json::value::to_raw_value(radar).unwrap(),
                custom_fields: match radar.get("custom_fields") {
                    Some(object @ Value::Object(_)) => object.to_string(),
                    _ => "{}".into(),
                },
            })
            .collect();
        test_support::store_bulk(store, &bulk, &items, state).await;
        let messages = items
            .iter()
            .map(|item| {
                serde_json::to_string(&ItemMessage {
                    bulk_id: bulk.id,
                    item_index: item.index,
                    account_id,
                    radar: item.radar.clone(),
                })
                .unwrap()
            })
            .collect();
        let bulk = store.get_bulk(bulk.id).await.unwrap().unwrap();
        Seeded { bulk, messages }
    }

    pub async fn process(&self, event: SqsEvent) -> BatchReport {
        processor::process_batch(&self.deps, event, Utc::now()).await
    }

    pub async fn snapshot(&self, bulk: &Bulk) -> BulkSnapshot {
        self.deps
            .store
            .read_bulk(bulk.id)
            .await
            .unwrap()
            .expect("the bulk exists")
    }

    /// The stored event of each item, `None` while it is queued.
    pub async fn events(&self, bulk: &Bulk) -> Vec<Option<Value>> {
        self.snapshot(bulk)
            .await
            .items
            .iter()
            .map(|item| {
                item.outcome
                    .as_ref()
                    .map(|outcome| serde_json::from_str(&outcome.event).unwrap())
            })
            .collect()
    }

    /// How each item ended, `None` while it is in flight.
    pub async fn states(&self, bulk: &Bulk) -> Vec<Option<ItemState>> {
        self.snapshot(bulk)
            .await
            .items
            .iter()
            .map(|item| item.outcome.as_ref().map(|o| o.state))
            .collect()
    }

    pub async fn balance(&self) -> i64 {
        self.balance_of(self.account.id).await
    }

    pub async fn balance_of(&self, account_id: Uuid) -> i64 {
        self.deps
            .store
            .get_account(account_id)
            .await
            .unwrap()
            .unwrap()
            .credits
    }

    /// Every radar record of an account, as `(radar_id, data)`: a scan of the whole table,
    /// page after page (a scan reads at most 1 MB at a time, filter or not).
    pub async fn radars_of(&self, account_id: Uuid) -> Vec<(String, Value)> {
        let pages: Vec<_> = self
            .env
            .dynamodb
            .scan()
            .table_name(self.deps.store.table())
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(
                ":prefix",
                AttributeValue::S(format!("RADAR#{account_id}#")),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .unwrap();
        pages
            .iter()
            .map(|item| {
                (
                    item["radar_id"].as_s().unwrap().clone(),
                    serde_json::from_str(item["data"].as_s().unwrap()).unwrap(),
                )
            })
            .collect()
    }

    pub async fn radars(&self) -> Vec<(String, Value)> {
        self.radars_of(self.account.id).await
    }
}

/// The `bulk_completed` hand-offs in reports.
pub fn completions<'a>(reports: impl IntoIterator<Item = &'a BatchReport>) -> Vec<Uuid> {
    reports
        .into_iter()
        .flat_map(|report| &report.handed_off)
        .filter_map(|message| match message {
            WebhookMessage::BulkCompleted { update_id, .. } => Some(*update_id),
            WebhookMessage::Item { .. } => None,
        })
        .collect()
}

/// The message ids a report asks SQS to retry.
pub fn retried(report: &BatchReport) -> Vec<String> {
    report
        .response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.clone())
        .collect()
}

pub fn company(domain: &str) -> Value {
    json!({"radar_type": "company_job_openings", "domain": domain})
}
