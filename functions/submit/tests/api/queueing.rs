use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use test_support::response_json;
use uuid::Uuid;

use crate::helpers::{App, WEBHOOK, assert_envelope, body_with, field_errors, spawn_app};

/// Makes the item queue refuse any message over 1 KiB, as a real queue refuses what breaks its
/// limits: the batch holding the one large item fails, and every other batch goes through.
async fn limit_queue_messages(app: &App, bytes: u32) {
    app.env
        .sqs
        .set_queue_attributes()
        .queue_url(&app.deps.config.item_queue_url)
        .attributes(QueueAttributeName::MaximumMessageSize, bytes.to_string())
        .send()
        .await
        .unwrap();
}

/// 100 items, of which item 95 carries 2 KB of custom fields.
fn body_with_one_large_item() -> String {
    let radars: Vec<Value> = (0..100)
        .map(|i| {
            let pad = if i == 95 { "x".repeat(2048) } else { String::new() };
            json!({"radar_type": "industry_mentions", "keyword": "fintech", "custom_fields": {"pad": pad}})
        })
        .collect();
    json!({"webhook_url": WEBHOOK, "radars": radars}).to_string()
}

#[tokio::test]
async fn queueing_that_fails_part_way_is_a_500_and_the_bulk_is_aborted() {
    let app = spawn_app().await;
    limit_queue_messages(&app, 1024).await;

    let response = app
        .post(
            &body_with_one_large_item(),
            &[("idempotency-key", "retry-me")],
        )
        .await;

    let body = assert_envelope(&response, 500, "Internal server error");
    assert_eq!(field_errors(&body)[0].0, "radars");
    let queued = app.queued().await;
    assert_eq!(
        queued.len(),
        90,
        "the nine batches without the large item went through"
    );
    let bulk_id = queued[0].bulk_id;
    assert!(queued.iter().all(|message| message.bulk_id == bulk_id));
    let records = app.env.partition(&format!("BULK#{bulk_id}")).await;
    assert_eq!(
        records[0].1["state"].as_s().unwrap(),
        "aborted",
        "the processor drops every item of an aborted bulk"
    );
    assert_eq!(
        balance(&app).await,
        100,
        "a failed submission takes nothing"
    );
}

async fn balance(app: &App) -> i64 {
    let account = app.deps.store.get_account(app.account.id).await.unwrap();
    account.unwrap().credits
}

#[tokio::test]
async fn an_accepted_bulk_is_paid_for_up_front_when_the_balance_covers_its_valid_items() {
    let app = spawn_app().await;
    let body = json!({"webhook_url": WEBHOOK, "radars": [
        {"radar_type": "company_reviews", "domain": "a.com"},
        {"radar_type": "company_reviews", "domain": "not a domain"},
        {"radar_type": "industry_new_companies"},
        {"radar_type": "no_such_type"},
    ]});

    let response = app.post(&body.to_string(), &[]).await;

    let (status, answer) = response_json(&response);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(balance(&app).await, 98, "the two valid items, reserved");
    let records = app
        .env
        .partition(&format!("BULK#{}", answer["bulk_id"].as_str().unwrap()))
        .await;
    assert_eq!(records[0].1["reserved"].as_n().unwrap(), "2");
}

#[tokio::test]
async fn a_bulk_the_balance_cannot_cover_is_accepted_metered_and_takes_nothing_yet() {
    let app = spawn_app().await;
    app.deps.store.set_credits(app.account.id, 2).await.unwrap();

    let response = app.post(&body_with(3), &[]).await;

    let (status, answer) = response_json(&response);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(balance(&app).await, 2);
    let records = app
        .env
        .partition(&format!("BULK#{}", answer["bulk_id"].as_str().unwrap()))
        .await;
    assert_eq!(records[0].1["state"].as_s().unwrap(), "accepted");
    assert!(!records[0].1.contains_key("reserved"), "metered");
}

#[tokio::test]
async fn a_failed_submission_can_be_retried_with_the_same_key() {
    let app = spawn_app().await;
    limit_queue_messages(&app, 1024).await;
    let body = body_with_one_large_item();
    let failed = app.post(&body, &[("idempotency-key", "retry-me")]).await;
    assert_eq!(failed.status(), 500);
    let aborted = app.queued().await[0].bulk_id;
    limit_queue_messages(&app, 262_144).await;

    let retried = app.post(&body, &[("idempotency-key", "retry-me")]).await;

    let (status, answer) = response_json(&retried);
    assert_eq!(status, 202, "{answer}");
    let bulk_id: Uuid = answer["bulk_id"].as_str().unwrap().parse().unwrap();
    assert_ne!(bulk_id, aborted);
    let queued = app.queued().await;
    assert_eq!(queued.len(), 100);
    assert!(queued.iter().all(|message| message.bulk_id == bulk_id));
    let records = app.env.partition(&format!("BULK#{bulk_id}")).await;
    assert_eq!(records[0].1["state"].as_s().unwrap(), "accepted");
    let replay = app.post(&body, &[("idempotency-key", "retry-me")]).await;
    assert_eq!(response_json(&replay).1["bulk_id"], answer["bulk_id"]);
}

#[tokio::test]
async fn a_missing_queue_is_a_500_that_leaves_the_bulk_aborted() {
    let mut app = spawn_app().await;
    let url = format!("{}-gone", app.deps.config.item_queue_url);
    app.deps.queue = shared::queue::Queue::new(app.env.sqs.clone(), url);

    let response = app.post(&crate::helpers::body_with(3), &[]).await;

    assert_envelope(&response, 500, "Internal server error");
    let table = &app.deps.config.table_name;
    let bulks = app
        .env
        .dynamodb
        .scan()
        .table_name(table)
        .filter_expression("sk = :bulk")
        .expression_attribute_values(
            ":bulk",
            aws_sdk_dynamodb::types::AttributeValue::S("BULK".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(bulks.len(), 1);
    assert_eq!(bulks[0]["state"].as_s().unwrap(), "aborted");
}

#[tokio::test]
async fn every_item_is_queued_in_its_accounts_message_group() {
    let app = spawn_app().await;

    let response = app.post(&body_with(25), &[]).await;

    assert_eq!(response.status(), 202);
    let queued = app.env.drain_grouped("ItemQueue").await;
    assert_eq!(queued.len(), 25);
    let account = app.account.id.to_string();
    assert!(
        queued
            .iter()
            .all(|(group, _)| group.as_deref() == Some(account.as_str())),
        "{queued:?}"
    );
}
