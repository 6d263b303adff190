//! `POST /v1/radars/companies`, `/contacts`, `/industry`: 201, 400, 401, 402, 409, 429.

use chrono::{DateTime, Duration};
use serde_json::json;
use shared::{
    radar::Radar,
    rate_limit::LimitOverrides,
    single::SingleCreate,
    store::items::{ItemState, Outcome},
    store::radars::{Claimed, NewRadar},
};
use test_support::response_json;
use uuid::Uuid;

use crate::helpers::{assert_envelope, company, field_errors, header, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_radar_is_created_charged_and_readable_by_its_id() {
    let app = spawn_app().await;
    let body = json!({
        "radar_type": "company_job_openings",
        "domain": "  WWW.Stripe.COM ",
        "departments": ["Engineering"],
        "custom_fields": {"crm_account_id": "acc_001"}
    });

    let response = app
        .call("POST", "/v1/radars/companies", &body.to_string())
        .await;
    let (status, created) = response_json(&response);

    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "success");
    assert_eq!(created["code"], 201);
    assert_eq!(created["message"], "Radar created successfully");
    let data = &created["data"];
    assert_eq!(data["radar_type"], "company_job_openings");
    assert_eq!(data["domain"], "stripe.com", "normalised as a bulk item is");
    assert_eq!(data["radar_status"], "active");
    assert_eq!(data["webhook_url"], serde_json::Value::Null);
    assert_eq!(data["deactivated_at"], serde_json::Value::Null);
    assert_eq!(data["departments"], json!(["Engineering"]));
    assert_eq!(data["custom_fields"], json!({"crm_account_id": "acc_001"}));
    let created_at = DateTime::parse_from_rfc3339(data["created_at"].as_str().unwrap()).unwrap();
    let next_charge =
        DateTime::parse_from_rfc3339(data["next_charge_at"].as_str().unwrap()).unwrap();
    assert_eq!(next_charge - created_at, Duration::days(30));
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("100"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("99"));
    assert_eq!(app.credits().await, 99, "one credit charged");

    let id = data["radar_id"].as_str().unwrap();
    let (status, read) = app.get(&format!("/v1/radars/{id}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        read["data"], *data,
        "the radar reads back as it was created"
    );
}

#[tokio::test]
async fn each_endpoint_creates_radars_of_its_kind() {
    let app = spawn_app().await;
    let contact = json!({
        "radar_type": "contact_job_changes",
        "domain": "acme.com",
        "email": "Jane@Acme.com",
        "webhook_url": "https://example.com/hooks/radars"
    });
    let industry = json!({
        "radar_type": "industry_job_openings",
        "keyword": "fintech",
        "countries": ["US", "DE"]
    });

    let (status, contact) = app.create("contacts", &contact).await;
    assert_eq!(status, 201, "{contact}");
    assert_eq!(contact["data"]["email"], "jane@acme.com");
    assert_eq!(
        contact["data"]["webhook_url"],
        "https://example.com/hooks/radars"
    );
    let (status, industry) = app.create("industry", &industry).await;
    assert_eq!(status, 201, "{industry}");
    assert_eq!(industry["data"]["domain"], serde_json::Value::Null);
    assert_eq!(industry["data"]["keyword"], "fintech");
    assert_eq!(industry["data"]["countries"], json!(["US", "DE"]));
    assert_eq!(app.credits().await, 98);
}

#[tokio::test]
async fn a_bad_body_is_a_400_with_every_problem_the_bulk_item_would_get_and_spends_nothing() {
    let app = spawn_app().await;
    let items = [
        json!({"radar_type": "company_job_openings"}),
        json!({"radar_type": "company_reviews", "domain": "not a domain", "keyword": "x",
               "custom_fields": [1]}),
        json!({"radar_type": "nope", "domain": "acme.com"}),
        json!({"domain": "acme.com"}),
    ];
    for item in items {
        let response = app
            .call("POST", "/v1/radars/companies", &item.to_string())
            .await;
        let body = assert_envelope(&response, 400, "Invalid request body");
        // The bulk item's own parse, which the processor runs, names the same problems.
        let expected: Vec<(String, String)> = Radar::parse(&item)
            .unwrap_err()
            .into_iter()
            .map(|error| (error.field, error.reason))
            .collect();
        assert_eq!(field_errors(&body), expected, "{item}");
    }
    let response = app
        .call(
            "POST",
            "/v1/radars/industry",
            &json!({"radar_type": "company_reviews", "domain": "acme.com",
                    "webhook_url": "ftp://x"})
            .to_string(),
        )
        .await;
    let body = assert_envelope(&response, 400, "Invalid request body");
    let fields: Vec<String> = field_errors(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["webhook_url", "radar_type"]);
    for raw in ["", "{", "[]", "null"] {
        let response = app.call("POST", "/v1/radars/contacts", raw).await;
        let body = assert_envelope(&response, 400, "Invalid request body");
        assert_eq!(field_errors(&body)[0].0, "body", "{raw:?}");
    }
    assert_eq!(app.credits().await, 100, "nothing charged");
    // No write token was spent: the first create still sees the whole budget.
    let response = app.post_company("acme.com").await;
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("99"));
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_a_401() {
    let app = spawn_app().await;
    for key in [None, Some("rbk_not_a_key")] {
        let response = app
            .call_as(
                key,
                "POST",
                "/v1/radars/companies",
                &company("acme.com").to_string(),
            )
            .await;
        assert_envelope(&response, 401, "Invalid or inactive API key");
    }
    assert_eq!(app.credits().await, 100);
}

#[tokio::test]
async fn a_radar_the_balance_cannot_cover_is_a_402_that_creates_and_charges_nothing() {
    let app = spawn_app_with(0, LimitOverrides::default()).await;

    let response = app.post_company("acme.com").await;

    let body = assert_envelope(&response, 402, "Insufficient balance");
    assert_eq!(field_errors(&body)[0].0, "balance");
    assert_eq!(app.credits().await, 0);
    let (_, listed) = app.get("/v1/radars").await;
    assert_eq!(listed["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn a_second_radar_of_one_target_is_a_409_naming_the_first() {
    let app = spawn_app().await;
    let first = app.created("acme.com").await;

    let response = app.post_company("https://ACME.com/").await;

    let body = assert_envelope(&response, 409, "Conflict: Radar already exists");
    assert_eq!(body["errors"][0]["field"], "domain");
    assert_eq!(body["errors"][0]["conflicting_radar_id"], first);
    assert_eq!(app.credits().await, 99, "charged once");
}

#[tokio::test]
async fn single_creates_and_bulk_items_share_one_identity_rule() {
    let app = spawn_app().await;
    let single = app.created("acme.com").await;
    let store = &app.deps.store;
    let bulk_item = json!({"radar_type": "company_job_openings", "domain": "acme.com"});
    let radar = Radar::parse(&bulk_item).unwrap();
    let identity = radar.identity();
    let outcome = Outcome {
        state: ItemState::Created,
        update_id: Uuid::new_v4(),
        event: "{}".into(),
    };
    let new = |domain_identity| NewRadar {
        radar_id: Uuid::now_v7(),
        identity: domain_identity,
        cost: 1,
        data: "{}",
        bulk_id: Uuid::now_v7(),
        item_index: 0,
        webhook_url: "https://example.com/hook",
        expires_at: 0,
        outcome: &outcome,
    };

    // A bulk item after a single create: the processor's put finds the single radar.
    let claimed = store
        .put_radar(app.account.id, &new(&identity))
        .await
        .unwrap();
    assert_eq!(
        claimed,
        Claimed::Taken {
            radar_id: single.parse().unwrap()
        }
    );

    // A single create after a bulk item: the item's radar holds the identity.
    let other = Radar::parse(&json!({"radar_type": "company_reviews", "domain": "acme.com"}))
        .unwrap()
        .identity();
    let bulk_radar = new(&other);
    assert_eq!(
        store.put_radar(app.account.id, &bulk_radar).await.unwrap(),
        Claimed::New
    );
    let (status, body) = app
        .create(
            "companies",
            &json!({"radar_type": "company_reviews", "domain": "ACME.com"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["errors"][0]["conflicting_radar_id"],
        bulk_radar.radar_id.to_string()
    );
    // And the parse the endpoint runs is the item's.
    assert!(
        SingleCreate::parse(
            bulk_item.to_string().as_bytes(),
            shared::radar::Kind::Company,
            app.deps.config.webhooks
        )
        .is_ok()
    );
}

#[tokio::test]
async fn the_write_bucket_refuses_past_its_second_and_minute_budgets() {
    let app = spawn_app_with(
        100,
        LimitOverrides {
            write_per_second: Some(2),
            write_per_minute: Some(3),
            ..LimitOverrides::default()
        },
    )
    .await;
    app.created("a.com").await;
    app.created("b.com").await;

    let response = app.post_company("c.com").await;
    let body = assert_envelope(
        &response,
        429,
        "Per-second rate limit exceeded. Retry after 1 second.",
    );
    assert_eq!(field_errors(&body), [("rate_limit".into(), "burst".into())]);
    assert_eq!(header(&response, "retry-after"), Some("1"));
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("3"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));

    // A second later the burst window has room, and the minute's third token goes.
    let later = crate::helpers::App {
        now: app.now + Duration::seconds(1),
        ..app
    };
    later.created("c.com").await;
    let response = later.post_company("d.com").await;
    let body = assert_envelope(
        &response,
        429,
        "Per-minute rate limit exceeded. Retry after 54 seconds.",
    );
    assert_eq!(
        field_errors(&body),
        [("rate_limit".into(), "minute".into())]
    );
    assert_eq!(later.credits().await, 97);
    // Reads have a bucket of their own.
    let (status, _) = later.get("/v1/radars").await;
    assert_eq!(status, 200);
}
