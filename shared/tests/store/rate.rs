use chrono::TimeDelta;
use futures::future::join_all;
use shared::rate_limit::{Bucket, LimitOverrides, Limits, WindowKind};
use test_support::{TestEnv, into_minute};

#[tokio::test]
async fn the_read_buckets_eleventh_request_in_one_second_is_a_burst() {
    let env = TestEnv::new().await;
    let account = env.account().await;
    let store = env.store();
    let now = into_minute(10);
    for used in 1..=10 {
        let admitted = store
            .take_rate_token(account.id, Bucket::Read, &Limits::default(), now)
            .await
            .unwrap()
            .expect("within the burst limit");
        assert_eq!(admitted.limit, 200);
        assert_eq!(admitted.remaining, 200 - used);
        assert_eq!(admitted.reset_after, 50);
    }

    let refused = store
        .take_rate_token(account.id, Bucket::Read, &Limits::default(), now)
        .await
        .unwrap()
        .expect_err("the 11th request in one second");

    assert_eq!(refused.window, WindowKind::Second);
    assert_eq!(refused.window.reason(), "burst");
    assert_eq!(refused.retry_after, 1);
    assert_eq!(refused.limit, 200);
    let next_second = store
        .take_rate_token(
            account.id,
            Bucket::Read,
            &Limits::default(),
            now + TimeDelta::seconds(1),
        )
        .await
        .unwrap()
        .expect("a new second has room again");
    assert_eq!(
        next_second.remaining, 189,
        "ten admitted and this one; the refused one is free"
    );
}

#[tokio::test]
async fn the_read_bucket_refuses_past_its_minute_budget_with_reason_minute() {
    let env = TestEnv::new().await;
    let account = env.account().await;
    let limits = Limits::default().with_overrides(&LimitOverrides {
        read_per_minute: Some(3),
        ..LimitOverrides::default()
    });
    let store = env.store();
    for second in 1..=3 {
        let admitted = store
            .take_rate_token(account.id, Bucket::Read, &limits, into_minute(second))
            .await
            .unwrap();
        assert!(admitted.is_ok());
    }

    let refused = store
        .take_rate_token(account.id, Bucket::Read, &limits, into_minute(20))
        .await
        .unwrap()
        .unwrap_err();

    assert_eq!(refused.window.reason(), "minute");
    assert_eq!(refused.retry_after, 40);
    assert_eq!(refused.limit, 3);
}

#[tokio::test]
async fn concurrent_requests_never_pass_the_limit_and_buckets_are_separate() {
    let env = TestEnv::new().await;
    let account = env.account().await;
    let store = env.store();
    let now = into_minute(30);

    let limits = Limits::default();
    let reads =
        join_all((0..25).map(|_| store.take_rate_token(account.id, Bucket::Read, &limits, now)))
            .await;
    let bulk = store
        .take_rate_token(account.id, Bucket::Bulk, &Limits::default(), now)
        .await;

    let admitted = reads.into_iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(admitted, 10);
    assert_eq!(
        bulk.unwrap().unwrap().remaining,
        9,
        "reads spend nothing of the bulk bucket"
    );
}
