//! The wire types against the spec's own examples, compared as text so that field order counts.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::*;

/// A spec example with its white space outside strings removed.
fn compact(example: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in example.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn submit_accepted_is_the_spec_example() {
    let bulk_id: Uuid = "5f9da22e-4778-427c-b7e4-dab2a8d9d709".parse().unwrap();
    let accepted = SubmitAccepted::new(bulk_id, 2, at("2026-05-25T11:17:12Z"));
    assert_eq!(
        serde_json::to_string(&accepted).unwrap(),
        compact(
            r#"{
  "status": "success",
  "code": 202,
  "message": "Bulk submission accepted - 2 radars queued for processing. Poll GET /v1/radars/bulk/5f9da22e-4778-427c-b7e4-dab2a8d9d709 for status or wait for the bulk_completed webhook.",
  "bulk_id": "5f9da22e-4778-427c-b7e4-dab2a8d9d709",
  "summary": {
    "total": 2
  },
  "timestamp": "2026-05-25T11:17:12Z"
}"#
        )
    );
}

#[test]
fn radar_failure_round_trips_the_spec_example() {
    let example = compact(
        r#"{
  "update_id": "a1b2c3d4-0001-4000-b000-000000000001",
  "update_type": "radar_failure",
  "completed_at": "2026-05-25T11:17:26Z",
  "discovered_at": "2026-05-25T11:17:26Z",
  "bulk_id": "5f9da22e-4778-427c-b7e4-dab2a8d9d709",
  "item_index": 1,
  "custom_fields": { "segment": "fintech" },
  "status": "error",
  "code": 409,
  "message": "Conflict: Radar already exists",
  "errors": [
    {
      "field": "domain",
      "reason": "A radar with this domain and type already exists for your account. Conflicting radar_id: 3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0. You can view it using GET /radars/{radar_id}",
      "conflicting_radar_id": "3f1d8e8a-39c4-47e8-a4b4-f7db6a2e50f0"
    }
  ],
  "timestamp": "2026-05-25T11:17:26Z",
  "error_id": "45ed35e5-986c-4496-afd8-9a84f6baa410"
}"#,
    );
    let failure: RadarFailure = serde_json::from_str(&example).unwrap();
    assert_eq!(failure.update_type, UpdateType::RadarFailure);
    assert_eq!(serde_json::to_string(&failure).unwrap(), example);
}

#[test]
fn radar_created_keeps_the_spec_field_order() {
    let created = RadarCreated {
        update_id: "efbf7c77-c1ae-4a0d-85b6-116674e9e0b1".parse().unwrap(),
        update_type: UpdateType::RadarCreated,
        completed_at: "2026-05-25T11:17:20Z".into(),
        bulk_id: "5f9da22e-4778-427c-b7e4-dab2a8d9d709".parse().unwrap(),
        item_index: 0,
        custom_fields: serde_json::json!({"crm_account_id": "acc_001"}),
        status: Status::Success,
        data: RadarData {
            radar_id: "2ffb1a07-ac95-4a6d-bc34-39f479f1c856".parse().unwrap(),
            radar_type: "company_job_openings".into(),
            domain: Some("stripe.com".into()),
            radar_status: "active".into(),
            created_at: "2026-05-25T11:17:20Z".into(),
            custom_fields: serde_json::json!({"crm_account_id": "acc_001"}),
            kind: KindFields::default(),
        },
    };
    let text = serde_json::to_string(&created).unwrap();
    assert!(text.starts_with(&compact(
        r#"{"update_id":"efbf7c77-c1ae-4a0d-85b6-116674e9e0b1","update_type":"radar_created",
            "completed_at":"2026-05-25T11:17:20Z","bulk_id":"5f9da22e-4778-427c-b7e4-dab2a8d9d709",
            "item_index":0,"custom_fields":{"crm_account_id":"acc_001"},"status":"success",
            "data":{"radar_id":"2ffb1a07-ac95-4a6d-bc34-39f479f1c856","radar_type":"company_job_openings",
            "domain":"stripe.com","radar_status":"active""#
    )));
    let industry = RadarData {
        domain: None,
        kind: KindFields {
            keyword: Some("fintech".into()),
            ..KindFields::default()
        },
        ..created.data
    };
    let data = serde_json::to_value(&industry).unwrap();
    assert!(
        data["domain"].is_null(),
        "industry radars carry domain: null"
    );
    assert_eq!(data["keyword"], "fintech");
    assert!(data.get("email").is_none());
}

#[test]
fn poll_processing_round_trips_the_spec_example() {
    let example = compact(
        r#"{
  "status": "processing",
  "code": 200,
  "timestamp": "2026-05-25T12:19:17Z",
  "message": "Bulk submission is being processed",
  "bulk_id": "5d089cd9-239d-4de4-af1d-8d19da889d00",
  "summary": { "total": 3, "processing": 3, "created": 0, "failed": 0 },
  "radars": [
    { "item_index": 0, "status": "processing", "custom_fields": {} },
    { "item_index": 1, "status": "processing", "custom_fields": {} },
    { "item_index": 2, "status": "processing", "custom_fields": {} }
  ]
}"#,
    );
    let poll: PollResponse = serde_json::from_str(&example).unwrap();
    assert!(
        poll.radars
            .iter()
            .all(|entry| matches!(entry, PollEntry::InFlight(_)))
    );
    assert_eq!(serde_json::to_string(&poll).unwrap(), example);
}

