//! Least privilege, proven from observed calls (DESIGN.md, invariant 10).
//!
//! The five functions run as `make dev` runs them, each on AWS clients of its own that record
//! every permission a request needs (`test_support::CallRecorder`), and so do the event source
//! mappings, each on its function's clients, as Lambda's use the function's role. A workload
//! then takes every path a function has: created, invalid, conflicting and unpaid items, an
//! idempotent replay, polls found and not, an item that arrives before its bulk is accepted, an
//! item finalised from the dead-letter queue, webhooks delivered and webhooks given up and
//! parked. `infra/iam/policies.py` translates the template with SAM's own translator, and both
//! directions are held:
//!
//! - every call a function made is allowed by its role (action, resource, and the partition
//!   key's leading part where a statement has a `dynamodb:LeadingKeys` condition);
//! - every action, resource and leading key a role grants was used by its function, unless the
//!   template marks it `# rare: <the path that needs it>`.
//!
//! CloudWatch Logs permissions are the Lambda service's, not the functions' code's, and are
//! left out of both directions.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use devstack::{
    bridge,
    local::{self, Functions},
    receiver::{self, Received},
};
use provision::Template;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::{
    queue::{ItemMessage, Queue},
    rate_limit::LimitOverrides,
    store::bulks::{Bulk, BulkState},
    submission::SubmittedItem,
    webhook_url::WebhookUrl,
};
use test_support::{Call, CallRecorder, Metered, TestAccount, TestEnv, store_bulk};
use tokio::net::TcpListener;
use uuid::Uuid;

const FUNCTIONS: [&str; 5] = ["submit", "poll", "processor", "dispatcher", "radars"];

#[tokio::test]
async fn each_function_may_do_exactly_what_it_does() {
    let calls = run_every_path().await;
    let granted = granted();

    let mut problems = Vec::new();
    for function in FUNCTIONS {
        let role = &granted[function];
        let made = &calls[function];
        assert!(
            !made.is_empty(),
            "{function} made no call: the workload missed it"
        );
        for call in made.iter().filter(|call| !allowed(role, call)) {
            problems.push(format!(
                "{function} is denied {} on {}{}",
                call.action,
                call.resource,
                call.leading_key
                    .as_ref()
                    .map_or_else(String::new, |key| format!(" (key {key}#…)")),
            ));
        }
        problems.extend(unused(function, role, made));
    }
    assert!(
        problems.is_empty(),
        "the template's policies and the functions' calls disagree:\n{}\n\nwhat each made:\n{}",
        problems.join("\n"),
        listing(&calls)
    );
}

/// Runs the workload; every distinct call each function made, its resources by logical id.
async fn run_every_path() -> BTreeMap<&'static str, BTreeSet<Call>> {
    let env = TestEnv::new().await;
    let config = env.config_with(&[
        ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
        ("RADAR_WEBHOOK_RETRY_SCHEDULE", "1s,1s"),
        ("RADAR_WEBHOOK_TIMEOUT_SECONDS", "2"),
        // The dead endpoint's deliveries must be given up within the test: its circuit stays
        // closed, so each spends its short schedule (an open circuit holds them for hours).
        ("RADAR_WEBHOOK_CIRCUIT_FAILURES", "1000"),
    ]);
    let mut recorders = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for function in FUNCTIONS {
        let recorder = CallRecorder::default();
        let metered = Metered::recording(&recorder).await;
        recorders.insert(function, recorder);
        clients.insert(function, (metered.dynamodb, metered.sqs));
    }
    let functions = Arc::new(
        Functions::each(&config, |function| clients[function].clone()).expect("dependencies"),
    );
    // What each `main` does at init.
    for store in [
        &functions.submit.store,
        &functions.poll.store,
        &functions.processor.store,
        &functions.dispatcher.store,
        &functions.radars.store,
    ] {
        store.connect().await;
    }
    let (base, _serving) = local::serve_api_on_loopback(Arc::clone(&functions))
        .await
        .unwrap();
    let template = Template::load(&Template::default_path()).unwrap();
    let mappings: Vec<_> = FUNCTIONS
        .into_iter()
        .filter_map(|function| {
            let sources: Vec<_> = devstack::stack::sources(&template, &env.provisioned)
                .unwrap()
                .into_iter()
                .filter(|source| source.function == function)
                .collect();
            (!sources.is_empty()).then(|| {
                bridge::spawn(clients[function].1.clone(), sources, Arc::clone(&functions))
            })
        })
        .collect();

    let workload = Workload::start(&env, base).await;
    workload.take_every_path(&env).await;
    for mapping in mappings {
        mapping.abort();
    }

    let names = logical_ids(&env);
    recorders
        .into_iter()
        .map(|(function, recorder)| {
            let calls = recorder
                .calls()
                .into_iter()
                .map(|call| Call {
                    resource: logical(&names, &call.resource),
                    ..call
                })
                .collect();
            (function, calls)
        })
        .collect()
}

