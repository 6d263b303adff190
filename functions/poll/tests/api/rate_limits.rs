use futures::future::join_all;
use shared::rate_limit::LimitOverrides;
use uuid::Uuid;

use crate::helpers::{assert_envelope, empty_fields, field_errors, header, spawn_app};

fn rate_limit_reason(reason: &str) -> Vec<(String, String)> {
    vec![("rate_limit".to_owned(), reason.to_owned())]
}

#[tokio::test]
async fn a_successful_poll_carries_the_read_buckets_headers() {
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;

    let response = app.poll(bulk_id).await;

    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("200"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("199"));
    assert_eq!(header(&response, "x-ratelimit-reset"), Some("55"));
}

#[tokio::test]
async fn the_eleventh_poll_in_one_second_is_a_burst_429() {
    // Arrange
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(1)).await;
    for remaining in (190..200).rev() {
        let response = app.poll(bulk_id).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            Some(&*remaining.to_string())
        );
    }

    // Act
    let response = app.poll(bulk_id).await;

    // Assert
    let body = assert_envelope(
        &response,
        429,
        "Per-second rate limit exceeded. Retry after 1 second.",
    );
    assert_eq!(field_errors(&body), rate_limit_reason("burst"));
    assert_eq!(header(&response, "retry-after"), Some("1"));
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("200"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(&response, "x-ratelimit-reset"), None);
}

#[tokio::test]
async fn a_spent_minute_budget_is_a_minute_429_with_retry_after() {
    // Arrange: an account whose override makes the minute budget fire first.
    let app = spawn_app().await;
    let limits = LimitOverrides {
        read_per_minute: Some(3),
        ..LimitOverrides::default()
    };
    let small = app.env.account_with(0, limits).await;
    let bulk_id = app.accepted_bulk(small.id, &empty_fields(1)).await;
    for _ in 0..3 {
        let response = app.poll_as(Some(&small.api_key), bulk_id).await;
        assert_eq!(header(&response, "x-ratelimit-limit"), Some("3"));
    }

    // Act
    let response = app.poll_as(Some(&small.api_key), bulk_id).await;

    // Assert
    let body = assert_envelope(
        &response,
        429,
        "Per-minute rate limit exceeded. Retry after 55 seconds.",
    );
    assert_eq!(field_errors(&body), rate_limit_reason("minute"));
    assert_eq!(header(&response, "retry-after"), Some("55"));
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("3"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        app.poll(Uuid::new_v4()).await.status(),
        404,
        "other accounts keep their own budget"
    );
}

#[tokio::test]
async fn twenty_concurrent_polls_admit_exactly_the_burst_of_ten() {
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(2)).await;

    let responses = join_all((0..20).map(|_| app.poll(bulk_id))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    let count = |code| statuses.iter().filter(|s| **s == code).count();
    assert_eq!((count(200), count(429)), (10, 10), "{statuses:?}");
}

#[tokio::test]
async fn a_malformed_bulk_id_spends_no_read_token() {
    let app = spawn_app().await;
    let limits = LimitOverrides {
        read_per_second: Some(1),
        ..LimitOverrides::default()
    };
    let one = app.env.account_with(0, limits).await;
    let bulk_id = app.accepted_bulk(one.id, &empty_fields(1)).await;

    let malformed = app.poll_as(Some(&one.api_key), "not-a-uuid").await;
    let valid = app.poll_as(Some(&one.api_key), bulk_id).await;

    assert_eq!(malformed.status(), 400);
    assert_eq!(
        valid.status(),
        200,
        "the one token of the second was still there"
    );
}

#[tokio::test]
async fn polls_of_unknown_bulks_spend_read_tokens_so_guessing_is_rate_limited() {
    let app = spawn_app().await;

    for _ in 0..10 {
        assert_eq!(app.poll(Uuid::new_v4()).await.status(), 404);
    }
    let response = app.poll(Uuid::new_v4()).await;

    assert_eq!(response.status(), 429);
}
