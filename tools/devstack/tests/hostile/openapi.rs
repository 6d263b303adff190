//! docs/openapi.yaml against the implementation: schemathesis drives the local API with every
//! response-conformance check, and every kind of body of a real run (responses of both
//! endpoints, the three webhooks) is checked against the document's schemas.

use std::{path::Path, process::Command};

use devstack::receiver::Received;
use serde_json::{Value, json};
use shared::rate_limit::LimitOverrides;

use crate::local::{LocalApi, root, venv_tool};

fn document() -> String {
    root().join("docs/openapi.yaml").display().to_string()
}

/// The checks the run leaves out, and why:
/// - `unsupported_method` expects a 405 for a method a path does not document; API Gateway
///   answers an unrouted method with its own 404 `{"message":"Not Found"}`, and so do we.
/// - `positive_data_acceptance` expects a 2xx for every body the schema allows; the schema
///   cannot say that a `webhook_url` must be `https://` to a public host, so a schema-valid
///   `"webhook_url": "0"` is rightly a 400.
const EXCLUDED_CHECKS: &str = "unsupported_method,positive_data_acceptance";

/// Runs `program` with `args` off the async runtime; its exit status and its output.
async fn run(program: &Path, args: Vec<String>) -> (bool, String) {
    let program = program.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            // schemathesis keeps a cache in its working directory: keep it out of the tree.
            .current_dir(std::env::temp_dir())
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not start ({e}): run infra/local/install.sh",
                    program.display()
                )
            })
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_api_as_the_openapi_document_describes_it() {
    // Limits high enough that generated requests reach the handlers instead of the 429.
    let api = LocalApi::start(&[
        ("RADAR_BULK_PER_MINUTE", "1000000"),
        ("RADAR_READ_PER_MINUTE", "1000000"),
        ("RADAR_READ_PER_SECOND", "1000000"),
    ])
    .await;

    let (passed, output) = run(
        &venv_tool("schemathesis"),
        vec![
            "run".into(),
            document(),
            "--url".into(),
            api.base.clone(),
            "--header".into(),
            format!("x-api-key: {}", api.account.api_key),
            "--checks".into(),
            "all".into(),
            "--exclude-checks".into(),
            EXCLUDED_CHECKS.into(),
            "--max-examples".into(),
            "40".into(),
            "--seed".into(),
            "20261124".into(),
            "--workers".into(),
            "2".into(),
            "--max-time".into(),
            "60".into(),
            "--request-timeout".into(),
            "20".into(),
        ],
    )
    .await;

    println!("{output}");
    assert!(
        passed,
        "schemathesis found the API unlike its document:\n{output}"
    );
}

