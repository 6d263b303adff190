use futures::{StreamExt, stream};

use std::sync::Arc;

use dispatcher::resolver::SystemLookup;
use shared::queue::WebhookTask;

use crate::helpers::spawn_app_with;

/// The messages a round of batches queued again.
fn requeued(reports: &[dispatcher::BatchReport]) -> Vec<WebhookTask> {
    reports
        .iter()
        .flat_map(|report| report.requeued.iter().map(|(task, _)| *task))
        .collect()
}

#[tokio::test]
async fn a_1000_item_bulk_delivers_1000_events_then_one_summary_holding_them() {
    // Room for the four batches at once: the destination's limits have tests of their own.
    let app = spawn_app_with(
        &[
            ("RADAR_WEBHOOK_HOST_IN_FLIGHT", "40"),
            ("RADAR_WEBHOOK_HOST_PER_SECOND", "100000"),
        ],
        Arc::new(SystemLookup),
    )
    .await;
    let seeded = app.seed(1000).await;
    app.env.requests.reset();
    let items = seeded.items();

    let mut reports: Vec<_> = stream::iter(items.chunks(10))
        .map(|batch| app.dispatch(batch))
        .buffer_unordered(4)
        .collect()
        .await;
    // On a loaded machine a batch may find its destination's gate undecided (its record
    // contended past the gate's tries): its messages come back in a few seconds, as SQS would
    // bring them, and go then.
    let mut again: Vec<WebhookTask> = requeued(&reports);
    for _ in 0..5 {
        if again.is_empty() {
            break;
        }
        let report = app.dispatch(&again).await;
        again = requeued(std::slice::from_ref(&report));
        reports.push(report);
    }
    let summary = app.dispatch(&[seeded.completed()]).await;

    let delivered: usize = reports.iter().map(|r| r.delivered.len()).sum();
    assert_eq!(
        delivered,
        1000,
        "{:?}",
        reports
            .iter()
            .filter(|r| r.delivered.len() != 10)
            .map(|r| (&r.requeued, &r.waited, &r.response.batch_item_failures))
            .collect::<Vec<_>>()
    );
    assert_eq!(summary.delivered, [seeded.completion.update_id]);
    let received = app.receiver.received();
    assert_eq!(received.len(), 1001);
    let last = received.last().unwrap();
    let mut item_bodies: Vec<(usize, &str)> = received[..1000]
        .iter()
        .map(|r| {
            let index = seeded
                .update_ids
                .iter()
                .position(|id| id.to_string() == r.header("webhook-id"))
                .unwrap();
            (index, r.text())
        })
        .collect();
    item_bodies.sort_unstable();
    let joined: Vec<&str> = item_bodies.iter().map(|(_, body)| *body).collect();
    let expected = format!("\"radars\":[{}]}}", joined.join(","));
    assert!(
        last.text().ends_with(&expected),
        "radars[] equals the item events"
    );
    eprintln!("bulk_completed for 1000 items: {} bytes", last.body.len());

    let total = app.env.requests.total();
    let by_operation = app.env.requests.by_operation();
    eprintln!(
        "AWS requests for 1001 delivered webhooks: {total} ({:.2} each) {by_operation:?}",
        f64::from(u32::try_from(total).unwrap()) / 1001.0
    );
    assert!(total <= 4 * 1001, "{total} requests: {by_operation:?}");
    // One write a delivered event: its first attempt is made without a claim and recorded
    // once, with its result. bulk_completed is claimed and settled (two), and the
    // destination's slots take at most four a batch.
    let updates = by_operation["DynamoDB.UpdateItem"];
    assert!(
        updates <= 1000 + 2 + 4 * 101,
        "{updates} updates: {by_operation:?}"
    );
}
