use serde_json::{Value, json};

use crate::helpers::{
    WEBHOOK, assert_envelope, body_with, field_errors, header, spawn_app, spawn_app_with,
};

const MESSAGE: &str = "Invalid request body";

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(f, r)| ((*f).to_owned(), (*r).to_owned()))
        .collect()
}

#[tokio::test]
async fn invalid_json_is_a_400_naming_the_body() {
    let app = spawn_app().await;

    let response = app
        .post(r#"{"webhook_url": "https://a.io", "radars": [}"#, &[])
        .await;

    let body = assert_envelope(&response, 400, MESSAGE);
    let errors = field_errors(&body);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "body");
    assert!(errors[0].1.starts_with("Invalid JSON"), "{}", errors[0].1);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_a_400() {
    let app = spawn_app().await;

    for body in [r#"[{"radar_type": "x"}]"#, r#""text""#, "42", "null"] {
        let response = app.post(body, &[]).await;
        let body = assert_envelope(&response, 400, MESSAGE);
        assert_eq!(
            field_errors(&body),
            pairs(&[("body", "Must be a JSON object")])
        );
    }
}

#[tokio::test]
async fn envelope_problems_are_reported_together() {
    let app = spawn_app().await;

    let missing = assert_envelope(&app.post("{}", &[]).await, 400, MESSAGE);
    let wrong = assert_envelope(
        &app.post(
            &json!({"webhook_url": "http://example.com/h", "radars": "all"}).to_string(),
            &[],
        )
        .await,
        400,
        MESSAGE,
    );
    let empty = assert_envelope(
        &app.post(
            &json!({"webhook_url": WEBHOOK, "radars": []}).to_string(),
            &[],
        )
        .await,
        400,
        MESSAGE,
    );

    assert_eq!(
        field_errors(&missing),
        pairs(&[
            ("webhook_url", "Field is required"),
            ("radars", "Field is required")
        ])
    );
    assert_eq!(
        field_errors(&wrong),
        pairs(&[
            ("webhook_url", "Invalid webhook URL format"),
            ("radars", "Must be an array of radar objects"),
        ])
    );
    assert_eq!(
        field_errors(&empty),
        pairs(&[("radars", "Must contain at least 1 radar")])
    );
}

#[tokio::test]
async fn webhook_urls_must_be_absolute_https_of_at_most_2048_characters() {
    let app = spawn_app().await;
    let long = format!("https://example.com/{}", "a".repeat(2049 - 20));

    for url in [
        "ftp://example.com/h",
        "example.com/h",
        "http://example.com/h",
        long.as_str(),
    ] {
        let body = json!({"webhook_url": url, "radars": [{}]}).to_string();
        let response = app.post(&body, &[]).await;
        let body = assert_envelope(&response, 400, MESSAGE);
        assert_eq!(
            field_errors(&body),
            pairs(&[("webhook_url", "Invalid webhook URL format")])
        );
    }
}

#[tokio::test]
async fn plain_http_to_loopback_is_accepted_only_in_local_development() {
    let production = spawn_app().await;
    let local = spawn_app_with(&[("RADAR_ALLOW_INSECURE_WEBHOOKS", "true")]).await;
    let body = json!({"webhook_url": "http://127.0.0.1:9999/", "radars": [{}]}).to_string();

    let refused = production.post(&body, &[]).await;
    let accepted = local.post(&body, &[]).await;

    assert_envelope(&refused, 400, MESSAGE);
    assert_eq!(accepted.status(), 202);
}

#[tokio::test]
async fn webhook_urls_carrying_credentials_are_refused() {
    let app = spawn_app().await;

    for url in [
        "https://user:secret@example.com/h",
        "https://token@example.com/h",
    ] {
        let body = json!({"webhook_url": url, "radars": [{}]}).to_string();
        let body = assert_envelope(&app.post(&body, &[]).await, 400, MESSAGE);
        assert_eq!(
            field_errors(&body),
            pairs(&[(
                "webhook_url",
                "Webhook URL must not contain a user name or password"
            )]),
            "{url}"
        );
    }
}

#[tokio::test]
async fn internal_webhook_hosts_are_refused() {
    let app = spawn_app().await;

    for url in [
        "https://169.254.169.254/latest",
        "https://10.0.0.1/h",
        "https://[::1]/h",
    ] {
        let body = json!({"webhook_url": url, "radars": [{}]}).to_string();
        let body = assert_envelope(&app.post(&body, &[]).await, 400, MESSAGE);
        assert_eq!(field_errors(&body)[0].0, "webhook_url", "{url}");
    }
}

const API_HOSTS: &str = "abc123.execute-api.us-east-1.amazonaws.com,api.example.com";

#[tokio::test]
async fn a_webhook_naming_the_api_itself_is_a_400_and_nothing_is_queued() {
    let app = spawn_app_with(&[("RADAR_API_HOSTS", API_HOSTS)]).await;

    for url in [
        "https://abc123.execute-api.us-east-1.amazonaws.com/v1/radars/bulk",
        "https://API.example.com./hooks",
    ] {
        let body = json!({"webhook_url": url, "radars": [{}]}).to_string();
        let body = assert_envelope(&app.post(&body, &[]).await, 400, MESSAGE);
        assert_eq!(
            field_errors(&body),
            pairs(&[("webhook_url", "Webhook URL must not point to this API")]),
            "{url}"
        );
    }
    assert!(app.queued().await.is_empty());
}

#[tokio::test]
async fn a_subdomain_of_the_api_is_another_host() {
    let app = spawn_app_with(&[("RADAR_API_HOSTS", API_HOSTS)]).await;
    let body = json!({"webhook_url": "https://hooks.api.example.com/h", "radars": [{}]});

    let response = app.post(&body.to_string(), &[]).await;

    assert_eq!(response.status(), 202);
    assert_eq!(app.queued().await.len(), 1);
}

#[tokio::test]
async fn with_no_api_hosts_configured_the_same_url_is_accepted() {
    let unset = spawn_app().await;
    let empty = spawn_app_with(&[("RADAR_API_HOSTS", "")]).await;
    let body = json!({"webhook_url": "https://api.example.com/hooks", "radars": [{}]});

    for app in [&unset, &empty] {
        let response = app.post(&body.to_string(), &[]).await;
        assert_eq!(response.status(), 202);
        assert_eq!(app.queued().await.len(), 1);
    }
}

#[tokio::test]
async fn locally_the_api_port_is_refused_and_the_receivers_is_not() {
    let local = spawn_app_with(&[
        ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
        ("RADAR_API_HOSTS", "127.0.0.1:9000"),
    ])
    .await;
    let body = |url: &str| json!({"webhook_url": url, "radars": [{}]}).to_string();

    let refused = local
        .post(&body("http://127.0.0.1:9000/v1/radars/bulk"), &[])
        .await;
    let accepted = local.post(&body("http://127.0.0.1:9999/"), &[]).await;

    let refused = assert_envelope(&refused, 400, MESSAGE);
    assert_eq!(
        field_errors(&refused),
        pairs(&[("webhook_url", "Webhook URL must not point to this API")])
    );
    assert_eq!(accepted.status(), 202);
    assert_eq!(
        local.queued().await.len(),
        1,
        "only the accepted bulk's item"
    );
}

#[tokio::test]
async fn more_than_1000_items_are_refused_and_nothing_is_queued() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..1001)
        .map(|_| json!({"radar_type": "industry_mentions"}))
        .collect();
    let body = json!({"webhook_url": WEBHOOK, "radars": items}).to_string();

    let response = app.post(&body, &[]).await;

    let body = assert_envelope(&response, 400, MESSAGE);
    assert_eq!(
        field_errors(&body),
        pairs(&[("radars", "Must contain at most 1000 radars (got 1001)")])
    );
    assert!(app.queued().await.is_empty());
}

