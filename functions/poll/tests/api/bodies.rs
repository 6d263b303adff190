use serde_json::{Value, json};
use shared::clock;
use test_support::response_json;

use crate::helpers::{body_text, conflict, created, empty_fields, header, spawn_app};

#[tokio::test]
async fn a_bulk_with_every_item_in_flight_answers_the_spec_processing_example() {
    // Arrange
    let app = spawn_app().await;
    let bulk_id = app.accepted_bulk(app.account.id, &empty_fields(3)).await;

    // Act
    let response = app.poll(bulk_id).await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let in_flight =
        |i: u32| format!(r#"{{"item_index":{i},"status":"processing","custom_fields":{{}}}}"#);
    assert_eq!(
        body_text(&response),
        format!(
            r#"{{"status":"processing","code":200,"timestamp":"{}","message":"Bulk submission is being processed","bulk_id":"{bulk_id}","summary":{{"total":3,"processing":3,"created":0,"failed":0}},"radars":[{},{},{}]}}"#,
            clock::rfc3339(app.now),
            in_flight(0),
            in_flight(1),
            in_flight(2),
        ),
        "the spec's field order, so that customers' diffs stay quiet"
    );
}

#[tokio::test]
async fn a_finished_bulk_answers_completed_with_each_stored_event_byte_for_byte() {
    // Arrange
    let app = spawn_app().await;
    let fields = [
        json!({"crm_account_id": "acc_001"}),
        json!({}),
        json!({"owner": "sdr_team"}),
    ];
    let bulk_id = app.accepted_bulk(app.account.id, &fields).await;
    let mut events = Vec::new();
    for (index, event) in [
        conflict(bulk_id, 0, &fields[0]),
        conflict(bulk_id, 1, &fields[1]),
        created(bulk_id, 2, &fields[2]),
    ]
    .into_iter()
    .enumerate()
    .rev()
    {
        events.push((index, app.finish(bulk_id, event).await));
    }
    events.sort();

    // Act
    let response = app.poll(bulk_id).await;

    // Assert
    assert_eq!(response.status(), 200);
    let text = body_text(&response);
    let stored: Vec<&str> = events.iter().map(|(_, event)| event.as_str()).collect();
    assert_eq!(
        text,
        format!(
            r#"{{"status":"completed","code":200,"timestamp":"{}","message":"Bulk submission completed","bulk_id":"{bulk_id}","summary":{{"total":3,"processing":0,"created":1,"failed":2}},"radars":[{}]}}"#,
            clock::rfc3339(app.now),
            stored.join(","),
        )
    );
    let (_, body) = response_json(&response);
    assert_eq!(body["radars"][0]["code"], 409);
    assert_eq!(body["radars"][0]["custom_fields"], fields[0]);
    assert_eq!(body["radars"][2]["data"]["radar_status"], "active");
}

#[tokio::test]
async fn a_half_done_bulk_mixes_in_flight_entries_and_events_in_item_order() {
    // Arrange: items 0, 2 and 4 are terminal, 1, 3 and 5 still in flight.
    let app = spawn_app().await;
    let fields: Vec<Value> = (0..6).map(|row| json!({"row": row})).collect();
    let bulk_id = app.accepted_bulk(app.account.id, &fields).await;
    let first = app.finish(bulk_id, created(bulk_id, 0, &fields[0])).await;
    let third = app.finish(bulk_id, conflict(bulk_id, 2, &fields[2])).await;
    let fifth = app.finish(bulk_id, created(bulk_id, 4, &fields[4])).await;

    // Act
    let response = app.poll(bulk_id).await;

    // Assert
    let (status, body) = response_json(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "processing");
    assert_eq!(body["message"], "Bulk submission is being processed");
    assert_eq!(
        body["summary"],
        json!({"total": 6, "processing": 3, "created": 2, "failed": 1})
    );
    let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let in_flight =
        |i: usize| json!({"item_index": i, "status": "processing", "custom_fields": fields[i]});
    assert_eq!(
        body["radars"],
        json!([
            parsed(&first),
            in_flight(1),
            parsed(&third),
            in_flight(3),
            parsed(&fifth),
            in_flight(5),
        ])
    );
    let text = body_text(&response);
    for event in [&first, &third, &fifth] {
        assert!(text.contains(event.as_str()), "served as stored: {event}");
    }
}

#[tokio::test]
async fn a_poll_right_after_the_last_item_ends_says_completed() {
    // Arrange: one item left, as when the processor is about to send bulk_completed.
    let app = spawn_app().await;
    let fields = empty_fields(2);
    let bulk_id = app.accepted_bulk(app.account.id, &fields).await;
    app.finish(bulk_id, created(bulk_id, 0, &fields[0])).await;
    let (_, before) = response_json(&app.poll(bulk_id).await);
    app.finish(bulk_id, conflict(bulk_id, 1, &fields[1])).await;

    // Act: at once, with no pause for replication.
    let (status, after) = response_json(&app.poll(bulk_id).await);

    // Assert
    assert_eq!(before["status"], "processing");
    assert_eq!(status, 200);
    assert_eq!(after["status"], "completed");
    assert_eq!(after["message"], "Bulk submission completed");
    assert_eq!(
        after["summary"],
        json!({"total": 2, "processing": 0, "created": 1, "failed": 1})
    );
    assert_eq!(after["radars"][1]["update_type"], "radar_failure");
}
