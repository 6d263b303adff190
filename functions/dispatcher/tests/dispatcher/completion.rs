use chrono::Utc;
use serde_json::Value;
use shared::{queue::WebhookTask, store::deliveries::DeliveryState};

use test_support::receiver::Reply;

use crate::helpers::spawn_app;

#[tokio::test]
async fn bulk_completed_waits_until_every_item_event_is_delivered_or_given_up() {
    let app = spawn_app().await;
    let seeded = app.seed(3).await;
    let now = Utc::now();

    // The summary's message arrives first: it waits.
    let early = app.dispatch_at(&[seeded.completed()], now).await;
    assert_eq!(app.receiver.count(), 0);
    assert_eq!(early.requeued.len(), 1);
    assert_eq!(early.requeued[0].0.waits, 1);

    // Two items are delivered, the third is refused for good (410): still waiting until then.
    app.dispatch_at(&seeded.items()[..2], now).await;
    let waiting = app.dispatch_at(&[early.requeued[0].0], now).await;
    assert_eq!(waiting.requeued.len(), 1, "one item is still pending");
    app.receiver.script([Reply::status(410)]);
    app.dispatch_at(&[seeded.item(2)], now).await;
    let item = app.delivery(&seeded, seeded.update_ids[2]).await;
    assert_eq!(item.state, DeliveryState::Failed);

    let sent = app.follow(&waiting, now).await;

    let delivered: Vec<_> = sent.iter().flat_map(|r| r.delivered.clone()).collect();
    assert_eq!(delivered, [seeded.completion.update_id]);
    let received = app.receiver.received();
    assert_eq!(received.len(), 4);
    let summary = received.last().unwrap();
    assert_eq!(
        summary.header("webhook-id"),
        seeded.completion.update_id.to_string()
    );
    let body: Value = serde_json::from_slice(&summary.body).unwrap();
    assert_eq!(body["update_type"], "bulk_completed");
    assert_eq!(body["summary"]["total"], 3);
    assert_eq!(body["summary"]["created"], 2);
    assert_eq!(body["summary"]["failed"], 1);
}

#[tokio::test]
async fn the_batch_that_settles_the_last_item_event_hands_bulk_completed_on_at_once() {
    let app = spawn_app().await;
    let seeded = app.seed(20).await;
    let now = Utc::now();
    let early = app.dispatch_at(&[seeded.completed()], now).await;
    let (waiting, _) = early.requeued[0];
    app.env.drain_queue("WebhookQueue").await;

    // Half the items: some tally records' sets fill, but the bulk is not settled.
    app.dispatch_at(&seeded.items()[..10], now).await;
    assert!(app.env.drain_queue("WebhookQueue").await.is_empty());
    app.dispatch_at(&seeded.items()[10..], now).await;

    let queued = app.env.drain_queue("WebhookQueue").await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let copy: WebhookTask = serde_json::from_str(&queued[0]).unwrap();
    assert_eq!(copy.event, seeded.completed());
    let sent = app.dispatch_at(&[copy], now).await;
    assert_eq!(
        sent.delivered,
        [seeded.completion.update_id],
        "sent at once"
    );
    // The waiting copy, at its look, finds it sent.
    let look = app
        .dispatch_at(&[waiting], waiting.not_before.unwrap())
        .await;
    assert!(look.delivered.is_empty() && look.requeued.is_empty());
    assert_eq!(app.receiver.count(), 21);
}

#[tokio::test]
async fn bulk_completed_carries_each_item_event_byte_for_byte_in_item_order() {
    let app = spawn_app().await;
    let seeded = app.seed(5).await;
    let mut items = seeded.items();
    items.reverse();
    app.dispatch(&items).await;

    let report = app.dispatch(&[seeded.completed()]).await;

    assert_eq!(report.delivered, [seeded.completion.update_id]);
    let received = app.receiver.received();
    let summary = received.last().unwrap().text().to_owned();
    let expected = format!("\"radars\":[{}]}}", seeded.events.join(","));
    assert!(summary.ends_with(&expected), "{summary}");
    let body: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(body["bulk_id"], seeded.bulk.id.to_string());
    assert_eq!(
        body["completed_at"],
        shared::clock::rfc3339(seeded.completion.completed_at)
    );
    assert_eq!(body["update_id"], seeded.completion.update_id.to_string());
}

