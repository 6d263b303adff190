use std::collections::HashMap;

use chrono::Duration;
use lambda_http::RequestExt;
use serde_json::json;
use shared::clock;
use test_support::{api_request, response_json};
use uuid::Uuid;

use crate::helpers::{
    App, assert_envelope, empty_fields, field_errors, header, path, spawn_app, without_ids,
};

const NOT_FOUND: &str = "Bulk submission not found";

/// The 404 body and header names of a poll of `bulk_id`, minus what differs on every response.
async fn not_found(app: &App, bulk_id: Uuid) -> (serde_json::Value, Vec<String>) {
    let response = app.poll(bulk_id).await;
    let body = assert_envelope(&response, 404, NOT_FOUND);
    let mut headers: Vec<String> = response.headers().keys().map(ToString::to_string).collect();
    headers.sort();
    (without_ids(body), headers)
}

#[tokio::test]
async fn a_bulk_id_that_is_not_a_uuid_is_400_naming_bulk_id() {
    let app = spawn_app().await;
    let bare_digits = Uuid::new_v4().simple().to_string();

    for raw in ["not-a-uuid", "123", bare_digits.as_str()] {
        let response = app.poll(raw).await;

        let body = assert_envelope(&response, 400, "Invalid path parameter");
        assert_eq!(
            field_errors(&body),
            [("bulk_id".to_owned(), "Must be a valid UUID".to_owned())],
            "{raw}"
        );
    }
}

#[tokio::test]
async fn an_unknown_bulk_is_404() {
    let app = spawn_app().await;

    let (body, _) = not_found(&app, Uuid::new_v4()).await;

    assert_eq!(
        body,
        json!({
            "status": "error",
            "code": 404,
            "message": NOT_FOUND,
            "errors": [{
                "field": "bulk_id",
                "reason": "No bulk submission with this id exists for your account"
            }],
        })
    );
}

#[tokio::test]
async fn another_accounts_bulk_is_indistinguishable_from_a_random_id() {
    // Arrange
    let app = spawn_app().await;
    let other = app.env.account().await;
    let theirs = app.accepted_bulk(other.id, &empty_fields(3)).await;

    // Act
    let foreign = not_found(&app, theirs).await;
    let random = not_found(&app, Uuid::new_v4()).await;

    // Assert
    assert_eq!(foreign, random);
    let (status, _) = response_json(&app.poll_as(Some(&other.api_key), theirs).await);
    assert_eq!(status, 200, "its owner still sees it");
}

#[tokio::test]
async fn a_bulk_still_submitting_is_the_same_404() {
    let app = spawn_app().await;
    let submitting = app.begun_bulk(app.account.id, &empty_fields(2)).await;

    let answer = not_found(&app, submitting).await;

    assert_eq!(answer, not_found(&app, Uuid::new_v4()).await);
}

#[tokio::test]
async fn an_aborted_bulk_is_the_same_404() {
    let app = spawn_app().await;
    let aborted = app.begun_bulk(app.account.id, &empty_fields(2)).await;
    assert!(app.deps.store.abort_bulk(aborted).await.unwrap());

    let answer = not_found(&app, aborted).await;

    assert_eq!(answer, not_found(&app, Uuid::new_v4()).await);
}

#[tokio::test]
async fn a_bulk_past_its_retention_is_the_same_404_even_before_ttl_removes_it() {
    let app = spawn_app().await;
    let expired_at = clock::epoch_seconds(app.now - Duration::seconds(1));
    let expired = app
        .begun_bulk_expiring(app.account.id, &empty_fields(2), expired_at)
        .await;
    app.accept(expired).await;

    let answer = not_found(&app, expired).await;

    assert_eq!(answer, not_found(&app, Uuid::new_v4()).await);
}

#[tokio::test]
async fn the_api_gateway_path_parameter_names_the_bulk() {
    // Arrange: the raw path says one thing, the route's parameter another.
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;
    let headers = [("x-api-key", app.account.api_key.as_str())];
    let request = api_request("GET", &path("ignored"), &headers, "")
        .with_path_parameters(HashMap::from([("bulk_id".to_owned(), bulk_id.to_string())]));

    // Act
    let response = poll::handle_at(&app.deps, request, app.now).await;

    // Assert
    let (status, body) = response_json(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bulk_id"], bulk_id.to_string());
}

#[tokio::test]
async fn without_a_path_parameter_the_last_path_segment_names_the_bulk() {
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;
    let headers = [("x-api-key", app.account.api_key.as_str())];
    let request = api_request("GET", &format!("{}/", path(bulk_id)), &headers, "");

    let response = poll::handle_at(&app.deps, request, app.now).await;

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
}
