use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use hyper::HeaderMap;
use shared::{
    credentials::{ApiKey, WebhookSecret},
    store::{accounts::Account, deliveries::DeliveryState},
};
use standardwebhooks::Webhook;
use test_support::receiver::{Received, Reply};
use uuid::Uuid;

use crate::helpers::spawn_app;

fn verify(secret: &str, received: &Received) -> Result<(), standardwebhooks::WebhookError> {
    let headers: HeaderMap = received.headers.clone();
    Webhook::new(secret)?.verify(&received.body, &headers)
}

#[tokio::test]
async fn an_item_event_is_posted_as_stored_and_signed_verifiably() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert_eq!(report.delivered, [seeded.update_ids[0]]);
    assert!(report.response.batch_item_failures.is_empty());
    let received = app.receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.path, "/hooks");
    assert_eq!(
        request.text(),
        seeded.events[0],
        "the stored bytes, unchanged"
    );
    assert_eq!(request.header("content-type"), "application/json");
    assert!(
        request
            .header("user-agent")
            .starts_with("radar-bulk-webhooks/")
    );
    assert_eq!(
        request.header("webhook-id"),
        seeded.update_ids[0].to_string()
    );
    verify(app.secrets.current.expose(), request).expect("standardwebhooks verifies it");

    // Delivered at its first attempt: noted in its item's tally record, with no record of its own.
    let record = app
        .deps
        .store
        .get_delivery(seeded.bulk.id, seeded.update_ids[0]);
    assert_eq!(record.await.unwrap(), None);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Delivered);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.item_index, Some(0));
    assert!(!delivery.recorded && delivery.log.is_empty());
    let ledger = app.ledger(&seeded).await;
    assert_eq!(ledger.items_settled(), 1);
}

#[tokio::test]
async fn a_failed_first_attempt_is_recorded_and_its_retry_settles_the_record() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.script([Reply::status(503)]);

    let first = app.dispatch(&[seeded.item(0)]).await;

    assert!(first.delivered.is_empty());
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert!(delivery.recorded, "a failure has its record");
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Pending, 1)
    );
    assert_eq!(delivery.log[0].status, Some(503));
    let ledger = app.ledger(&seeded).await;
    assert_eq!(ledger.items_settled(), 0, "pending: bulk_completed waits");

    let (retry, _) = first.requeued[0];
    let second = app.dispatch_at(&[retry], retry.not_before.unwrap()).await;

    assert_eq!(second.delivered, [seeded.update_ids[0]]);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 2)
    );
    assert_eq!(delivery.log.len(), 2);
    let ledger = app.ledger(&seeded).await;
    assert_eq!(ledger.items_settled(), 1);
    assert!(
        ledger.delivered_first.is_empty(),
        "only first attempts go in the sets"
    );
}

#[tokio::test]
async fn while_a_secret_rotates_either_secret_verifies_the_event() {
    let app = spawn_app().await;
    let (current, previous) = (
        WebhookSecret::generate().unwrap(),
        WebhookSecret::generate().unwrap(),
    );
    let account = Account {
        id: Uuid::new_v4(),
        ..app.account.clone()
    };
    let key = ApiKey::generate().unwrap();
    app.deps
        .store
        .create_account(&account, &key.digest(), &previous)
        .await
        .unwrap();
    assert!(
        app.deps
            .store
            .rotate_webhook_secret(account.id, &current)
            .await
            .unwrap()
    );
    let seeded = app.seed_for(account.id, &app.receiver.url, 1).await;

    app.dispatch(&[seeded.item(0)]).await;

    let request = &app.receiver.received()[0];
    assert_eq!(request.header("webhook-signature").split(' ').count(), 2);
    verify(current.expose(), request).expect("the new secret verifies");
    verify(previous.expose(), request).expect("the old secret verifies");
    verify(app.secrets.current.expose(), request).expect_err("another secret does not");
}

