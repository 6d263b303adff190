//! `spawn_app`: a poll handler wired to fresh tables, bulks seeded through the real store API,
//! and realistic item events.

use chrono::{DateTime, Duration, Utc};
use lambda_http::{Body, Response};
use poll::Deps;
use serde_json::{Value, json};
use shared::{
    api::{
        ErrorBody, FieldError, KindFields, RadarCreated, RadarData, RadarFailure, Status,
        UpdateType,
    },
    clock,
    store::{
        bulks::{Bulk, BulkState},
        items::{ItemState, Marked, Outcome},
    },
    submission::SubmittedItem,
};
use test_support::{TestAccount, TestEnv, api_request, into_minute, store_bulk};
pub use test_support::{assert_envelope, field_errors, header};
use uuid::Uuid;

pub struct App {
    pub env: TestEnv,
    pub deps: Deps,
    pub account: TestAccount,
    /// A fixed instant 5 s into a minute, so that rate-limit windows never roll over mid-test.
    pub now: DateTime<Utc>,
}

pub async fn spawn_app() -> App {
    let env = TestEnv::new().await;
    let deps = Deps::new(env.config(), env.dynamodb.clone());
    let account = env.account().await;
    App {
        env,
        deps,
        account,
        now: into_minute(5),
    }
}

pub fn path(bulk_id: impl std::fmt::Display) -> String {
    format!("/v1/radars/bulk/{bulk_id}")
}

impl App {
    /// Polls `bulk_id` (any text) with the app account's key.
    pub async fn poll(&self, bulk_id: impl std::fmt::Display) -> Response<Body> {
        self.poll_as(Some(&self.account.api_key), bulk_id).await
    }

    pub async fn poll_as(
        &self,
        api_key: Option<&str>,
        bulk_id: impl std::fmt::Display,
    ) -> Response<Body> {
        let headers: Vec<(&str, &str)> =
            api_key.map(|key| ("x-api-key", key)).into_iter().collect();
        let request = api_request("GET", &path(bulk_id), &headers, "");
        poll::handle_at(&self.deps, request, self.now).await
    }

    /// An accepted bulk of `account` whose item `i` carries `custom_fields[i]`, as submit
    /// leaves it: every item queued.
    pub async fn accepted_bulk(&self, account: Uuid, custom_fields: &[Value]) -> Uuid {
        let id = self.begun_bulk(account, custom_fields).await;
        self.accept(id).await;
        id
    }

    /// Accepts a begun bulk, paying nothing: what poll shows does not depend on it.
    pub async fn accept(&self, id: Uuid) {
        let store = &self.deps.store;
        let bulk = store.get_bulk(id).await.unwrap().expect("begun");
        store.accept_bulk(&bulk, 0).await.expect("accepted");
    }

    /// A bulk whose items are stored but which is still `submitting`.
    pub async fn begun_bulk(&self, account: Uuid, custom_fields: &[Value]) -> Uuid {
        let expires_at = clock::epoch_seconds(self.now + Duration::days(30));
        self.begun_bulk_expiring(account, custom_fields, expires_at)
            .await
    }

    pub async fn begun_bulk_expiring(
        &self,
        account: Uuid,
        custom_fields: &[Value],
        expires_at: i64,
    ) -> Uuid {
        let bulk = Bulk {
            id: Uuid::new_v4(),
            account_id: account,
            webhook_url: shared::webhook_url::WebhookUrl::from_stored(
                "https://your-domain.com/webhooks/tamradar",
            )
            .unwrap(),
            total: u32::try_from(custom_fields.len()).unwrap(),
            state: BulkState::Submitting,
            created_at: self.now - Duration::seconds(30),
            expires_at,
            completion: None,
            funding: shared::store::bulks::Funding::Metered,
        };
        let items: Vec<SubmittedItem> = custom_fields
            .iter()
            .zip(0..)
            .map(|(fields, index)| submitted(index, fields))
            .collect();
        store_bulk(&self.deps.store, &bulk, &items, BulkState::Submitting).await;
        bulk.id
    }

