//! `spawn_app`: the radars handler wired to fresh tables, called with API Gateway HTTP API
//! events as Lambda would call it.

use chrono::{DateTime, Utc};
use lambda_http::{Body, Response};
use radars::Deps;
use serde_json::{Value, json};
use shared::rate_limit::LimitOverrides;
use test_support::{TestAccount, TestEnv, api_request, into_minute, response_json};
pub use test_support::{assert_envelope, field_errors, header};

pub struct App {
    pub env: TestEnv,
    pub deps: Deps,
    pub account: TestAccount,
    /// A fixed instant 5 s into a minute, so that rate-limit windows never roll over mid-test.
    pub now: DateTime<Utc>,
}

pub async fn spawn_app() -> App {
    spawn_app_with(100, LimitOverrides::default()).await
}

pub async fn spawn_app_with(credits: i64, limits: LimitOverrides) -> App {
    let env = TestEnv::new().await;
    let deps = Deps::new(env.config(), env.dynamodb.clone());
    let account = env.account_with(credits, limits).await;
    App {
        env,
        deps,
        account,
        now: into_minute(5),
    }
}

/// A company radar's body for `domain`.
pub fn company(domain: &str) -> Value {
    json!({"radar_type": "company_job_openings", "domain": domain})
}

impl App {
    /// The same handler and tables, acting as `account`.
    pub fn as_account(&self, account: TestAccount) -> App {
        App {
            env: self.env.clone(),
            deps: self.deps.clone(),
            account,
            now: self.now,
        }
    }

    /// `method path` with the app account's key and `body`.
    pub async fn call(&self, method: &str, path: &str, body: &str) -> Response<Body> {
        self.call_as(Some(&self.account.api_key), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        api_key: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> Response<Body> {
        let headers: Vec<(&str, &str)> = api_key
            .map(|key| ("x-api-key", key))
            .into_iter()
            .chain([("content-type", "application/json")])
            .collect();
        let request = api_request(method, path, &headers, body);
        radars::handle_at(&self.deps, request, self.now).await
    }

    /// `GET path` with the app account's key: status and body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        response_json(&self.call("GET", path, "").await)
    }

    /// Creates a radar at `/v1/radars/{kind}`: status and body.
    pub async fn create(&self, kind: &str, body: &Value) -> (u16, Value) {
        let path = format!("/v1/radars/{kind}");
        response_json(&self.call("POST", &path, &body.to_string()).await)
    }

    /// `POST /v1/radars/companies` of a company radar for `domain`.
    pub async fn post_company(&self, domain: &str) -> Response<Body> {
        self.call("POST", "/v1/radars/companies", &company(domain).to_string())
            .await
    }

    /// Creates a company radar that must be created; its id.
    pub async fn created(&self, domain: &str) -> String {
        let (status, body) = self.create("companies", &company(domain)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["radar_id"].as_str().unwrap().to_owned()
    }

    pub async fn credits(&self) -> i64 {
        self.deps
            .store
            .get_account(self.account.id)
            .await
            .unwrap()
            .unwrap()
            .credits
    }
}

impl App {
    /// An accepted bulk of the app account with `total` company items, paid for up front as
    /// submit would; its id is time-ordered like submit's.
    pub async fn bulk(&self, total: u32) -> shared::store::bulks::Bulk {
        use shared::store::bulks::{Bulk, BulkState, Funding};
        let bulk = Bulk {
            id: uuid::Uuid::now_v7(),
            account_id: self.account.id,
            webhook_url: shared::webhook_url::WebhookUrl::from_stored("https://example.com/hook")
                .unwrap(),
            total,
            state: BulkState::Submitting,
            created_at: self.now - chrono::Duration::seconds(30),
            expires_at: shared::clock::epoch_seconds(self.now + chrono::Duration::days(30)),
            completion: None,
            funding: Funding::Metered,
        };
        let items: Vec<shared::submission::SubmittedItem> = (0..total)
            .map(|index| {
                let radar = json!({"radar_type": "company_reviews",
                                   "domain": format!("bulk{index}.com")});
                shared::submission::SubmittedItem {
                    index,
                    radar: serde_json::value::to_raw_value(&radar).unwrap(),
                    custom_fields: "{}".into(),
                }
            })
            .collect();
        test_support::store_bulk(&self.deps.store, &bulk, &items, BulkState::Accepted).await;
        let bulk = self.deps.store.get_bulk(bulk.id).await.unwrap().unwrap();
        // Ids are time-ordered to the millisecond: the next bulk is newer.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        bulk
    }

    /// Tallies items of `bulk` as the processor does once they have outcomes: `created` of
    /// them as radars costing 1, `failed` as failures, from index 0 on.
    pub async fn tally(
        &self,
        bulk: &shared::store::bulks::Bulk,
        created: u32,
        failed: u32,
    ) -> bool {
        use shared::store::completion::Tallied;
        let items: Vec<Tallied> = (0..created + failed)
            .map(|index| Tallied {
                index,
                cost: (index < created).then_some(1),
            })
            .collect();
        self.deps.store.tally_items(bulk, &items).await.unwrap()
    }

    /// Completes a fully tallied bulk as the processor does: its completion, then its
    /// settlement with the account.
    pub async fn complete(&self, bulk: &shared::store::bulks::Bulk) {
        use shared::store::bulks::Completion;
        let completion = Completion {
            update_id: uuid::Uuid::new_v4(),
            completed_at: self.now,
        };
        let fixed = self
            .deps
            .store
            .complete_bulk(bulk.id, &completion)
            .await
            .unwrap();
        self.deps
            .store
            .settle_bulk(bulk, fixed.completed_at)
            .await
            .unwrap();
    }
}
