use futures::future::join_all;
use test_support::response_json;

use crate::helpers::{assert_envelope, body_with, field_errors, header, spawn_app};

#[tokio::test]
async fn the_same_key_and_body_replays_the_first_202_and_queues_nothing() {
    let app = spawn_app().await;
    let body = body_with(3);
    let first = app.post(&body, &[("idempotency-key", "order-42")]).await;

    let again = app.post(&body, &[("idempotency-key", "order-42")]).await;

    assert_eq!(first.status(), 202);
    assert_eq!(
        response_json(&again),
        response_json(&first),
        "the very same 202"
    );
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(app.queued().await.len(), 3, "the replay queued nothing");
    let next = app.post(&body_with(1), &[]).await;
    assert_eq!(
        header(&next, "x-ratelimit-remaining"),
        Some("8"),
        "the replay spent no token"
    );
}

#[tokio::test]
async fn a_replay_matches_bodies_by_meaning_not_by_formatting() {
    let app = spawn_app().await;
    let compact = r#"{"webhook_url":"https://a.example.com/h","radars":[{"domain":"x.com","radar_type":"company_reviews"}]}"#;
    let spaced = r#"{ "radars": [ { "radar_type": "company_reviews", "domain": "x.com" } ],
                      "webhook_url": "https://a.example.com/h" }"#;

    let first = app.post(compact, &[("idempotency-key", "k")]).await;
    let again = app.post(spaced, &[("idempotency-key", "k")]).await;

    assert_eq!(
        response_json(&again).1["bulk_id"],
        response_json(&first).1["bulk_id"]
    );
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422() {
    let app = spawn_app().await;
    app.post(&body_with(2), &[("idempotency-key", "order-43")])
        .await;

    let response = app
        .post(&body_with(5), &[("idempotency-key", "order-43")])
        .await;

    let body = assert_envelope(
        &response,
        422,
        "Idempotency-Key reused with a different request body",
    );
    assert_eq!(field_errors(&body)[0].0, "Idempotency-Key");
    assert_eq!(app.queued().await.len(), 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_bulk() {
    let app = spawn_app().await;
    let body = body_with(4);

    let responses = join_all((0..6).map(|_| app.post(&body, &[("idempotency-key", "race")]))).await;

    let accepted: Vec<_> = responses.iter().filter(|r| r.status() == 202).collect();
    assert!(!accepted.is_empty());
    let first_id = &response_json(accepted[0]).1["bulk_id"];
    for response in &responses {
        match response.status().as_u16() {
            202 => assert_eq!(&response_json(response).1["bulk_id"], first_id),
            409 => {
                assert_envelope(
                    response,
                    409,
                    "A request with this Idempotency-Key is in progress",
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(app.queued().await.len(), 4, "one bulk's items, once");
}

#[tokio::test]
async fn keys_belong_to_their_account() {
    let app = spawn_app().await;
    let other = app.env.account().await;
    let body = body_with(1);

    let mine = app.post(&body, &[("idempotency-key", "shared-name")]).await;
    let theirs = app
        .post_as(
            Some(&other.api_key),
            &body,
            &[("idempotency-key", "shared-name")],
        )
        .await;

    assert_eq!(theirs.status(), 202);
    assert_ne!(
        response_json(&mine).1["bulk_id"],
        response_json(&theirs).1["bulk_id"]
    );
}

#[tokio::test]
async fn a_malformed_key_is_a_400() {
    let app = spawn_app().await;
    let long = "k".repeat(256);

    let response = app.post(&body_with(1), &[("idempotency-key", &long)]).await;

    let body = assert_envelope(&response, 400, "Invalid request body");
    assert_eq!(field_errors(&body)[0].0, "Idempotency-Key");
}
