use serde_json::json;

use crate::helpers::{assert_envelope, empty_fields, spawn_app, without_ids};

const MESSAGE: &str = "Invalid or inactive API key";

#[tokio::test]
async fn a_poll_without_an_api_key_is_401_with_the_spec_body() {
    // Arrange
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;

    // Act
    let response = app.poll_as(None, bulk_id).await;

    // Assert
    let body = assert_envelope(&response, 401, MESSAGE);
    assert_eq!(
        without_ids(body),
        json!({
            "status": "error",
            "code": 401,
            "message": MESSAGE,
            "errors": [{"field": "x-api-key", "reason": MESSAGE}],
        })
    );
}

#[tokio::test]
async fn an_unknown_or_empty_api_key_is_401() {
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;

    let unknown = app.poll_as(Some("rbk_not_a_real_key"), bulk_id).await;
    let empty = app.poll_as(Some(""), bulk_id).await;

    assert_envelope(&unknown, 401, MESSAGE);
    assert_envelope(&empty, 401, MESSAGE);
}

#[tokio::test]
async fn authentication_is_checked_before_the_bulk_id() {
    let app = spawn_app().await;

    let response = app.poll_as(None, "not-a-uuid").await;

    assert_envelope(&response, 401, MESSAGE);
}
