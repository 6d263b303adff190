//! `GET /v1/radars/{radar_id}`, `GET /v1/radars` and `DELETE /v1/radars/{radar_id}`: 200, 400,
//! 401, 404 and 429, paging, filters and cursors.

use serde_json::{Value, json};
use shared::{rate_limit::LimitOverrides, store::index::Cursor};
use test_support::response_json;
use uuid::Uuid;

use crate::helpers::{assert_envelope, field_errors, header, spawn_app, spawn_app_with};

/// The ids of a list answer's radars, in order.
fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("data[]")
        .iter()
        .map(|radar| radar["radar_id"].as_str().unwrap().to_owned())
        .collect()
}

/// A 404's body without the fields that differ on every answer.
fn without_ids(mut body: Value) -> Value {
    body["error_id"] = Value::Null;
    body["timestamp"] = Value::Null;
    body
}

#[tokio::test]
async fn unknown_malformed_and_other_accounts_radars_are_one_404() {
    let app = spawn_app().await;
    let other = app.as_account(app.env.account().await);
    let theirs = other.created("acme.com").await;
    let mut bodies = Vec::new();
    for id in [
        Uuid::now_v7().to_string(),
        "not-a-uuid".to_owned(),
        Uuid::now_v7().simple().to_string(),
        theirs.clone(),
    ] {
        for method in ["GET", "DELETE"] {
            let response = app.call(method, &format!("/v1/radars/{id}"), "").await;
            let body = assert_envelope(&response, 404, "Radar not found");
            bodies.push(without_ids(body));
        }
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "{bodies:?}"
    );
    assert_eq!(
        field_errors(&bodies[0]),
        [(
            "radar_id".into(),
            "No radar with this id exists for your account".into()
        )]
    );
    // Their radar is untouched by our DELETE.
    let (_, read) = other.get(&format!("/v1/radars/{theirs}")).await;
    assert_eq!(read["data"]["radar_status"], "active");
}

#[tokio::test]
async fn radars_list_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for domain in ["a.com", "b.com", "c.com"] {
        created.push(app.created(domain).await);
        // Ids are time-ordered to the millisecond.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    created.reverse();

    let response = app.call("GET", "/v1/radars?limit=2", "").await;
    let (status, first) = response_json(&response);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["message"], "Radars retrieved successfully");
    assert_eq!(ids(&first), created[..2]);
    assert_eq!(first["has_more"], true);
    assert!(header(&response, "x-ratelimit-remaining").is_some());
    let cursor = first["next_cursor"].as_str().unwrap();

    let (status, second) = app
        .get(&format!("/v1/radars?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), created[2..]);
    assert_eq!(second["has_more"], false);
    assert_eq!(second["next_cursor"], Value::Null);

    let (_, all) = app.get("/v1/radars").await;
    assert_eq!(ids(&all), created, "the default page holds them all");
}

#[tokio::test]
async fn filters_pick_types_and_statuses() {
    let app = spawn_app().await;
    let company = app.created("a.com").await;
    let (_, industry) = app
        .create(
            "industry",
            &json!({"radar_type": "industry_mentions", "keyword": "fintech"}),
        )
        .await;
    let industry = industry["data"]["radar_id"].as_str().unwrap().to_owned();
    let gone = app.created("gone.com").await;
    let (status, _) = response_json(&app.call("DELETE", &format!("/v1/radars/{gone}"), "").await);
    assert_eq!(status, 200);

    let (_, listed) = app.get("/v1/radars?radar_type=industry_mentions").await;
    assert_eq!(ids(&listed), std::slice::from_ref(&industry));
    let (_, listed) = app
        .get("/v1/radars?radar_type=industry_mentions,company_job_openings&radar_status=active")
        .await;
    assert_eq!(ids(&listed), [industry, company]);
    let (_, listed) = app.get("/v1/radars?radar_status=inactive").await;
    assert_eq!(ids(&listed), [gone]);
    assert_eq!(listed["data"][0]["radar_status"], "inactive");
}

#[tokio::test]
async fn malformed_parameters_are_400s_naming_them_and_spend_no_token() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=", "cursor"),
        ("radar_type=company_nope", "radar_type"),
        ("radar_status=paused", "radar_status"),
        ("limit=1&limit=2", "limit"),
    ] {
        let response = app.call("GET", &format!("/v1/radars?{query}"), "").await;
        let body = assert_envelope(&response, 400, "Invalid query parameter");
        assert_eq!(field_errors(&body)[0].0, field, "{query}");
    }
    let response = app.call("GET", "/v1/radars/bulk?limit=0", "").await;
    let body = assert_envelope(&response, 400, "Invalid query parameter");
    assert_eq!(field_errors(&body)[0].0, "limit");
    let response = app.call("GET", "/v1/radars", "").await;
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("199"));
}

