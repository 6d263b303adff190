//! docs/openapi.yaml against the implementation: schemathesis drives the local API with every
//! response-conformance check, and every kind of body of a real run (responses of every
//! endpoint, the three webhooks) is checked against the document's schemas.

use std::{path::Path, process::Command};

use devstack::receiver::Received;
use reqwest::Method;
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
/// - `use_after_free` expects a 404 from `GET /v1/radars/{radar_id}` after a `DELETE` of it;
///   that `DELETE` deactivates the radar, which stays readable as `inactive` (the spec's
///   answer, and the document's).
const EXCLUDED_CHECKS: &str = "unsupported_method,positive_data_acceptance,use_after_free";

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
        ("RADAR_WRITE_PER_MINUTE", "1000000"),
        ("RADAR_WRITE_PER_SECOND", "1000000"),
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
            // One worker: with two, the venv's Python 3.11 sometimes fails an `ast.parse` that
            // Hypothesis makes in both threads at once ("SystemError: AST constructor recursion
            // depth mismatch", see CPython gh-106905), and schemathesis reports an error.
            "--workers".into(),
            "1".into(),
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

/// The real run reads and creates single radars in quick succession: only the accounts that
/// override their limits are refused.
const REAL_RUN_LIMITS: [(&str, &str); 3] = [
    ("RADAR_READ_PER_SECOND", "1000"),
    ("RADAR_READ_PER_MINUTE", "1000"),
    ("RADAR_WRITE_PER_SECOND", "1000"),
];

#[tokio::test]
async fn every_kind_of_body_of_a_real_run_matches_the_document() {
    let api = LocalApi::start(&REAL_RUN_LIMITS).await;
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
    // Listed while the bulk is most likely still processing.
    let early_bulks = get(&api, &api.account.api_key, "/v1/radars/bulk").await;
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

    cases.extend(radar_resource_cases(&api, early_bulks).await);

    assert_match_the_document(&bulk_id, cases).await;
}

/// The schema the document gives the `status` answer of `method path`, where the operation
/// describes it in place (not through `#/components/responses`).
fn answer_schema(path: &str, method: &str, status: u16) -> String {
    let path = path.replace('~', "~0").replace('/', "~1");
    format!("#/paths/{path}/{method}/responses/{status}/content/application~1json/schema")
}

