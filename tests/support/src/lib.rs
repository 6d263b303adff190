//! The test harness: every test gets its own tables and queues on the local emulators, made
//! from `infra/template.yaml`, AWS clients that count the requests they send and the DynamoDB
//! capacity they consume, helpers to seed accounts, build API Gateway events and read queues,
//! and a webhook [`receiver`] whose answers a test scripts.
//!
//! The emulators are started by `make test` (or `infra/local/services.sh start`), which exports
//! `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SQS`, and also writes them to
//! `.local/services.env`, which the harness reads when the variables are not set.

mod calls;
mod capacity;
mod counter;
mod endpoints;
mod events;
mod printed;
pub mod receiver;
mod responses;

use std::collections::HashMap;

use aws_sdk_dynamodb::config::{Credentials, Region};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use provision::{Provisioned, Template};
use shared::{
    config::Config,
    credentials::{ApiKey, WebhookSecret},
    rate_limit::LimitOverrides,
    store::{
        Store,
        accounts::Account,
        bulks::{Bulk, BulkState},
    },
    submission::SubmittedItem,
};
use uuid::Uuid;

pub use calls::{Call, CallRecorder};
pub use capacity::{CapacityMeter, Units};
pub use counter::RequestCounter;
pub use endpoints::Endpoints;
pub use events::{api_event, api_request, response_json};
pub use printed::Printed;
pub use responses::{assert_envelope, assert_envelope_body, field_errors, header};

/// The repository's root.
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool of the project's Python virtualenv (installed by `infra/local/install.sh`).
pub fn venv_tool(name: &str) -> std::path::PathBuf {
    let local = std::env::var_os("RADAR_LOCAL_DIR")
        .map_or_else(|| repo_root().join(".local"), std::path::PathBuf::from);
    local.join("venv/bin").join(name)
}

/// `seconds` past the start of the current minute: a fixed instant for tests whose rate-limit
/// windows must not roll over while they run.
pub fn into_minute(seconds: i64) -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .expect("a whole minute")
        + TimeDelta::seconds(seconds)
}

/// Stores `bulk` (written as `submitting`) and its `items` as submit does, then moves the bulk to
/// `state`; an accepted bulk is paid for up front when its account's balance covers it.
pub async fn store_bulk(store: &Store, bulk: &Bulk, items: &[SubmittedItem], state: BulkState) {
    assert_eq!(
        bulk.state,
        BulkState::Submitting,
        "submit writes bulks as submitting"
    );
    store.begin_bulk(bulk, None).await.expect("bulk stored");
    store
        .put_items(bulk.id, items, bulk.expires_at)
        .await
        .expect("items stored");
    match state {
        BulkState::Accepted => {
            let price = shared::submission::price(items);
            store.accept_bulk(bulk, price).await.expect("bulk accepted");
        }
        BulkState::Aborted => assert!(store.abort_bulk(bulk.id).await.expect("bulk aborted")),
        BulkState::Submitting => {}
    }
}

/// Fresh, uniquely named state on the emulators for one test.
#[derive(Debug, Clone)]
pub struct TestEnv {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub provisioned: Provisioned,
    /// Counts every HTTP request the two clients send (retries included).
    pub requests: RequestCounter,
    /// Sums the DynamoDB capacity the DynamoDB client's requests consume.
    pub capacity: CapacityMeter,
}

/// An account made for a test, with its clear API key.
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub id: Uuid,
    pub api_key: String,
}

/// AWS clients on the emulators with meters of their own, so that a benchmark can tell what
/// each function sends.
#[derive(Debug, Clone)]
pub struct Metered {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Counts every HTTP request the two clients send (retries included).
    pub requests: RequestCounter,
    /// Sums the DynamoDB capacity the DynamoDB client's requests consume.
    pub capacity: CapacityMeter,
}

impl Metered {
    pub async fn new() -> Self {
        Self::build(None, None).await
    }

    /// Metered clients that also record every permission they need in `calls`.
    pub async fn recording(calls: &CallRecorder) -> Self {
        Self::build(Some(calls), None).await
    }

    /// Metered clients whose DynamoDB requests go to `dynamodb` (a proxy in front of the
    /// emulator, on loopback) instead of the emulator itself.
    pub async fn through(dynamodb: &str) -> Self {
        Self::build(None, Some(dynamodb)).await
    }

    async fn build(calls: Option<&CallRecorder>, dynamodb: Option<&str>) -> Self {
        let mut endpoints = endpoints::Endpoints::from_env();
        if let Some(url) = dynamodb {
            endpoints.dynamodb = endpoints::loopback("a DynamoDB proxy", url.to_owned());
        }
        let requests = RequestCounter::default();
        let capacity = CapacityMeter::default();
        let sdk = shared::config::aws_loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .load()
            .await;
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&endpoints.dynamodb)
            .interceptor(requests.clone())
            .interceptor(capacity.clone());
        let mut sqs = aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(&endpoints.sqs)
            .interceptor(requests.clone());
        if let Some(calls) = calls {
            dynamodb = dynamodb.interceptor(calls.clone());
            sqs = sqs.interceptor(calls.clone());
        }
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(dynamodb.build());
        let sqs = aws_sdk_sqs::Client::from_conf(sqs.build());
        Self {
            dynamodb,
            sqs,
            requests,
            capacity,
        }
    }

    pub fn reset(&self) {
        self.requests.reset();
        self.capacity.reset();
    }
}