#[tokio::test]
async fn a_body_over_one_megabyte_is_refused() {
    let app = spawn_app().await;
    let padding = "x".repeat(1_048_576);
    let body = json!({"webhook_url": WEBHOOK, "radars": [{"custom_fields": {"pad": padding}}]});

    let response = app.post(&body.to_string(), &[]).await;

    let body = assert_envelope(&response, 400, MESSAGE);
    assert_eq!(
        field_errors(&body),
        pairs(&[("body", "Request body exceeds the 1048576-byte (1 MB) limit")])
    );
}

#[tokio::test]
async fn items_that_are_not_objects_are_named_by_index() {
    let app = spawn_app().await;
    let body = json!({"webhook_url": WEBHOOK, "radars": [{}, {}, {}, "stripe.com", {}, [1]]});

    let response = app.post(&body.to_string(), &[]).await;

    let body = assert_envelope(&response, 400, MESSAGE);
    assert_eq!(
        field_errors(&body),
        pairs(&[
            ("radars[3]", "Must be an object"),
            ("radars[5]", "Must be an object")
        ])
    );
}

#[tokio::test]
async fn refused_bodies_spend_no_rate_limit_token() {
    let app = spawn_app().await;
    for _ in 0..12 {
        assert_eq!(app.post("{}", &[]).await.status(), 400);
    }

    let response = app.post(&body_with(1), &[]).await;

    assert_eq!(response.status(), 202);
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("9"));
}

#[tokio::test]
async fn a_webhook_naming_the_host_the_request_came_to_is_a_400_without_any_configuration() {
    // The execute-api host cannot be configured for submit (the template would have a
    // cycle): the request's own Host header names it.
    let app = spawn_app().await;
    let host = [("host", "abc123.execute-api.us-east-1.amazonaws.com")];
    let body = |url: &str| json!({"webhook_url": url, "radars": [{}]}).to_string();

    let refused = app
        .post(
            &body("https://abc123.execute-api.us-east-1.amazonaws.com/v1/radars/bulk"),
            &host,
        )
        .await;
    let accepted = app.post(&body("https://hooks.example.com/h"), &host).await;

    let refused = assert_envelope(&refused, 400, MESSAGE);
    assert_eq!(
        field_errors(&refused),
        pairs(&[("webhook_url", "Webhook URL must not point to this API")])
    );
    assert_eq!(accepted.status(), 202);
    assert_eq!(app.queued().await.len(), 1, "only the accepted bulk's item");
}
