use futures::{StreamExt, stream};
use serde_json::{Value, json};
use test_support::response_json;

use crate::helpers::{body_text, conflict, created, spawn_app};

const ITEMS: u32 = 1000;

#[tokio::test]
async fn a_finished_1000_item_bulk_is_answered_in_a_few_query_pages_and_no_item_reads() {
    // Arrange: 1000 terminal items whose events add up to more than 1 MB, so that the
    // partition spans several of DynamoDB's 1 MB query pages.
    let app = spawn_app().await;
    let note = "x".repeat(500);
    let fields: Vec<Value> = (0..ITEMS)
        .map(|row| json!({"crm_account_id": format!("acc_{row:04}"), "note": note}))
        .collect();
    let bulk_id = app.accepted_bulk(app.account.id, &fields).await;
    let finished: Vec<String> = stream::iter(0..ITEMS)
        .map(|i| {
            let row = &fields[i as usize];
            let event = if i % 3 == 0 {
                conflict(bulk_id, i, row)
            } else {
                created(bulk_id, i, row)
            };
            app.finish(bulk_id, event)
        })
        .buffered(16)
        .collect()
        .await;
    app.env.requests.reset();

    // Act
    let response = app.poll(bulk_id).await;

    // Assert
    let requests = app.env.requests.by_operation();
    let text = body_text(&response);
    eprintln!(
        "1000-item poll: {} bytes answered with {} DynamoDB requests: {requests:?}",
        text.len(),
        app.env.requests.total()
    );
    let (status, body) = response_json(&response);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["summary"],
        json!({"total": 1000, "processing": 0, "created": 666, "failed": 334})
    );
    assert_eq!(body["radars"].as_array().unwrap().len(), 1000);
    assert!(text.len() > 1 << 20, "a realistic 1-2 MB answer");
    assert!(text.contains(&format!("[{},{}", finished[0], finished[1])));
    let count = |operation: &str| requests.get(operation).copied().unwrap_or(0);
    assert_eq!(count("DynamoDB.GetItem"), 3, "API key, account, bulk");
    assert_eq!(
        count("DynamoDB.UpdateItem"),
        2,
        "the burst and minute windows"
    );
    let pages = count("DynamoDB.Query");
    assert!((2..=4).contains(&pages), "{pages} query pages");
    assert_eq!(
        requests.len(),
        3,
        "nothing but GetItem, UpdateItem and Query"
    );
}
