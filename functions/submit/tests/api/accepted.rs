use std::collections::BTreeSet;

use serde_json::{Value, json};
use test_support::response_json;
use uuid::Uuid;

use crate::helpers::{body_with, header, spawn_app, spec_example};

#[tokio::test]
async fn the_spec_example_is_accepted_with_the_documented_202() {
    let app = spawn_app().await;

    let response = app.post(&spec_example(), &[]).await;

    let (status, body) = response_json(&response);
    assert_eq!(status, 202, "{body}");
    let bulk_id: Uuid = body["bulk_id"].as_str().unwrap().parse().unwrap();
    // Time-ordered (v7): an account's bulks list newest first by id.
    assert_eq!(bulk_id.get_version_num(), 7);
    assert_eq!(
        body,
        json!({
            "status": "success",
            "code": 202,
            "message": format!(
                "Bulk submission accepted - 2 radars queued for processing. Poll GET \
                 /v1/radars/bulk/{bulk_id} for status or wait for the bulk_completed webhook."
            ),
            "bulk_id": bulk_id.to_string(),
            "summary": {"total": 2},
            "timestamp": app.now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        })
    );
    assert_eq!(header(&response, "x-ratelimit-limit"), Some("10"));
    assert_eq!(header(&response, "x-ratelimit-remaining"), Some("9"));
    assert_eq!(header(&response, "x-ratelimit-reset"), Some("55"));
}

#[tokio::test]
async fn an_accepted_bulk_stores_every_items_custom_fields_and_queues_one_message_each() {
    let app = spawn_app().await;

    let response = app.post(&body_with(37), &[]).await;

    let (status, body) = response_json(&response);
    assert_eq!(status, 202, "{body}");
    let bulk_id: Uuid = body["bulk_id"].as_str().unwrap().parse().unwrap();
    let records = app.env.partition(&format!("BULK#{bulk_id}")).await;
    let keys: Vec<&str> = records.iter().map(|(sk, _)| sk.as_str()).collect();
    assert_eq!(
        keys,
        ["BULK", "FIELDS#0000"],
        "the bulk, and its items' custom_fields packed in one record"
    );
    let (_, bulk) = &records[0];
    assert_eq!(bulk["state"].as_s().unwrap(), "accepted");
    assert_eq!(bulk["total"].as_n().unwrap(), "37");
    assert_eq!(
        bulk["account_id"].as_s().unwrap(),
        &app.account.id.to_string()
    );
    assert_eq!(
        bulk["webhook_url"].as_s().unwrap(),
        "https://your-domain.com/webhooks/tamradar"
    );
    let (_, fields) = &records[1];
    assert_eq!(fields["first"].as_n().unwrap(), "0");
    let packed: Vec<&str> = fields["custom_fields"]
        .as_l()
        .unwrap()
        .iter()
        .map(|text| text.as_s().unwrap().as_str())
        .collect();
    let expected: Vec<String> = (0..37)
        .map(|index| format!(r#"{{"row":{index}}}"#))
        .collect();
    assert_eq!(packed, expected);

    let queued = app.queued().await;
    let indexes: BTreeSet<u32> = queued.iter().map(|m| m.item_index).collect();
    assert_eq!(indexes, (0..37).collect());
    assert_eq!(queued.len(), 37, "exactly one message per item");
    for message in &queued {
        assert_eq!(message.bulk_id, bulk_id);
        assert_eq!(message.account_id, app.account.id);
        let radar: Value = serde_json::from_str(message.radar.get()).unwrap();
        assert_eq!(radar["custom_fields"]["row"], message.item_index);
        assert_eq!(
            radar["domain"],
            format!("company{}.com", message.item_index)
        );
    }
}

#[tokio::test]
async fn a_1000_item_submission_costs_at_most_150_aws_requests() {
    let app = spawn_app().await;
    let body = body_with(1000);
    app.env.requests.reset();

    let response = app.post(&body, &[("idempotency-key", "thousand")]).await;

    assert_eq!(response.status(), 202);
    let by_operation = app.env.requests.by_operation();
    println!("AWS requests for a 1000-item submission: {by_operation:?}");
    assert_eq!(
        by_operation["DynamoDB.BatchWriteItem"], 1,
        "every item's custom_fields in one record"
    );
    assert_eq!(
        by_operation["SQS.SendMessageBatch"], 100,
        "10 messages per request"
    );
    assert!(app.env.requests.total() <= 150, "{by_operation:?}");
    assert_eq!(app.env.queue_depth("ItemQueue").await, 1000);
}