impl TestEnv {
    pub async fn new() -> Self {
        let Metered {
            dynamodb,
            sqs,
            requests,
            capacity,
        } = Metered::new().await;
        let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        let template = Template::load(&Template::default_path()).expect("infra/template.yaml");
        let provisioned = template
            .provision(&dynamodb, &sqs, &prefix)
            .await
            .expect("tables and queues are created on the emulators");
        requests.reset();
        capacity.reset();
        Self {
            dynamodb,
            sqs,
            provisioned,
            requests,
            capacity,
        }
    }

    /// The configuration the functions would read, as the template sets it, with `overrides`.
    pub fn config_with(&self, overrides: &[(&str, &str)]) -> Config {
        let mut environment = self.provisioned.environment.clone();
        for (name, value) in overrides {
            environment.insert((*name).to_owned(), (*value).to_owned());
        }
        Config::from_lookup(|name| environment.get(name).cloned()).expect("a valid configuration")
    }

    pub fn config(&self) -> Config {
        self.config_with(&[])
    }

    pub fn store(&self) -> Store {
        Store::new(self.dynamodb.clone(), &self.config().table_name)
    }

    /// The URL of a queue of the template, by logical id.
    pub fn queue_url(&self, logical_id: &str) -> String {
        self.provisioned.queues[logical_id].url.clone()
    }

    /// A new active account with `credits` and `limits`, its API key and its webhook signing
    /// secret (`Store::get_secrets` reads it).
    pub async fn account_with(&self, credits: i64, limits: LimitOverrides) -> TestAccount {
        let api_key = ApiKey::generate().unwrap();
        let account = Account {
            id: Uuid::new_v4(),
            credits,
            reserved: 0,
            limits,
            active: true,
            created_at: Utc::now(),
        };
        self.store()
            .create_account(
                &account,
                &api_key.digest(),
                &WebhookSecret::generate().unwrap(),
            )
            .await
            .expect("account stored");
        TestAccount {
            id: account.id,
            api_key: api_key.expose().to_owned(),
        }
    }

    pub async fn account(&self) -> TestAccount {
        self.account_with(100, LimitOverrides::default()).await
    }

    /// Receives every message waiting on a queue (by logical id), leaving them in flight.
    pub async fn drain_queue(&self, logical_id: &str) -> Vec<String> {
        self.drain_grouped(logical_id)
            .await
            .into_iter()
            .map(|(_, body)| body)
            .collect()
    }

    /// [`TestEnv::drain_queue`], each body with the message group it was sent in.
    pub async fn drain_grouped(&self, logical_id: &str) -> Vec<(Option<String>, String)> {
        use aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId;
        let url = self.queue_url(logical_id);
        let mut messages = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .visibility_timeout(300)
                .message_system_attribute_names(MessageGroupId)
                .send()
                .await
                .expect("receive from the emulator");
            let received = output.messages.unwrap_or_default();
            if received.is_empty() {
                return messages;
            }
            messages.extend(received.into_iter().filter_map(|message| {
                let group = message
                    .attributes()
                    .and_then(|attributes| attributes.get(&MessageGroupId))
                    .cloned();
                Some((group, message.body?))
            }));
        }
    }

    /// How many messages a queue (by logical id) holds, visible, in flight or delayed. Cheaper than
    /// draining: moto scans its whole queue on every receive, so draining n messages costs n².
    pub async fn queue_depth(&self, logical_id: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName::{
            ApproximateNumberOfMessages, ApproximateNumberOfMessagesDelayed,
            ApproximateNumberOfMessagesNotVisible,
        };
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.queue_url(logical_id))
            .attribute_names(ApproximateNumberOfMessages)
            .attribute_names(ApproximateNumberOfMessagesNotVisible)
            .attribute_names(ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes from the emulator");
        let attributes = output.attributes.unwrap_or_default();
        [
            ApproximateNumberOfMessages,
            ApproximateNumberOfMessagesNotVisible,
            ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|name| {
            attributes
                .get(name)
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// Every record of a partition, in sort-key order, as `sk → item`.
    pub async fn partition(
        &self,
        pk: &str,
    ) -> Vec<(
        String,
        HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    )> {
        let table = self.config().table_name;
        let pages = self
            .dynamodb
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()),
            )
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("query the emulator");
        pages
            .into_iter()
            .map(|item| {
                let sk = item["sk"].as_s().expect("sk is a string").clone();
                (sk, item)
            })
            .collect()
    }
}