fn component(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

async fn get(api: &LocalApi, api_key: &str, path: &str) -> (u16, Value) {
    api.call_as(api_key, Method::GET, path, None).await
}

async fn delete(api: &LocalApi, api_key: &str, path: &str) -> (u16, Value) {
    api.call_as(api_key, Method::DELETE, path, None).await
}

/// `POST /v1/radars/{kind}` with `body`.
async fn create(api: &LocalApi, api_key: &str, kind: &str, body: &Value) -> (u16, Value) {
    let path = format!("/v1/radars/{kind}");
    api.call_as(api_key, Method::POST, &path, Some(body.to_string()))
        .await
}

/// `method path` until it is refused with a 429, at most three times: a limit of one a minute
/// and one a second refuses the second request unless a minute began between the two.
async fn until_refused(
    api: &LocalApi,
    api_key: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut answer = (0, Value::Null);
    for _ in 0..3 {
        answer = api
            .call_as(api_key, method.clone(), path, body.map(Value::to_string))
            .await;
        if answer.0 == 429 {
            break;
        }
    }
    answer
}

/// The status an answer should have, the schema the document gives it, and the status and
/// body the API answered.
type Answer = (u16, String, (u16, Value));

/// Every kind of answer of the radar resources (single creates, reads, deactivation, the
/// account, the list of bulks), as cases once each has its expected status. Run once the
/// bulks are complete, so that their radars are listed and single creates conflict with them.
async fn radar_resource_cases(api: &LocalApi, early_bulks: (u16, Value)) -> Vec<Value> {
    let (mut answers, company_id, industry_id) = single_creates(api).await;
    answers.extend(limited(api).await);
    answers.extend(reads(api, &company_id, &industry_id).await);
    answers.extend(pages(api, early_bulks).await);
    answers
        .into_iter()
        .map(|(expected, schema, (status, body))| {
            assert_eq!(status, expected, "{schema}: {body}");
            json!({"schema": schema, "body": body})
        })
        .collect()
}

/// A radar of each kind, created; the refusals of a single create but 402 and 429; and the
/// ids of the company and the industry radar.
async fn single_creates(api: &LocalApi) -> (Vec<Answer>, String, String) {
    let key = api.account.api_key.as_str();
    let created = |path: &str| answer_schema(path, "post", 201);
    let company = json!({
        "radar_type": "company_new_hires", "domain": "https://www.Single.example/team",
        "departments": ["Sales ", "Engineering"], "seniorities": ["VP"],
        "job_titles": "Head of  Sales", "webhook_url": api.webhook_url,
        "custom_fields": {"crm": "s-1"},
    });
    let contact = json!({
        "radar_type": "contact_social_posts", "profile_url": "https://linkedin.com/in/single",
        "email": "Single@Example.net", "full_name": "Single Person",
    });
    let industry = json!({
        "radar_type": "industry_job_openings", "keyword": "payments", "countries": ["US", "DE"],
    });
    let mut answers = vec![
        (
            201,
            created("/v1/radars/companies"),
            create(api, key, "companies", &company).await,
        ),
        (
            201,
            created("/v1/radars/contacts"),
            create(api, key, "contacts", &contact).await,
        ),
        (
            201,
            created("/v1/radars/industry"),
            create(api, key, "industry", &industry).await,
        ),
    ];
    let id = |at: usize| {
        answers[at].2.1["data"]["radar_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (company_id, industry_id) = (id(0), id(2));
    let other_kind =
        json!({"radar_type": "company_reviews", "domain": "acme.com", "webhook_url": "ftp://x"});
    answers.extend([
        (
            400,
            answer_schema("/v1/radars/industry", "post", 400),
            create(api, key, "industry", &other_kind).await,
        ),
        // The bulk's radars hold their identities against single creates.
        (
            409,
            answer_schema("/v1/radars/companies", "post", 409),
            create(
                api,
                key,
                "companies",
                &json!({"radar_type": "company_new_hires", "domain": "EXAMPLE.com"}),
            )
            .await,
        ),
        (
            409,
            answer_schema("/v1/radars/industry", "post", 409),
            create(
                api,
                key,
                "industry",
                &json!({"radar_type": "industry_funding_rounds"}),
            )
            .await,
        ),
        (
            401,
            component("Unauthorized"),
            create(api, "rbk_nobody", "companies", &company).await,
        ),
    ]);
    (answers, company_id, industry_id)
}

/// An account without credits, allowed one write and one read a minute (and a second): a
/// 402, then a 429 of each bucket.
async fn limited(api: &LocalApi) -> Vec<Answer> {
    let limits = LimitOverrides {
        write_per_minute: Some(1),
        write_per_second: Some(1),
        read_per_minute: Some(1),
        read_per_second: Some(1),
        ..LimitOverrides::default()
    };
    let limited = api.env.account_with(0, limits).await;
    let key = limited.api_key.as_str();
    let contact =
        json!({"radar_type": "contact_social_posts", "profile_url": "https://linkedin.com/in/x"});
    vec![
        (
            402,
            answer_schema("/v1/radars/contacts", "post", 402),
            create(api, key, "contacts", &contact).await,
        ),
        (
            429,
            component("RateLimited"),
            until_refused(
                api,
                key,
                Method::POST,
                "/v1/radars/contacts",
                Some(&contact),
            )
            .await,
        ),
        (
            200,
            answer_schema("/v1/account", "get", 200),
            get(api, key, "/v1/account").await,
        ),
        (
            429,
            component("RateLimited"),
            until_refused(api, key, Method::GET, "/v1/radars", None).await,
        ),
    ]
}

/// Reading and deactivating one radar, and the refusals of the read endpoints.
async fn reads(api: &LocalApi, company_id: &str, industry_id: &str) -> Vec<Answer> {
    let key = api.account.api_key.as_str();
    let bad_query = |path: &str| answer_schema(path, "get", 400);
    let radar = format!("/v1/radars/{company_id}");
    let deactivated = format!("/v1/radars/{industry_id}");
    let unknown = format!("/v1/radars/{}", uuid::Uuid::new_v4());
    vec![
        (
            401,
            component("Unauthorized"),
            get(api, "rbk_nobody", "/v1/radars").await,
        ),
        (
            404,
            component("RadarNotFound"),
            get(api, key, &unknown).await,
        ),
        (
            404,
            component("RadarNotFound"),
            delete(api, key, "/v1/radars/not-a-radar").await,
        ),
        (
            400,
            bad_query("/v1/radars"),
            get(api, key, "/v1/radars?radar_type=company_reviews,nope").await,
        ),
        (
            400,
            bad_query("/v1/radars"),
            get(api, key, "/v1/radars?cursor=zzz").await,
        ),
        (
            400,
            bad_query("/v1/account"),
            get(api, key, "/v1/account?month=2025-13").await,
        ),
        (
            400,
            bad_query("/v1/radars/bulk"),
            get(api, key, "/v1/radars/bulk?limit=1001").await,
        ),
        (
            200,
            answer_schema("/v1/radars/{radar_id}", "get", 200),
            get(api, key, &radar).await,
        ),
        (
            200,
            answer_schema("/v1/radars/{radar_id}", "delete", 200),
            delete(api, key, &deactivated).await,
        ),
        (
            200,
            answer_schema("/v1/radars/{radar_id}", "delete", 200),
            delete(api, key, &deactivated).await,
        ),
        (
            200,
            answer_schema("/v1/radars/{radar_id}", "get", 200),
            get(api, key, &deactivated).await,
        ),
    ]
}

/// Pages of radars (the bulk's among them) and of bulks, first and last, and the account.
async fn pages(api: &LocalApi, early_bulks: (u16, Value)) -> Vec<Answer> {
    let key = api.account.api_key.as_str();
    let listed = |path: &str| answer_schema(path, "get", 200);
    let first = get(api, key, "/v1/radars?limit=2").await;
    assert_eq!(first.1["has_more"], true, "{}", first.1);
    let cursor = first.1["next_cursor"].as_str().unwrap().to_owned();
    let first_bulks = get(api, key, "/v1/radars/bulk?limit=1").await;
    assert_eq!(first_bulks.1["has_more"], true, "{}", first_bulks.1);
    let bulks_cursor = first_bulks.1["next_cursor"].as_str().unwrap().to_owned();
    let filtered =
        "/v1/radars?radar_type=industry_job_openings,company_new_hires&radar_status=inactive";
    vec![
        (200, listed("/v1/radars"), first),
        (
            200,
            listed("/v1/radars"),
            get(api, key, &format!("/v1/radars?limit=1000&cursor={cursor}")).await,
        ),
        (200, listed("/v1/radars"), get(api, key, filtered).await),
        (200, listed("/v1/radars"), get(api, key, "/v1/radars").await),
        (200, listed("/v1/radars/bulk"), early_bulks),
        (200, listed("/v1/radars/bulk"), first_bulks),
        (
            200,
            listed("/v1/radars/bulk"),
            get(api, key, &format!("/v1/radars/bulk?cursor={bulks_cursor}")).await,
        ),
        (
            200,
            listed("/v1/account"),
            get(api, key, "/v1/account").await,
        ),
        (
            200,
            listed("/v1/account"),
            get(api, key, "/v1/account?month=2001-01").await,
        ),
    ]
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
