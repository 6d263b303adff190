use futures::{StreamExt, stream};
use serde_json::{Value, json};
use shared::store::items::ItemState;
use uuid::Uuid;

use crate::helpers::{company, completions, retried, spawn_app_with_credits};

/// Item `i` of the big bulk: every tenth (index ending in 5) invalid, and each index ending in
/// 99 a duplicate of the one before it.
fn item(i: usize) -> Value {
    match (i % 10, i % 100) {
        (5, _) => json!({"radar_type": "company_job_openings", "domain": "not a domain"}),
        (_, 99) => company(&format!("d{}.com", i - 1)),
        _ => company(&format!("d{i}.com")),
    }
}

#[tokio::test]
async fn a_1000_item_bulk_over_8_concurrent_invocations_completes_exactly_once() {
    let app = spawn_app_with_credits(2000).await;
    let radars: Vec<Value> = (0..1000).map(item).collect();
    let seeded = app.submit(&radars).await;
    let mut shuffled: Vec<(Uuid, usize)> = (0..1000).map(|i| (Uuid::new_v4(), i)).collect();
    shuffled.sort_unstable();
    let order: Vec<usize> = shuffled.into_iter().map(|(_, i)| i).collect();
    app.env.requests.reset();

    let reports: Vec<processor::BatchReport> = stream::iter(order.chunks(10))
        .map(|batch| app.process(seeded.event(batch.iter().copied(), 1)))
        .buffer_unordered(8)
        .collect()
        .await;

    assert!(reports.iter().all(|r| retried(r).is_empty()));
    let snapshot = app.snapshot(&seeded.bulk).await;
    let counts = snapshot.counts();
    assert_eq!(
        (counts.processing, counts.created, counts.failed),
        (0, 890, 110)
    );
    let codes = |code: u64| {
        snapshot
            .items
            .iter()
            .filter_map(|item| item.outcome.as_ref())
            .filter(|outcome| outcome.state == ItemState::Failed)
            .filter(|outcome| outcome.event.contains(&format!(r#""code":{code},"#)))
            .count()
    };
    assert_eq!((codes(400), codes(409)), (100, 10));
    assert_eq!(app.radars().await.len(), 890);
    assert_eq!(app.balance().await, 2000 - 890);
    let completion = snapshot.bulk.completion.expect("complete");
    assert_eq!(
        completions(&reports),
        [completion.update_id],
        "exactly one bulk_completed"
    );
    assert_eq!(app.env.queue_depth("WebhookQueue").await, 1001);

    // The bulk was paid for when it was accepted: its items are created by plain puts, a
    // radar and an outcome each (a refusal puts its outcome only; a 409 tries its radar
    // first), and the one transaction gives back what the 110 failed items did not spend.
    let by_operation = app.env.requests.by_operation();
    assert_eq!(
        by_operation["DynamoDB.PutItem"],
        900 + 1000,
        "{by_operation:?}"
    );
    assert_eq!(
        by_operation["DynamoDB.TransactWriteItems"], 1,
        "{by_operation:?}"
    );
}

#[tokio::test]
async fn a_created_item_costs_the_processor_its_two_writes_and_a_share_of_its_batch() {
    let app = spawn_app_with_credits(1000).await;
    let radars: Vec<Value> = (0..100).map(|i| company(&format!("r{i}.com"))).collect();
    let seeded = app.submit(&radars).await;
    app.env.requests.reset();

    for batch in (0..100).collect::<Vec<_>>().chunks(10) {
        app.process(seeded.event(batch.iter().copied(), 1)).await;
    }

    assert_eq!(app.snapshot(&seeded.bulk).await.counts().created, 100);
    let by_operation = app.env.requests.by_operation();
    let total = app.env.requests.total();
    eprintln!("AWS requests for 100 created items, 10 batches of 10: {total} {by_operation:?}");
    // Per item: its radar and its outcome. Per batch of 10 neighbours: one GetItem of the bulk,
    // a tally update per shard it touches (16 shards of 6 or 7 items here, so at most 3) and
    // one of the bulk's full shards, one SendMessageBatch. Per bulk: the completion, the
    // refund's Query of the tally records, the SendMessageBatch its event overflows into, and the
    // snapshot's Query above.
    assert!(
        total <= 100 * 2 + 10 * 6 + 4,
        "{total} requests: {by_operation:?}"
    );
}

#[tokio::test]
async fn a_created_item_reads_only_through_its_batch_and_writes_its_two_records_and_little_else() {
    let app = spawn_app_with_credits(1000).await;
    let radars: Vec<Value> = (0..100).map(|i| company(&format!("w{i}.com"))).collect();
    let seeded = app.submit(&radars).await;
    app.env.capacity.reset();

    for batch in (0..100).collect::<Vec<_>>().chunks(10) {
        app.process(seeded.event(batch.iter().copied(), 1)).await;
    }

    let units = app.env.capacity.units();
    assert_eq!(app.snapshot(&seeded.bulk).await.counts().created, 100);
    eprintln!("DynamoDB capacity for 100 created items, 10 batches of 10: {units:?}");
    // Reads are shared by a batch (its bulk, once), never one per item; a refund would read the
    // bulk's tally records once (none here: every item was created).
    assert!(units.read <= 2.0 * 10.0 + 5.0, "{units:?}");
    // Per item its radar, the radar's entry in the account index (the global secondary index
    // that lists an account's radars, `store::index`) and its outcome, records this small
    // costing 1 unit a write; besides, per batch at most three tally updates and one of the
    // bulk's full shards, per bulk the completion (and the bulk's index entry, which shows
    // it) and its settlement (a transaction of the bulk's mark and the month's usage count, 2
    // units a write). Nothing is written to the account: the bulk was paid for when accepted,
    // and spent all it reserved.
    assert!(
        units.write <= 100.0 * 3.0 + 10.0 * 4.0 + 2.0 + 2.0 * 2.0,
        "{units:?}"
    );
    assert!(units.write >= 100.0 * 3.0, "{units:?}");
}
