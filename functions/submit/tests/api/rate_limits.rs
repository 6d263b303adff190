use futures::future::join_all;
use shared::rate_limit::LimitOverrides;
use test_support::response_json;

use crate::helpers::{assert_envelope, body_with, field_errors, header, spawn_app};

#[tokio::test]
async fn the_eleventh_submission_in_a_minute_is_a_429_with_the_spec_headers() {
    let app = spawn_app().await;
    for remaining in (0..10).rev() {
        let response = app.post(&body_with(1), &[]).await;
        assert_eq!(response.status(), 202);
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            Some(&*remaining.to_string())
        );
    }

    let response = app.post(&body_with(1), &[]).await;

    let body = assert_envelope(&response, 429, "Rate limit exceeded — wait and retry.");
    assert_eq!(
        field_errors(&body),
        [("rate_limit".to_owned(), "minute".to_owned())]
    );
    assert_eq!(header(&response, "retry-after"), Some("55"));
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("10"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        app.queued().await.len(),
        10,
        "the refused submission queued nothing"
    );
}

#[tokio::test]
async fn twenty_concurrent_submissions_from_one_account_accept_exactly_ten() {
    let app = spawn_app().await;
    let body = body_with(1);

    let responses = join_all((0..20).map(|_| app.post(&body, &[]))).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(app.queued().await.len(), 10);
}

#[tokio::test]
async fn an_account_override_sets_its_own_bulk_limit() {
    let app = spawn_app().await;
    let limits = LimitOverrides {
        bulk_per_minute: Some(2),
        ..LimitOverrides::default()
    };
    let small = app.env.account_with(10, limits).await;
    let body = body_with(1);
    let post = || app.post_as(Some(&small.api_key), &body, &[]);

    let first = post().await;
    let second = post().await;
    let third = post().await;

    assert_eq!(header(&first, "x-ratelimit-limit"), Some("2"));
    assert_eq!(second.status(), 202);
    let (status, _) = response_json(&third);
    assert_eq!(status, 429);
    assert_eq!(header(&third, "x-ratelimit-limit"), Some("2"));
    assert_eq!(
        app.post(&body_with(1), &[]).await.status(),
        202,
        "other accounts unaffected"
    );
}