#[test]
fn terminal_poll_entries_and_bulk_completed_carry_stored_events_byte_for_byte() {
    let stored = r#"{"update_id":"a1b2c3d4-0001-4000-b000-000000000001","item_index":0,"status":"error","code":409}"#;
    let poll: PollEntry = serde_json::from_str(stored).unwrap();
    assert!(matches!(&poll, PollEntry::Terminal(raw) if raw.get() == stored));

    let completed = BulkCompleted {
        update_id: Uuid::nil(),
        update_type: UpdateType::BulkCompleted,
        bulk_id: Uuid::nil(),
        completed_at: "2026-05-25T11:17:33Z".into(),
        summary: CompletedSummary {
            total: 1,
            created: 0,
            failed: 1,
        },
        radars: vec![RawValue::from_string(stored.to_owned()).unwrap()],
    };
    let text = serde_json::to_string(&completed).unwrap();
    assert!(text.ends_with(&format!(
        r#""summary":{{"total":1,"created":0,"failed":1}},"radars":[{stored}]}}"#
    )));
}

#[test]
fn error_bodies_follow_the_spec_envelope_order() {
    let body = ErrorBody {
        status: Status::Error,
        code: 429,
        message: "Rate limit exceeded — wait and retry.".into(),
        errors: vec![FieldError::new("rate_limit", "minute")],
        timestamp: "2026-05-25T11:18:44Z".into(),
        error_id: "29a4ff58-f4a8-4ebe-8b2d-1544ee43a99c".parse().unwrap(),
    };
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        compact(
            r#"{
  "status": "error",
  "code": 429,
  "message": "Rate limit exceeded — wait and retry.",
  "errors": [ { "field": "rate_limit", "reason": "minute" } ],
  "timestamp": "2026-05-25T11:18:44Z",
  "error_id": "29a4ff58-f4a8-4ebe-8b2d-1544ee43a99c"
}"#
        )
    );
}

#[test]
fn the_spec_request_example_is_a_submit_request() {
    let request: SubmitRequest = serde_json::from_str(
        r#"{
  "webhook_url": "https://your-domain.com/webhooks/tamradar",
  "radars": [
    { "radar_type": "company_job_openings", "domain": "stripe.com",
      "custom_fields": { "crm_account_id": "acc_001" } },
    { "radar_type": "contact_job_changes", "domain": "openai.com",
      "profile_url": "https://www.linkedin.com/in/example", "custom_fields": { "owner": "sdr_team" } }
  ]
}"#,
    )
    .unwrap();
    assert_eq!(request.radars.len(), 2);
    assert_eq!(
        request.radars[1]["profile_url"],
        "https://www.linkedin.com/in/example"
    );
}