/// A resource's logical id; an index of a table as the template names it in a policy
/// (`${RadarTable.Arn}/index/by-account`).
fn logical(names: &BTreeMap<String, String>, resource: &str) -> String {
    match resource.split_once("/index/") {
        Some((table, index)) => match names.get(table) {
            Some(id) => format!("${{{id}.Arn}}/index/{index}"),
            None => resource.to_owned(),
        },
        None => names
            .get(resource)
            .cloned()
            .unwrap_or_else(|| resource.to_owned()),
    }
}

/// Resource names on the emulators, to their logical ids in the template.
fn logical_ids(env: &TestEnv) -> BTreeMap<String, String> {
    let tables = env
        .provisioned
        .tables
        .iter()
        .map(|(id, name)| (name.clone(), id.clone()));
    let queues = env.provisioned.queues.iter().map(|(id, queue)| {
        let name = queue.url.rsplit('/').next().unwrap_or_default().to_owned();
        (name, id.clone())
    });
    tables.chain(queues).collect()
}

/// The accounts, receivers and HTTP client of the workload.
struct Workload {
    base: String,
    client: reqwest::Client,
    rich: TestAccount,
    poor: TestAccount,
    /// Answers every webhook with 200.
    healthy: String,
    /// Nothing listens there: every attempt fails, and the dispatcher gives up and parks.
    dead: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Workload {
    async fn start(env: &TestEnv, base: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let healthy = format!("http://{}/hooks", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&received);
        tokio::spawn(receiver::serve(listener, None, move |r| {
            seen.lock().unwrap().push(r);
        }));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = format!("http://{}/hooks", closed.local_addr().unwrap());
        drop(closed);
        Self {
            base,
            client: reqwest::Client::new(),
            rich: env.account_with(1000, LimitOverrides::default()).await,
            poor: env.account_with(1, LimitOverrides::default()).await,
            healthy,
            dead,
            received,
        }
    }

    async fn take_every_path(&self, env: &TestEnv) {
        // Created, invalid and conflicting items, submitted with a key and replayed.
        let body = json!({"webhook_url": self.healthy, "radars": [
            {"radar_type": "company_job_openings", "domain": "policy.example"},
            {"radar_type": "company_job_openings", "domain": "Policy.example"},
            {"radar_type": "company_job_openings"},
            {"radar_type": "industry_funding_rounds"},
        ]});
        let key = [("idempotency-key", "policy-test")];
        let (status, accepted) = self.submit(&self.rich, &body, &key).await;
        assert_eq!(status, 202, "{accepted}");
        assert_eq!(self.submit(&self.rich, &body, &key).await.0, 202);
        let a = accepted["bulk_id"].as_str().unwrap().to_owned();

        // A balance that covers one of two: a 402; every webhook to a dead endpoint.
        let body = json!({"webhook_url": self.dead, "radars": [
            {"radar_type": "industry_new_companies"},
            {"radar_type": "company_reviews", "domain": "unpaid.example"},
        ]});
        let (status, accepted) = self.submit(&self.poor, &body, &[]).await;
        assert_eq!(status, 202, "{accepted}");

        // Polls: found, another account's, malformed.
        assert_eq!(self.poll(&self.rich, &a).await, 200);
        assert_eq!(self.poll(&self.poor, &a).await, 404);
        assert_eq!(self.poll(&self.rich, "not-a-uuid").await, 400);

        // An item that arrives while its bulk is still being submitted is deferred, and one
        // read from the dead-letter queue is finalised as a 500.
        let early = self.seed(env, BulkState::Submitting).await;
        self.queue(env, "ItemQueue", &early).await;
        let dead_lettered = self.seed(env, BulkState::Accepted).await;
        self.queue(env, "ItemDeadLetterQueue", &dead_lettered).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        env.store().accept_bulk(&early, 1).await.unwrap();

        let completed = [a, early.id.to_string(), dead_lettered.id.to_string()];
        // Two items and the bulk's summary, each given up after its tries.
        self.wait(env, &completed, 3).await;

        // The radar resources: a single create, its conflict and an unpaid one; the radar read,
        // listed and deactivated; the account's bulks and its usage.
        let company = json!({"radar_type": "company_reviews", "domain": "single.example"});
        let (status, created) = self
            .call(&self.rich, "POST", "/v1/radars/companies", Some(&company))
            .await;
        assert_eq!(status, 201, "{created}");
        let radar_id = created["data"]["radar_id"].as_str().unwrap().to_owned();
        let conflict = self
            .call(&self.rich, "POST", "/v1/radars/companies", Some(&company))
            .await;
        assert_eq!(conflict.0, 409, "{}", conflict.1);
        let unpaid = self
            .call(&self.poor, "POST", "/v1/radars/companies", Some(&company))
            .await;
        assert_eq!(unpaid.0, 402, "{}", unpaid.1);
        let radar = format!("/v1/radars/{radar_id}");
        for (method, path, status) in [
            ("GET", radar.as_str(), 200),
            ("GET", "/v1/radars?radar_status=active", 200),
            ("GET", "/v1/radars/bulk", 200),
            ("GET", "/v1/account", 200),
            ("DELETE", radar.as_str(), 200),
        ] {
            let (answered, body) = self.call(&self.rich, method, path, None).await;
            assert_eq!(answered, status, "{method} {path}: {body}");
        }
    }

    async fn call(
        &self,
        account: &TestAccount,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", &account.api_key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn submit(
        &self,
        account: &TestAccount,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/v1/radars/bulk", self.base))
            .header("x-api-key", &account.api_key)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn poll(&self, account: &TestAccount, bulk_id: &str) -> u16 {
        self.client
            .get(format!("{}/v1/radars/bulk/{bulk_id}", self.base))
            .header("x-api-key", &account.api_key)
            .send()
            .await
            .expect("the API answers")
            .status()
            .as_u16()
    }

    /// A one-item bulk of the rich account's, stored as submit stores it.
    async fn seed(&self, env: &TestEnv, state: BulkState) -> Bulk {
        let now = Utc::now();
        let bulk = Bulk {
            id: Uuid::new_v4(),
            account_id: self.rich.id,
            webhook_url: WebhookUrl::from_stored(&self.healthy).unwrap(),
            total: 1,
            state: BulkState::Submitting,
            created_at: now,
            expires_at: (now + chrono::Duration::days(1)).timestamp(),
            completion: None,
            funding: shared::store::bulks::Funding::Metered,
        };
        let item = SubmittedItem {
            index: 0,
            radar: serde_json::value::to_raw_value(&json!({
                "radar_type": "industry_mentions", "keyword": format!("kw{}", bulk.id.simple())
            }))
            .unwrap(),
            custom_fields: "{}".into(),
        };
        store_bulk(&env.store(), &bulk, &[item], state).await;
        bulk
    }

    /// Queues the first item of `bulk` on `queue`, with the test's own client.
    async fn queue(&self, env: &TestEnv, queue: &str, bulk: &Bulk) {
        let message = ItemMessage {
            bulk_id: bulk.id,
            item_index: 0,
            account_id: bulk.account_id,
            radar: serde_json::value::to_raw_value(&json!({
                "radar_type": "industry_mentions", "keyword": format!("kw{}", bulk.id.simple())
            }))
            .unwrap(),
        };
        Queue::new(env.sqs.clone(), &env.provisioned.queues[queue].url)
            .send_all(&[message])
            .await
            .unwrap();
    }

    /// Until every bulk of `completed` has its `bulk_completed` at the healthy receiver and
    /// `parked` deliveries wait on the webhook dead-letter queue.
    async fn wait(&self, env: &TestEnv, completed: &[String], parked: u64) {
        let url = &env.provisioned.queues["WebhookDeadLetterQueue"].url;
        let settled = async {
            loop {
                let done = {
                    let received = self.received.lock().unwrap();
                    completed.iter().all(|id| {
                        received.iter().any(|r| {
                            r.body["update_type"] == "bulk_completed" && r.body["bulk_id"] == *id
                        })
                    })
                };
                let waiting = env
                    .sqs
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .send()
                    .await
                    .ok()
                    .and_then(|answer| {
                        answer.attributes?[&QueueAttributeName::ApproximateNumberOfMessages]
                            .parse::<u64>()
                            .ok()
                    });
                if done && waiting == Some(parked) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(180), settled)
            .await
            .expect("every bulk completed and the dead endpoint's deliveries parked");
    }
}

/// One statement of a role, as `infra/iam/policies.py` prints it.
#[derive(Debug, Deserialize)]
struct Statement {
    actions: Vec<String>,
    resources: Vec<String>,
    leading_keys: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Role {
    binary: String,
    statements: Vec<Statement>,
    /// Actions and key patterns the template marks `# rare:`.
    rare: Vec<String>,
}

/// Each function's role, by binary name, from the template as SAM translates it.
fn granted() -> BTreeMap<String, Role> {
    let python = test_support::venv_tool("python");
    let output = Command::new(&python)
        .arg(test_support::repo_root().join("infra/iam/policies.py"))
        .arg(Template::default_path())
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", python.display()));
    assert!(
        output.status.success(),
        "policies.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let roles: BTreeMap<String, Role> = serde_json::from_slice(&output.stdout).unwrap();
    roles
        .into_values()
        .map(|role| (role.binary.clone(), role))
        .collect()
}

fn is_logs(action: &str) -> bool {
    action.starts_with("logs:")
}

/// Whether some statement of `role` allows `call`.
fn allowed(role: &Role, call: &Call) -> bool {
    role.statements.iter().any(|statement| {
        statement.actions.contains(&call.action)
            && statement
                .resources
                .iter()
                .any(|resource| resource == "*" || *resource == call.resource)
            && statement.leading_keys.as_ref().is_none_or(|patterns| {
                call.leading_key
                    .as_ref()
                    .is_some_and(|key| patterns.iter().any(|p| matches(p, key)))
            })
    })
}

/// `BULK#*` matches the leading part `BULK`; a pattern without `*` matches itself.
fn matches(pattern: &str, leading_key: &str) -> bool {
    match pattern.strip_suffix("#*") {
        Some(prefix) => prefix == leading_key,
        None => pattern == leading_key,
    }
}

/// What `role` grants that `function` never used and the template does not mark rare.
fn unused(function: &str, role: &Role, made: &BTreeSet<Call>) -> Vec<String> {
    let rare = |what: &str| role.rare.iter().any(|r| r == what);
    let mut problems = Vec::new();
    for statement in &role.statements {
        for action in statement.actions.iter().filter(|a| !is_logs(a) && !rare(a)) {
            for resource in &statement.resources {
                let used = made
                    .iter()
                    .any(|c| c.action == *action && (resource == "*" || c.resource == *resource));
                if !used {
                    problems.push(format!("{function} never uses {action} on {resource}"));
                }
            }
        }
        for pattern in statement.leading_keys.iter().flatten().filter(|p| !rare(p)) {
            let used = made.iter().any(|c| {
                statement.actions.contains(&c.action)
                    && c.leading_key
                        .as_ref()
                        .is_some_and(|key| matches(pattern, key))
            });
            if !used {
                problems.push(format!(
                    "{function} never uses the leading key {pattern} for {}",
                    statement.actions.join(", ")
                ));
            }
        }
    }
    problems
}

fn listing(calls: &BTreeMap<&str, BTreeSet<Call>>) -> String {
    let mut text = String::new();
    for (function, made) in calls {
        for call in made {
            let _ = writeln!(
                text,
                "  {function}: {} {} {}",
                call.action,
                call.resource,
                call.leading_key.as_deref().unwrap_or("")
            );
        }
    }
    text
}