#[tokio::test]
async fn a_bulk_completed_retry_sends_the_very_same_body() {
    let app = spawn_app().await;
    let seeded = app.seed(2).await;
    app.dispatch(&seeded.items()).await;
    app.receiver.script([Reply::status(500)]);
    let now = Utc::now();

    let first = app.dispatch_at(&[seeded.completed()], now).await;
    app.follow(&first, now).await;

    let received = app.receiver.received();
    assert_eq!(received.len(), 4);
    assert_eq!(received[2].body, received[3].body);
    let delivery = app.delivery(&seeded, seeded.completion.update_id).await;
    assert_eq!(delivery.item_index, None);
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 2)
    );
}

#[tokio::test]
async fn one_copy_of_a_waiting_bulk_completed_waits_and_duplicates_end() {
    let app = spawn_app().await;
    let seeded = app.seed(2).await;
    let now = Utc::now();
    let at = |seconds| now + chrono::Duration::seconds(seconds);

    // SQS hands the summary's message in twice: one copy looks, the other stands by.
    let twice = app
        .dispatch_at(&[seeded.completed(), seeded.completed()], now)
        .await;
    assert_eq!(twice.requeued.len(), 2, "{:?}", twice.requeued);
    let (standing, waiting): (Vec<_>, Vec<_>) = twice
        .requeued
        .iter()
        .map(|(task, _)| *task)
        .partition(|task| task.standby);
    assert_eq!((standing.len(), waiting.len()), (1, 1));
    assert!(
        standing[0].not_before.unwrap() >= at(90),
        "{:?}",
        standing[0]
    );

    // The live copy keeps looking; the one standing by finds the look renewed and ends.
    let next = app.dispatch_at(&[waiting[0]], at(92)).await;
    assert_eq!(next.requeued.len(), 1);
    let ended = app.dispatch_at(&[standing[0]], at(96)).await;
    assert!(ended.requeued.is_empty(), "the duplicate ends");
    assert!(ended.response.batch_item_failures.is_empty());

    // A copy whose line died (no look for minutes) takes over, and the summary is delivered
    // once the items are.
    let later = now + chrono::Duration::minutes(5);
    let revived = app.dispatch_at(&[seeded.completed()], later).await;
    assert_eq!(revived.requeued.len(), 1, "it takes over");
    assert!(!revived.requeued[0].0.standby);
    app.dispatch_at(&seeded.items(), later).await;
    let sent = app.follow(&revived, later).await;
    let delivered: Vec<_> = sent.iter().flat_map(|r| r.delivered.clone()).collect();
    assert_eq!(delivered, [seeded.completion.update_id]);
}

#[tokio::test]
async fn a_summary_whose_successor_died_unqueued_stands_by_and_takes_over() {
    let app = spawn_app().await;
    let seeded = app.seed(1).await;
    let now = Utc::now();

    // Its look is taken, and then (the invocation died before queueing the successor) SQS
    // hands the same message in again seconds later.
    app.dispatch_at(&[seeded.completed()], now).await;
    let again = app
        .dispatch_at(&[seeded.completed()], now + chrono::Duration::seconds(10))
        .await;
    assert_eq!(again.requeued.len(), 1);
    let standing = again.requeued[0].0;
    assert!(standing.standby);

    // No copy renewed the look: standing by, it takes over, and the summary goes.
    app.dispatch_at(&seeded.items(), now).await;
    let sent = app
        .follow(&again, now + chrono::Duration::seconds(10))
        .await;
    let delivered: Vec<_> = sent.iter().flat_map(|r| r.delivered.clone()).collect();
    assert_eq!(delivered, [seeded.completion.update_id]);
}
