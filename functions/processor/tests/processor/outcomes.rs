use serde_json::{Value, json};
use shared::{
    queue::{WebhookMessage, WebhookTask},
    store::{bulks::BulkState, items::ItemState},
};

use crate::helpers::{
    company, completions, event_of, record, retried, spawn_app, spawn_app_with_credits,
};

#[tokio::test]
async fn creates_a_radar_of_each_kind_and_charges_for_each() {
    let app = spawn_app().await;
    let seeded = app
        .submit(&[
            json!({"radar_type": "company_job_openings", "domain": "https://www.Stripe.com/jobs",
                   "custom_fields": {"crm_account_id": "acc_001"}}),
            json!({"radar_type": "contact_job_changes", "domain": "openai.com",
                   "profile_url": "https://www.linkedin.com/in/example", "full_name": "Ada Lovelace"}),
            json!({"radar_type": "industry_mentions", "keyword": "  payments  "}),
        ])
        .await;

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    let events = app.events(&seeded.bulk).await;
    let event = |i: usize| events[i].clone().expect("terminal");
    for (i, radar_type) in [
        "company_job_openings",
        "contact_job_changes",
        "industry_mentions",
    ]
    .iter()
    .enumerate()
    {
        let e = event(i);
        assert_eq!(e["update_type"], "radar_created");
        assert_eq!(e["status"], "success");
        assert_eq!(e["bulk_id"], seeded.bulk.id.to_string());
        assert_eq!(e["item_index"], i);
        assert_eq!(e["data"]["radar_type"], *radar_type);
        assert_eq!(e["data"]["radar_status"], "active");
        assert!(e.get("discovered_at").is_none());
    }
    assert_eq!(
        event(0)["custom_fields"],
        json!({"crm_account_id": "acc_001"})
    );
    assert_eq!(
        event(0)["data"]["custom_fields"],
        json!({"crm_account_id": "acc_001"})
    );
    assert_eq!(event(0)["data"]["domain"], "stripe.com");
    assert_eq!(
        event(1)["data"]["profile_url"],
        "https://linkedin.com/in/example"
    );
    assert_eq!(event(1)["data"]["full_name"], "Ada Lovelace");
    assert_eq!(event(2)["data"]["domain"], Value::Null);
    assert_eq!(event(2)["data"]["keyword"], "payments");
    assert_eq!(app.balance().await, 97);
    let mut stored: Vec<String> = app.radars().await.into_iter().map(|(id, _)| id).collect();
    let mut reported: Vec<String> = (0..3)
        .map(|i| event(i)["data"]["radar_id"].as_str().unwrap().to_owned())
        .collect();
    stored.sort();
    reported.sort();
    assert_eq!(stored, reported);
}

