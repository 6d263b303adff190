use std::time::Duration;

use chrono::Utc;
use shared::{queue::WebhookTask, store::deliveries::DeliveryState};

use test_support::receiver::Reply;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_message_delivered_twice_is_sent_once() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;

    let first = app.dispatch(&[seeded.item(0)]).await;
    let second = app.dispatch(&[seeded.item(0)]).await;

    assert_eq!(first.delivered.len(), 1);
    assert!(second.delivered.is_empty() && second.requeued.is_empty());
    assert!(second.response.batch_item_failures.is_empty());
    assert_eq!(app.receiver.count(), 1);
}

#[tokio::test]
async fn two_messages_for_one_event_in_one_batch_are_noted_delivered_once() {
    let app = spawn_app().await;
    let seeded = app.seed(2).await;

    // The processor queued the event twice (a redelivered batch), and SQS handed both at once.
    let report = app
        .dispatch(&[seeded.item(0), seeded.item(0), seeded.item(1)])
        .await;

    assert!(report.response.batch_item_failures.is_empty(), "{report:?}");
    let ledger = app.ledger(&seeded).await;
    assert_eq!(
        ledger.delivered_first.into_iter().collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(
        app.receiver.count(),
        3,
        "sent by both, under one webhook-id"
    );
}

#[tokio::test]
async fn a_first_attempt_at_two_workers_at_once_may_reach_the_receiver_twice_as_one_event() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    // A slow receiver keeps the first worker's attempt open while the second one arrives.
    app.receiver
        .always(Reply::status(200).after(Duration::from_millis(500)));

    let now = Utc::now();
    let message = [seeded.item(0)];
    let (one, two) = tokio::join!(
        app.dispatch_at(&message, now),
        app.dispatch_at(&message, now)
    );
    let mut later = app.follow(&one, now).await;
    later.extend(app.follow(&two, now).await);

    // A first attempt is made without a claim: both workers send, the same event, and its
    // tally record notes it delivered once.
    let received = app.receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    assert_eq!(received[0].text(), received[1].text());
    assert!(later.iter().all(|r| r.delivered.is_empty()));
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        (delivery.state, delivery.attempts, delivery.recorded),
        (DeliveryState::Delivered, 1, false)
    );
    // Once noted, the message is never sent again.
    app.dispatch_at(&message, now).await;
    assert_eq!(app.receiver.count(), 2);
}

#[tokio::test]
async fn a_retry_at_two_workers_at_once_reaches_the_receiver_once() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.script([Reply::status(500)]);
    let now = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], now).await;
    let (retry, _): (WebhookTask, _) = first.requeued[0];
    let due = retry.not_before.unwrap();
    app.receiver
        .always(Reply::status(200).after(Duration::from_millis(500)));

    let message = [retry];
    let (one, two) = tokio::join!(
        app.dispatch_at(&message, due),
        app.dispatch_at(&message, due)
    );
    let mut later = app.follow(&one, due).await;
    later.extend(app.follow(&two, due).await);

    assert_eq!(app.receiver.count(), 2, "the first attempt and one retry");
    assert_eq!(
        one.delivered.len() + two.delivered.len(),
        1,
        "one worker sent"
    );
    assert!(later.iter().all(|r| r.delivered.is_empty()));
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 2)
    );
}

#[tokio::test]
async fn a_stale_retry_message_does_not_send_an_attempt_again() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.script([Reply::status(500)]);
    let now = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], now).await;
    let (retry, _): (WebhookTask, _) = first.requeued[0];
    let due = retry.not_before.unwrap();
    app.dispatch_at(&[retry], due).await;
    assert_eq!(app.receiver.count(), 2);

    // The processor hands the first attempt's message on again, and the retry comes twice.
    let again = app.dispatch_at(&[seeded.item(0)], due).await;
    let retry_again = app.dispatch_at(&[retry], due).await;

    assert_eq!(
        app.receiver.count(),
        2,
        "nothing acknowledged is sent again"
    );
    assert!(again.requeued.is_empty() && retry_again.requeued.is_empty());
}

#[tokio::test]
async fn a_lost_retry_message_is_made_good_by_the_redelivered_original() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.script([Reply::status(500)]);
    let now = Utc::now();

    // The attempt is recorded, but its retry message never makes it to the queue: SQS hands
    // the original message in again.
    let _lost = app.dispatch_at(&[seeded.item(0)], now).await;
    let redelivered_at = now + chrono::Duration::minutes(6);
    let redelivered = app.dispatch_at(&[seeded.item(0)], redelivered_at).await;
    app.follow(&redelivered, redelivered_at).await;

    assert_eq!(app.receiver.count(), 2);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 2)
    );
}

#[tokio::test]
async fn a_crashed_workers_claim_lapses_and_the_attempt_is_made_after_it() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    let now = Utc::now();
    // A worker claimed the first attempt and died before recording anything.
    let key = shared::store::deliveries::DeliveryKey {
        bulk_id: seeded.bulk.id,
        update_id: seeded.update_ids[0],
        item_index: Some(0),
        expires_at: seeded.bulk.expires_at,
    };
    let lease = Duration::from_secs(60);
    app.deps
        .store
        .claim_attempt(&key, 1, now, lease)
        .await
        .unwrap();

    let redelivered = app.dispatch_at(&[seeded.item(0)], now).await;
    assert_eq!(app.receiver.count(), 0, "not while the lease runs");
    assert_eq!(redelivered.requeued.len(), 1);
    let later = app.follow(&redelivered, now).await;

    assert_eq!(app.receiver.count(), 1);
    assert_eq!(later.last().unwrap().delivered, [seeded.update_ids[0]]);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 1)
    );
}