#[tokio::test]
async fn a_cursor_only_ever_reads_the_callers_own_radars() {
    let app = spawn_app().await;
    let other = app.as_account(app.env.account().await);
    let mine = app.created("mine.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let theirs = other.created("theirs.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    // A cursor past everything, made by hand from another account's radar id or a new one.
    for forged in [
        Cursor::after(theirs.parse().unwrap()).encode(),
        Cursor::after(Uuid::now_v7()).encode(),
    ] {
        let (status, listed) = app.get(&format!("/v1/radars?cursor={forged}")).await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(
            ids(&listed),
            std::slice::from_ref(&mine),
            "only the caller's radars"
        );
    }
}

#[tokio::test]
async fn deactivating_keeps_the_radar_frees_its_target_and_is_idempotent() {
    let app = spawn_app().await;
    let id = app.created("acme.com").await;

    let response = app.call("DELETE", &format!("/v1/radars/{id}"), "").await;
    let (status, first) = response_json(&response);
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first["message"],
        "Radar deactivation initiated. The radar continues to run until the end of the current billing cycle."
    );
    assert!(header(&response, "x-ratelimit-remaining").is_some());
    let radar = &first["data"];
    assert_eq!(radar["radar_id"], id);
    assert_eq!(radar["radar_status"], "inactive");
    assert_eq!(radar["deactivated_at"], shared::clock::rfc3339(app.now));
    assert_eq!(radar["next_charge_at"], Value::Null);

    let (status, again) = response_json(&app.call("DELETE", &format!("/v1/radars/{id}"), "").await);
    assert_eq!(status, 200);
    assert_eq!(again["data"], *radar, "deactivating twice changes nothing");
    let (_, read) = app.get(&format!("/v1/radars/{id}")).await;
    assert_eq!(read["data"], *radar);

    // The target is free again: a new radar of it is created, not a 409.
    let new = app.created("acme.com").await;
    assert_ne!(new, id);
    let (_, listed) = app.get("/v1/radars").await;
    assert_eq!(ids(&listed), [new, id]);
}

#[tokio::test]
async fn reads_need_a_key_and_spend_the_read_bucket() {
    let app = spawn_app_with(
        100,
        LimitOverrides {
            read_per_second: Some(1),
            ..LimitOverrides::default()
        },
    )
    .await;
    for path in ["/v1/radars", "/v1/account", "/v1/radars/bulk"] {
        let response = app.call_as(None, "GET", path, "").await;
        assert_envelope(&response, 401, "Invalid or inactive API key");
    }
    let (status, _) = app.get("/v1/radars").await;
    assert_eq!(status, 200);
    for (method, path) in [
        ("GET", "/v1/radars".to_owned()),
        ("GET", format!("/v1/radars/{}", Uuid::now_v7())),
        ("DELETE", format!("/v1/radars/{}", Uuid::now_v7())),
        ("GET", "/v1/account".to_owned()),
        ("GET", "/v1/radars/bulk".to_owned()),
    ] {
        let response = app.call(method, &path, "").await;
        let body = assert_envelope(
            &response,
            429,
            "Per-second rate limit exceeded. Retry after 1 second.",
        );
        assert_eq!(
            field_errors(&body),
            [("rate_limit".into(), "burst".into())],
            "{method} {path}"
        );
    }
}
