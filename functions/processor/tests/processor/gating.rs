use chrono::{Duration, Utc};
use shared::store::{bulks::BulkState, items::ItemState};

use crate::helpers::{company, event_of, record, retried, spawn_app};

#[tokio::test]
async fn items_of_an_aborted_bulk_are_acknowledged_and_never_created() {
    let app = spawn_app().await;
    let seeded = app
        .submit_as(
            app.account.id,
            &[company("a.com")],
            BulkState::Aborted,
            Utc::now(),
        )
        .await;

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    assert!(report.handed_off.is_empty());
    assert_eq!(app.states(&seeded.bulk).await, [None]);
    assert!(app.radars().await.is_empty());
    assert_eq!(app.balance().await, 100);
}

#[tokio::test]
async fn an_abandoned_submission_is_aborted_and_its_items_dropped() {
    let app = spawn_app().await;
    let long_ago = Utc::now() - Duration::minutes(3);
    let seeded = app
        .submit_as(
            app.account.id,
            &[company("a.com")],
            BulkState::Submitting,
            long_ago,
        )
        .await;

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    assert!(report.handed_off.is_empty());
    assert_eq!(
        app.snapshot(&seeded.bulk).await.bulk.state,
        BulkState::Aborted
    );
    assert!(app.radars().await.is_empty());
}

#[tokio::test]
async fn an_item_that_arrives_before_its_bulk_is_accepted_goes_back_to_the_queue() {
    let app = spawn_app().await;
    let seeded = app
        .submit_as(
            app.account.id,
            &[company("a.com")],
            BulkState::Submitting,
            Utc::now(),
        )
        .await;

    let report = app.process(seeded.all(1)).await;

    assert!(
        retried(&report).is_empty(),
        "deferred, not failed: no delivery is spent"
    );
    assert_eq!(app.env.queue_depth("ItemQueue").await, 1);
    assert_eq!(app.states(&seeded.bulk).await, [None]);
    assert!(app.radars().await.is_empty());
}

#[tokio::test]
async fn an_unreadable_message_fails_alone() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;
    let event = event_of([
        record(&seeded.messages[0], 0, 1),
        record("{not an item", 1, 1),
    ]);

    let report = app.process(event).await;

    assert_eq!(retried(&report), ["message-1"]);
    assert_eq!(app.states(&seeded.bulk).await, [Some(ItemState::Created)]);
}

#[tokio::test]
async fn a_dead_lettered_item_is_recorded_as_a_500_and_completes_its_bulk() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com"), company("b.com")]).await;
    app.process(seeded.event([0], 1)).await;
    let mut event = seeded.event([1], 6);
    event.records[0].event_source_arn = app.deps.config.item_dead_letter_queue_arn.clone();

    let report = app.process(event).await;

    assert!(retried(&report).is_empty());
    let events = app.events(&seeded.bulk).await;
    assert_eq!(events[1].as_ref().unwrap()["code"], 500);
    assert_eq!(app.radars().await.len(), 1);
    assert!(app.snapshot(&seeded.bulk).await.bulk.completion.is_some());
}