#[tokio::test]
async fn every_kind_of_body_of_a_real_run_matches_the_document() {
    let api = LocalApi::start(&[]).await;
    let body = json!({
        "webhook_url": api.webhook_url,
        "radars": [
            {"radar_type": "company_new_hires", "domain": "https://www.Example.com/about",
             "departments": ["Sales"], "custom_fields": {"crm": "a-1", "n": 1.5}},
            {"radar_type": "contact_job_changes", "domain": "example.org",
             "email": "Jane@Example.org", "profile_url": "https://linkedin.com/in/jane",
             "full_name": "Jane Doe"},
            {"radar_type": "industry_mentions", "keyword": "fintech"},
            {"radar_type": "industry_funding_rounds"},
            {"radar_type": "company_job_openings", "domain": "not a domain", "keyword": 7},
            {"radar_type": "company_new_hires", "domain": "example.com"},
            {"radar_type": "no_such_type"},
        ],
    });
    let (status, accepted) = api.submit(body.to_string()).await;
    assert_eq!(status, 202, "{accepted}");
    let bulk_id = accepted["bulk_id"].as_str().unwrap().to_owned();
    let (_, early_poll) = api.poll_as(&api.account.api_key, &bulk_id).await;
    // A second account without credits, allowed one bulk a minute: its items end as 402s,
    // and its second submission is a 429.
    let limits = LimitOverrides {
        bulk_per_minute: Some(1),
        ..LimitOverrides::default()
    };
    let broke = api.env.account_with(0, limits).await;
    let body = json!({"webhook_url": api.webhook_url, "radars": [{"radar_type": "industry_new_companies"}]});
    let (status, second) = api.submit_as(&broke.api_key, body.to_string(), &[]).await;
    assert_eq!(status, 202, "{second}");
    let broke_bulk = second["bulk_id"].as_str().unwrap().to_owned();
    let key = [("idempotency-key", "openapi-check")];
    let replayed = |domain: &str| {
        let body = json!({"webhook_url": api.webhook_url, "radars": [{"radar_type": "company_reviews", "domain": domain}]});
        api.submit_as(&api.account.api_key, body.to_string(), &key)
    };
    let errors = [
        (
            429,
            "RateLimited",
            api.submit_as(&broke.api_key, body.to_string(), &[]).await,
        ),
        (
            401,
            "Unauthorized",
            api.submit_as("rbk_nobody", "{}", &[]).await,
        ),
        (
            400,
            "InvalidRequestBody",
            api.submit("{\"radars\": 7}").await,
        ),
        (
            404,
            "BulkNotFound",
            api.poll_as(&broke.api_key, &bulk_id).await,
        ),
        (
            400,
            "InvalidPathParameter",
            api.poll_as(&broke.api_key, "bulk").await,
        ),
        (202, "BulkAccepted", replayed("first.example").await),
        (202, "BulkAccepted", replayed("first.example").await),
        (
            422,
            "IdempotencyKeyReused",
            replayed("second.example").await,
        ),
    ];

    api.deliveries_until_completed(&broke_bulk).await;
    let received = api.deliveries_until_completed(&bulk_id).await;
    let (status, polled) = api.poll_as(&api.account.api_key, &bulk_id).await;
    assert_eq!(status, 200);

    let mut cases = vec![
        json!({"schema": "#/components/schemas/BulkAccepted", "body": accepted}),
        json!({"schema": "#/components/schemas/BulkStatus", "body": early_poll}),
        json!({"schema": "#/components/schemas/BulkStatus", "body": polled}),
    ];
    for (expected, schema, (status, body)) in errors {
        assert_eq!(status, expected, "{body}");
        cases.push(json!({"schema": format!("#/components/schemas/{schema}"), "body": body}));
    }
    // Only the deliveries of the two bulks (the idempotent one may still be on its way).
    let received: Vec<_> = received
        .into_iter()
        .filter(|r| {
            r.body["bulk_id"] == bulk_id.as_str() || r.body["bulk_id"] == broke_bulk.as_str()
        })
        .collect();
    let (webhooks, mut codes) = webhook_cases(&received);
    cases.extend(webhooks);
    codes.sort_unstable();
    assert_eq!(
        codes,
        [400, 400, 402, 409],
        "every failure code but 500 is exercised"
    );
    assert_eq!(received.len(), 7 + 1 + 2);

    assert_match_the_document(&bulk_id, cases).await;
}

/// A case for each delivery against its event's `webhooks` schema, and the code of each
/// `radar_failure`.
fn webhook_cases(received: &[Received]) -> (Vec<Value>, Vec<u64>) {
    let mut codes = Vec::new();
    let mut cases = Vec::new();
    for delivery in received {
        let kind = delivery.body["update_type"]
            .as_str()
            .expect("an update_type");
        if kind == "radar_failure" {
            codes.push(delivery.body["code"].as_u64().unwrap());
        }
        cases.push(json!({
            "schema": format!("#/webhooks/{kind}/post/requestBody/content/application~1json/schema"),
            "body": delivery.body,
        }));
    }
    (cases, codes)
}

/// Checks each `{schema, body}` case with validate.py, which reads the document's schemas.
async fn assert_match_the_document(name: &str, cases: Vec<Value>) {
    let cases_file = std::env::temp_dir().join(format!("radar-bulk-bodies-{name}.json"));
    std::fs::write(&cases_file, Value::from(cases).to_string()).unwrap();
    let validator = root().join("tools/devstack/tests/hostile/validate.py");
    let (passed, output) = run(
        &venv_tool("python"),
        vec![
            validator.display().to_string(),
            document(),
            cases_file.display().to_string(),
        ],
    )
    .await;
    std::fs::remove_file(&cases_file).ok();
    assert!(passed, "bodies unlike the document:\n{output}");
}