#[tokio::test]
async fn each_event_is_handed_on_with_its_update_id_and_then_the_completion() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com"), company("b.com")]).await;

    let report = app.process(seeded.all(1)).await;

    let events = app.events(&seeded.bulk).await;
    let mut items: Vec<WebhookMessage> = report
        .handed_off
        .iter()
        .copied()
        .filter(|m| matches!(m, WebhookMessage::Item { .. }))
        .collect();
    items.sort_by_key(|m| match m {
        WebhookMessage::Item { item_index, .. } => *item_index,
        WebhookMessage::BulkCompleted { .. } => u32::MAX,
    });
    let expected: Vec<WebhookMessage> = (0..2)
        .map(|i| WebhookMessage::Item {
            bulk_id: seeded.bulk.id,
            item_index: i,
            update_id: events[i as usize].as_ref().unwrap()["update_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        })
        .collect();
    assert_eq!(items, expected);
    let completion = app
        .snapshot(&seeded.bulk)
        .await
        .bulk
        .completion
        .expect("completed");
    assert_eq!(completions([&report]), [completion.update_id]);
    assert_eq!(app.env.queue_depth("WebhookQueue").await, 3);
}

#[tokio::test]
async fn an_invalid_item_fails_with_400_naming_every_bad_field_and_charges_nothing() {
    let app = spawn_app().await;
    let seeded = app
        .submit(&[
            json!({"radar_type": "contact_job_changes", "domain": "not a domain",
                          "email": "nobody", "custom_fields": {"row": 7}}),
        ])
        .await;

    app.process(seeded.all(1)).await;

    let event = app.events(&seeded.bulk).await[0].clone().unwrap();
    assert_eq!(event["update_type"], "radar_failure");
    assert_eq!(event["status"], "error");
    assert_eq!(event["code"], 400);
    assert_eq!(event["message"], "Invalid request body");
    assert_eq!(event["custom_fields"], json!({"row": 7}));
    assert_eq!(event["discovered_at"], event["completed_at"]);
    let fields: Vec<&str> = event["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["domain", "email"]);
    assert_eq!(
        event["errors"][0]["reason"],
        "Invalid domain format. Please provide a valid domain (e.g., example.com)"
    );
    assert!(
        event["error_id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
    assert_eq!(app.balance().await, 100);
    assert!(app.radars().await.is_empty());
}

#[tokio::test]
async fn an_unknown_radar_type_is_a_400() {
    let app = spawn_app().await;
    let seeded = app
        .submit(&[json!({"radar_type": "company_weather"})])
        .await;

    app.process(seeded.all(1)).await;

    let event = app.events(&seeded.bulk).await[0].clone().unwrap();
    assert_eq!(event["code"], 400);
    assert_eq!(event["errors"][0]["field"], "radar_type");
}

#[tokio::test]
async fn without_enough_credits_the_item_is_a_402_and_the_balance_is_untouched() {
    let app = spawn_app_with_credits(1).await;
    let seeded = app.submit(&[company("a.com"), company("b.com")]).await;

    app.process(seeded.event([0], 1)).await;
    app.process(seeded.event([1], 1)).await;

    let events = app.events(&seeded.bulk).await;
    assert_eq!(events[0].as_ref().unwrap()["update_type"], "radar_created");
    let refused = events[1].clone().unwrap();
    assert_eq!(refused["code"], 402);
    assert_eq!(refused["message"], "Insufficient balance");
    assert_eq!(refused["errors"][0]["field"], "balance");
    assert_eq!(app.balance().await, 0);
    assert_eq!(app.radars().await.len(), 1);
}

#[tokio::test]
async fn an_account_with_no_credits_gets_402s_and_keeps_its_balance() {
    let app = spawn_app_with_credits(0).await;
    let seeded = app.submit(&[company("a.com")]).await;

    app.process(seeded.all(1)).await;

    assert_eq!(
        app.events(&seeded.bulk).await[0].as_ref().unwrap()["code"],
        402
    );
    assert_eq!(app.balance().await, 0);
    assert!(app.radars().await.is_empty());
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_the_last_delivery_records_a_500() {
    let mut app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;
    app.deps.faults = processor::Faults::crash_after(processor::Step::Creating);

    let early = app.process(seeded.all(1)).await;
    assert_eq!(retried(&early), ["message-0"]);
    assert_eq!(app.states(&seeded.bulk).await, [None]);

    let last = app.deps.config.item_max_receive_count;
    let report = app.process(seeded.all(last)).await;

    assert!(retried(&report).is_empty());
    let event = app.events(&seeded.bulk).await[0].clone().unwrap();
    assert_eq!(event["code"], 500);
    assert_eq!(event["message"], "Internal server error");
    assert_eq!(app.balance().await, 100);
    assert_eq!(completions([&report]).len(), 1, "the bulk still completes");
}

#[tokio::test]
async fn a_balance_that_covers_part_of_a_batch_creates_the_first_items_and_refuses_the_rest() {
    let app = spawn_app_with_credits(3).await;
    let radars: Vec<Value> = (0..5).map(|i| company(&format!("c{i}.com"))).collect();
    let seeded = app.submit(&radars).await;

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    let states = app.states(&seeded.bulk).await;
    assert_eq!(
        states,
        [
            Some(ItemState::Created),
            Some(ItemState::Created),
            Some(ItemState::Created),
            Some(ItemState::Failed),
            Some(ItemState::Failed)
        ]
    );
    let events = app.events(&seeded.bulk).await;
    assert_eq!(events[4].as_ref().unwrap()["code"], 402);
    assert_eq!(app.balance().await, 0);
    assert_eq!(app.radars().await.len(), 3);
}

#[tokio::test]
async fn a_batch_mixing_two_accounts_charges_each_its_own_radars() {
    let app = spawn_app().await;
    let other = app.env.account().await;
    let mine = app
        .submit(&[company("mine-1.com"), company("mine-2.com")])
        .await;
    let theirs = app
        .submit_as(
            other.id,
            &[company("theirs.com")],
            shared::store::bulks::BulkState::Accepted,
            chrono::Utc::now(),
        )
        .await;
    let mut event = mine.all(1);
    let mut their_record = theirs.all(1).records.remove(0);
    their_record.message_id = Some("their-message".into());
    event.records.push(their_record);

    let report = app.process(event).await;

    assert!(retried(&report).is_empty());
    assert_eq!(app.balance().await, 98);
    assert_eq!(app.balance_of(other.id).await, 99);
    assert_eq!(app.radars_of(other.id).await.len(), 1);
    assert_eq!(completions([&report]).len(), 2, "both bulks complete");
}

#[tokio::test]
async fn an_item_whose_transaction_keeps_meeting_others_comes_back_in_seconds() {
    let mut app = spawn_app().await;
    let seeded = app.submit(&[company("contended.com")]).await;
    // A real delivery, whose receipt handle the queue knows.
    let queue = &app.deps.config.item_queue_url;
    let sqs = &app.env.sqs;
    sqs.send_message()
        .queue_url(queue)
        .message_body(&seeded.messages[0])
        .send()
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut message = record(&seeded.messages[0], 0, 1);
    message.receipt_handle = received.messages()[0].receipt_handle().map(str::to_owned);
    app.deps.faults = processor::Faults::contend();

    let contended = app.process(event_of([message.clone()])).await;

    assert_eq!(retried(&contended), ["message-0"]);
    assert_eq!(contended.hurried, 1, "made visible again in seconds");
    assert_eq!(app.states(&seeded.bulk).await, [None]);
    assert!(app.radars().await.is_empty(), "nothing created");
    assert_eq!(
        app.balance().await,
        99,
        "nothing charged beyond the bulk's reserve"
    );

    // Any other transient failure waits for the queue's own visibility timeout.
    app.deps.faults = processor::Faults::crash_after(processor::Step::Creating);
    let failed = app.process(event_of([message])).await;
    assert_eq!(retried(&failed), ["message-0"]);
    assert_eq!(failed.hurried, 0);
}

#[tokio::test]
async fn events_are_queued_in_the_message_group_of_their_bulks_account() {
    let app = spawn_app().await;
    let other = app.env.account().await;
    let mine = app.submit(&[company("a.com")]).await;
    let theirs = app
        .submit_as(
            other.id,
            &[company("b.com")],
            BulkState::Accepted,
            chrono::Utc::now(),
        )
        .await;

    app.process(event_of([
        record(&mine.messages[0], 0, 1),
        record(&theirs.messages[0], 1, 1),
    ]))
    .await;

    // An item event and a bulk_completed for each bulk, each in its account's group.
    let queued = app.env.drain_grouped("WebhookQueue").await;
    assert_eq!(queued.len(), 4, "{queued:?}");
    for (group, body) in queued {
        let task: WebhookTask = serde_json::from_str(&body).unwrap();
        let account = if task.event.bulk_id() == mine.bulk.id {
            app.account.id
        } else {
            other.id
        };
        assert_eq!(task.account_id, Some(account));
        assert_eq!(group, Some(account.to_string()));
    }
}
