//! `spawn_app`: a submit handler wired to fresh tables and queues, and request builders.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::queue::ItemMessage;
use submit::Deps;
use test_support::{TestAccount, TestEnv, api_request, into_minute};
pub use test_support::{assert_envelope, field_errors, header};

pub const WEBHOOK: &str = "https://your-domain.com/webhooks/tamradar";
pub const PATH: &str = "/v1/radars/bulk";

pub struct App {
    pub env: TestEnv,
    pub deps: Deps,
    pub account: TestAccount,
    /// A fixed instant 5 s into a minute, so that rate-limit windows never roll over mid-test.
    pub now: DateTime<Utc>,
}

pub async fn spawn_app() -> App {
    spawn_app_with(&[]).await
}

/// An app whose configuration takes `overrides` on top of the template's environment.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> App {
    let env = TestEnv::new().await;
    let deps = Deps::new(
        env.config_with(overrides),
        env.dynamodb.clone(),
        env.sqs.clone(),
    );
    let account = env.account().await;
    let now = into_minute(5);
    App {
        env,
        deps,
        account,
        now,
    }
}

impl App {
    /// Posts `body` with the app account's key and `headers`.
    pub async fn post(&self, body: &str, headers: &[(&str, &str)]) -> Response<Body> {
        self.post_as(Some(&self.account.api_key), body, headers)
            .await
    }

    pub async fn post_as(
        &self,
        api_key: Option<&str>,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Response<Body> {
        let mut all = vec![("content-type", "application/json")];
        if let Some(key) = api_key {
            all.push(("x-api-key", key));
        }
        all.extend_from_slice(headers);
        submit::handle_at(&self.deps, api_request("POST", PATH, &all, body), self.now).await
    }

    /// The messages on the item queue, parsed.
    pub async fn queued(&self) -> Vec<ItemMessage> {
        let mut messages: Vec<ItemMessage> = self
            .env
            .drain_queue("ItemQueue")
            .await
            .iter()
            .map(|body| serde_json::from_str(body).expect("an item message"))
            .collect();
        messages.sort_by_key(|message| message.item_index);
        messages
    }
}

/// A valid body with `count` company radars, each with its index in `custom_fields`.
pub fn body_with(count: usize) -> String {
    let radars: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "radar_type": "company_job_openings",
                "domain": format!("company{i}.com"),
                "custom_fields": {"row": i}
            })
        })
        .collect();
    json!({"webhook_url": WEBHOOK, "radars": radars}).to_string()
}

/// The spec's request example.
pub fn spec_example() -> String {
    json!({
        "webhook_url": WEBHOOK,
        "radars": [
            {"radar_type": "company_job_openings", "domain": "stripe.com",
             "custom_fields": {"crm_account_id": "acc_001"}},
            {"radar_type": "industry_funding_rounds", "custom_fields": {"segment": "fintech"}}
        ]
    })
    .to_string()
}