#[tokio::test]
async fn signing_needs_the_accounts_secrets_record_not_its_account_record() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.env
        .dynamodb
        .delete_item()
        .table_name(app.deps.store.table())
        .key(
            "pk",
            AttributeValue::S(format!("ACCOUNT#{}", app.account.id)),
        )
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .send()
        .await
        .unwrap();

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert_eq!(report.delivered, [seeded.update_ids[0]]);
    verify(app.secrets.current.expose(), &app.receiver.received()[0])
        .expect("signed with the account's secret");
}

#[tokio::test]
async fn an_event_of_an_account_without_secrets_is_dropped_unsent() {
    let app = spawn_app().await;
    let seeded = app.seed_for(Uuid::new_v4(), &app.receiver.url, 1).await;

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert!(report.delivered.is_empty());
    assert!(report.requeued.is_empty());
    assert!(
        report.response.batch_item_failures.is_empty(),
        "not redelivered: it can never be signed"
    );
    assert!(app.receiver.received().is_empty(), "nothing sent unsigned");
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_on_the_third_attempt_with_each_recorded() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver
        .script([Reply::status(500), Reply::status(503)]);

    let now = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], now).await;
    let later = app.follow(&first, now).await;

    let received = app.receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received.iter().all(|r| r.body == received[0].body),
        "same body each time"
    );
    assert!(
        received
            .iter()
            .all(|r| r.header("webhook-id") == received[0].header("webhook-id"))
    );
    let delivered: Vec<_> = later.iter().flat_map(|r| r.delivered.clone()).collect();
    assert_eq!(delivered, [seeded.update_ids[0]]);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Delivered);
    assert_eq!(delivery.attempts, 3);
    let statuses: Vec<_> = delivery.log.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    let attempts: Vec<_> = delivery.log.iter().map(|a| a.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(delivery.log.windows(2).all(|w| w[0].at < w[1].at));
}

#[tokio::test]
async fn a_410_stops_the_delivery_at_once_and_parks_it() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.always(Reply::status(410));

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert!(report.requeued.is_empty(), "no retry");
    assert_eq!(report.given_up, [seeded.update_ids[0]]);
    assert_eq!(app.receiver.count(), 1);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(delivery.log[0].status, Some(410));
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 1);
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    let elsewhere = format!("http://127.0.0.1:{}/elsewhere", app.receiver.port);
    app.receiver
        .script([Reply::status(301).with_header("location", elsewhere)]);

    let report = app.dispatch(&[seeded.item(0)]).await;

    let received = app.receiver.received();
    assert_eq!(received.len(), 1, "the redirect was not followed");
    assert_eq!(received[0].path, "/hooks");
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Pending);
    assert_eq!(delivery.log[0].status, Some(301));
    let (next, _) = report.requeued[0];
    assert_eq!(next.attempt, 2, "retried on the schedule");
}

#[tokio::test]
async fn retry_after_postpones_the_next_attempt() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver
        .script([Reply::status(429).with_header("retry-after", "3600")]);

    let now = Utc::now();
    let report = app.dispatch_at(&[seeded.item(0)], now).await;

    let (next, delay) = report.requeued[0];
    let due = next.not_before.expect("the retry has a time");
    assert!(
        due - now >= chrono::Duration::seconds(3600),
        "{due} vs {now}"
    );
    assert_eq!(
        delay.as_secs(),
        900,
        "chained: SQS delays 15 minutes at most"
    );
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        delivery.next_attempt_at.map(|t| t.timestamp()),
        Some(due.timestamp())
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried() {
    let app = crate::helpers::spawn_app_with(
        &[("RADAR_WEBHOOK_TIMEOUT_SECONDS", "1")],
        std::sync::Arc::new(dispatcher::resolver::SystemLookup),
    )
    .await;
    let seeded = app.seed(1).await;
    app.receiver
        .script([Reply::status(200).after(std::time::Duration::from_secs(3))]);

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert!(report.delivered.is_empty());
    assert_eq!(report.requeued[0].0.attempt, 2);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.log[0].status, None);
    assert_eq!(delivery.log[0].error.as_deref(), Some("timed out"));
}
