use chrono::Utc;
use shared::store::deliveries::DeliveryState;

use test_support::receiver::Reply;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_receiver_that_always_fails_exhausts_the_schedule_and_the_delivery_is_parked() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    app.receiver.always(Reply::status(500));

    let start = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], start).await;
    let later = app.follow(&first, start).await;

    // The default schedule: 7 retries after the first attempt.
    assert_eq!(app.receiver.count(), 8);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(delivery.attempts, 8);
    assert!(delivery.log.iter().all(|a| a.status == Some(500)));
    let last = delivery.log.last().unwrap().at;
    let spent = last - delivery.log[0].at;
    eprintln!(
        "8 attempts over {} h of simulated time, {} batches (pauses over 15 minutes are chained)",
        spent.num_hours(),
        later.len() + 1
    );
    assert!(
        spent >= chrono::Duration::hours(22),
        "the schedule ran: {spent}"
    );
    let given_up: Vec<_> = later.iter().flat_map(|r| r.given_up.clone()).collect();
    assert_eq!(given_up, [seeded.update_ids[0]]);
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 1);
    let parked = app.env.drain_queue("WebhookDeadLetterQueue").await;
    assert!(
        parked[0].contains(&seeded.update_ids[0].to_string()),
        "{parked:?}"
    );
}

#[tokio::test]
async fn a_shortened_schedule_from_configuration_gives_up_sooner() {
    let app = crate::helpers::spawn_app_with(
        &[("RADAR_WEBHOOK_RETRY_SCHEDULE", "1s,1s")],
        std::sync::Arc::new(dispatcher::resolver::SystemLookup),
    )
    .await;
    let seeded = app.seed(1).await;
    app.receiver.always(Reply::status(502));

    let start = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], start).await;
    app.follow(&first, start).await;

    assert_eq!(app.receiver.count(), 3);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 1);
}

/// A delivery is recorded failed before its message is parked, so a message that finds its
/// delivery failed parks itself: the attempt that gave up may have stopped between the two
/// (here, a stale copy of the first attempt's message stands in for its redelivery). Nothing
/// is sent again, and nothing but a failed delivery is ever parked.
#[tokio::test]
async fn a_copy_that_finds_its_delivery_given_up_parks_itself_and_sends_nothing() {
    let app = crate::helpers::spawn_app_with(
        &[("RADAR_WEBHOOK_RETRY_SCHEDULE", "1s")],
        std::sync::Arc::new(dispatcher::resolver::SystemLookup),
    )
    .await;
    let seeded = app.seed(2).await;
    app.receiver.always(Reply::status(502));
    let start = Utc::now();
    let first = app.dispatch_at(&[seeded.item(0)], start).await;
    app.follow(&first, start).await;
    assert_eq!(app.receiver.count(), 2);
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 1);

    let later = start + chrono::Duration::minutes(5);
    let report = app.dispatch_at(&[seeded.item(0)], later).await;

    assert!(
        report.given_up.is_empty(),
        "given up once, by its last attempt"
    );
    assert_eq!(app.receiver.count(), 2, "nothing sent again");
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 2);
    let parked = app.env.drain_queue("WebhookDeadLetterQueue").await;
    assert!(
        parked
            .iter()
            .all(|body| body.contains(&seeded.update_ids[0].to_string()))
    );
    // A delivered event's stale copy parks nothing (the two drained above stay in flight).
    app.receiver.always(Reply::status(200));
    app.dispatch_at(&[seeded.item(1)], later).await;
    app.dispatch_at(&[seeded.item(1)], later).await;
    assert_eq!(app.receiver.count(), 3);
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 2);
}