    /// Records an item's outcome as the processor would, and returns the stored event text.
    pub async fn finish(&self, bulk_id: Uuid, event: Event) -> String {
        let (index, outcome) = event.outcome();
        let bulk = self.deps.store.get_bulk(bulk_id).await.unwrap().unwrap();
        let marked = self
            .deps
            .store
            .mark_item_terminal(&bulk, index, &outcome)
            .await
            .expect("item marked");
        assert_eq!(marked, Marked::Now);
        outcome.event
    }
}

/// A submitted company radar with `custom_fields`.
fn submitted(index: u32, custom_fields: &Value) -> SubmittedItem {
    let radar = json!({
        "radar_type": "company_job_openings",
        "domain": format!("company{index}.com"),
        "custom_fields": custom_fields,
    });
    SubmittedItem {
        index,
        radar: serde_json::value::to_raw_value(&radar).unwrap(),
        custom_fields: custom_fields.to_string(),
    }
}

/// An item's terminal event, as the processor writes it.
pub enum Event {
    Created(Box<RadarCreated>),
    Failed(Box<RadarFailure>),
}

impl Event {
    fn outcome(&self) -> (u32, Outcome) {
        let (index, state, update_id, text) = match self {
            Self::Created(e) => (
                e.item_index,
                ItemState::Created,
                e.update_id,
                serde_json::to_string(e),
            ),
            Self::Failed(e) => (
                e.item_index,
                ItemState::Failed,
                e.update_id,
                serde_json::to_string(e),
            ),
        };
        let event = text.expect("an event serialises");
        (
            index,
            Outcome {
                state,
                update_id,
                event,
            },
        )
    }
}

/// A `radar_created` for a company radar on `company<index>.com`.
pub fn created(bulk_id: Uuid, index: u32, custom_fields: &Value) -> Event {
    let at = "2026-05-25T11:17:20Z".to_owned();
    Event::Created(Box::new(RadarCreated {
        update_id: Uuid::new_v4(),
        update_type: UpdateType::RadarCreated,
        completed_at: at.clone(),
        bulk_id,
        item_index: index,
        custom_fields: custom_fields.clone(),
        status: Status::Success,
        data: RadarData {
            radar_id: Uuid::new_v4(),
            radar_type: "company_job_openings".into(),
            domain: Some(format!("company{index}.com")),
            radar_status: "active".into(),
            created_at: at,
            custom_fields: custom_fields.clone(),
            kind: KindFields::default(),
        },
    }))
}

/// A `radar_failure` with the spec's 409 conflict on `domain`.
pub fn conflict(bulk_id: Uuid, index: u32, custom_fields: &Value) -> Event {
    let at = "2026-05-25T11:17:26Z".to_owned();
    let conflicting = Uuid::new_v4();
    Event::Failed(Box::new(RadarFailure {
        update_id: Uuid::new_v4(),
        update_type: UpdateType::RadarFailure,
        completed_at: at.clone(),
        discovered_at: at.clone(),
        bulk_id,
        item_index: index,
        custom_fields: custom_fields.clone(),
        error: ErrorBody {
            status: Status::Error,
            code: 409,
            message: "Conflict: Radar already exists".into(),
            errors: vec![FieldError {
                conflicting_radar_id: Some(conflicting),
                ..FieldError::new(
                    "domain",
                    format!(
                        "A radar with this domain and type already exists for your account. \
                         Conflicting radar_id: {conflicting}. You can view it using GET \
                         /radars/{{radar_id}}"
                    ),
                )
            }],
            timestamp: at,
            error_id: Uuid::new_v4(),
        },
    }))
}

pub fn body_text(response: &Response<Body>) -> &str {
    match response.body() {
        Body::Text(text) => text,
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// An error body without the two fields that differ on every response.
pub fn without_ids(mut body: Value) -> Value {
    let object = body.as_object_mut().expect("an object body");
    object.remove("timestamp");
    object.remove("error_id");
    body
}

/// `n` empty `custom_fields`, as in the spec's poll examples.
pub fn empty_fields(n: usize) -> Vec<Value> {
    vec![json!({}); n]
}
