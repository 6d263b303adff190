use aws_sdk_dynamodb::types::AttributeValue;
use shared::credentials::ApiKey;

use crate::helpers::{assert_envelope, field_errors, spawn_app, spec_example};

const MESSAGE: &str = "Invalid or inactive API key";

fn assert_unauthorized(response: &lambda_http::Response<lambda_http::Body>) {
    let body = assert_envelope(response, 401, MESSAGE);
    assert_eq!(
        field_errors(&body),
        [("x-api-key".to_owned(), MESSAGE.to_owned())]
    );
}

#[tokio::test]
async fn a_missing_api_key_is_401_with_the_spec_body() {
    let app = spawn_app().await;

    let response = app.post_as(None, &spec_example(), &[]).await;

    assert_unauthorized(&response);
    assert!(app.queued().await.is_empty());
}

#[tokio::test]
async fn an_unknown_or_empty_api_key_is_401() {
    let app = spawn_app().await;

    assert_unauthorized(
        &app.post_as(Some("rbk_not_a_real_key"), &spec_example(), &[])
            .await,
    );
    assert_unauthorized(&app.post_as(Some(""), &spec_example(), &[]).await);
}

#[tokio::test]
async fn a_revoked_key_and_a_deactivated_account_are_401() {
    let app = spawn_app().await;
    let table = app.deps.config.table_name.clone();
    let revoked = app.env.account().await;
    let digest = ApiKey::new(revoked.api_key.clone()).digest();
    let deactivate = |pk: String, sk: &str| {
        app.env
            .dynamodb
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .update_expression("SET active = :no")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
    };
    deactivate(format!("KEY#{}", digest.as_str()), "KEY")
        .await
        .unwrap();
    let closed = app.env.account().await;
    deactivate(format!("ACCOUNT#{}", closed.id), "ACCOUNT")
        .await
        .unwrap();

    assert_unauthorized(
        &app.post_as(Some(&revoked.api_key), &spec_example(), &[])
            .await,
    );
    assert_unauthorized(
        &app.post_as(Some(&closed.api_key), &spec_example(), &[])
            .await,
    );
    assert_eq!(
        app.post(&spec_example(), &[]).await.status(),
        202,
        "other keys still work"
    );
}

#[tokio::test]
async fn api_keys_are_stored_only_as_digests() {
    let app = spawn_app().await;
    let table = app.deps.config.table_name.clone();

    let items = app
        .env
        .dynamodb
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();

    let dump = format!("{items:?}");
    assert!(
        !dump.contains(&app.account.api_key),
        "a clear API key was stored"
    );
    let digest = ApiKey::new(app.account.api_key.clone()).digest();
    assert!(dump.contains(digest.as_str()));
}
