//! The real `make dev` path, end to end: `infra/local/dev.sh` (cargo-lambda, devstack's event
//! source mapping and receiver) on the emulators that `make test` started. The spec's two-item
//! example goes in over HTTP; both item events and `bulk_completed` must reach a receiver of
//! this test's own, and a poll must say `completed`. Then the README's quick start around it:
//! a single create's 409 followed to the radar, the balance, the lost `bulk_id` found again,
//! and the sample CSV submitted with the `radar` client, followed to its results file.

use std::{
    collections::HashMap,
    net::TcpListener as StdListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use devstack::receiver::{self, Received};
use provision::Template;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Generous: the first run installs cargo-lambda and builds the functions.
const PATIENCE: Duration = Duration::from_secs(600);

/// `dev.sh` in a process group of its own, interrupted (as Ctrl-C would) when dropped, and what
/// it wrote to its `dev.env`.
struct DevStack {
    child: Child,
    out: PathBuf,
    api_port: u16,
    api_key: String,
    secret: String,
    started: Instant,
}

impl DevStack {
    /// Starts `dev.sh` on free ports, in a directory of its own, and waits for its `dev.env`.
    async fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::env::temp_dir().join(format!("radar-e2e-{}", uuid::Uuid::new_v4().simple()));
        let (api_port, devstack_receiver_port) = (free_port(), free_port());
        let child = Command::new(root.join("infra/local/dev.sh"))
            .env("RADAR_API_PORT", api_port.to_string())
            .env("RADAR_RECEIVER_PORT", devstack_receiver_port.to_string())
            .env("RADAR_DEV_DIR", &out)
            .env("RADAR_DEV_PREFIX", format!("e2e{api_port}"))
            .process_group(0)
            .spawn()
            .expect("infra/local/dev.sh starts");
        let started = Instant::now();
        let dev_env = out.join("dev.env");
        let secret = loop {
            if let Some(secret) = read_env(&dev_env, "RADAR_DEV_WEBHOOK_SECRET") {
                break secret;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "dev.sh never wrote {}",
                dev_env.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let api_key = read_env(&dev_env, "RADAR_DEV_API_KEY").expect("the dev account's key");
        Self {
            child,
            out,
            api_port,
            api_key,
            secret,
            started,
        }
    }

    fn bulks(&self) -> String {
        format!("http://127.0.0.1:{}/v1/radars/bulk", self.api_port)
    }

    fn dev_env(&self, name: &str) -> Option<String> {
        read_env(&self.out.join("dev.env"), name)
    }
}

impl Drop for DevStack {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-INT", "--", &group]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.out);
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn read_env(path: &PathBuf, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("export {name}=")))
        .map(|value| value.trim_matches('\'').to_owned())
}

/// A receiver of this test's own, on a free port: its URL and what it has received so far.
async fn receiver(secret: &str) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = Arc::clone(&received);
    let secret = secret.to_owned();
    tokio::spawn(async move {
        receiver::serve(listener, Some(&secret), move |r| {
            seen.lock().unwrap().push(r);
        })
        .await
    });
    (webhook_url, received)
}

#[tokio::test]
async fn the_specs_example_goes_through_make_dev_to_a_webhook_receiver_and_a_poll() {
    let stack = DevStack::start().await;
    let (webhook_url, received) = receiver(&stack.secret).await;

    let client = reqwest::Client::new();
    let body = json!({
        "webhook_url": webhook_url,
        "radars": [
            {"radar_type": "company_job_openings", "domain": "stripe.com",
             "custom_fields": {"crm_account_id": "acc_001"}},
            {"radar_type": "industry_funding_rounds", "custom_fields": {"segment": "fintech"}}
        ]
    });
    let accepted = submit(&client, &stack, &body).await;
    let bulk_id = accepted["bulk_id"].as_str().unwrap().to_owned();

    let events = until_completed(&received, stack.started).await;
    let poll = client
        .get(format!("{}/{bulk_id}", stack.bulks()))
        .header("x-api-key", &stack.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let poll: Value = serde_json::from_str(&poll).unwrap();
    let resources = around_the_bulk(&client, &stack).await;
    let (sample, results) = the_sample_through_the_client(&stack, &webhook_url).await;
    let concurrency = stack.dev_env("RADAR_DEV_CONCURRENCY");
    let watch = watch_command_line(stack.api_port);
    drop(stack);

    assert!(
        events.iter().all(|e| e.verified),
        "every delivery is signed"
    );
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.body["update_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(kinds[2], "bulk_completed", "the summary comes last");
    let mut items: Vec<&Value> = events[..2].iter().map(|e| &e.body).collect();
    items.sort_by_key(|e| e["item_index"].as_u64());
    assert_eq!(items[0]["data"]["domain"], "stripe.com");
    assert_eq!(items[1]["custom_fields"], json!({"segment": "fintech"}));
    let completed = &events[2].body;
    assert_eq!(
        completed["summary"],
        json!({"total": 2, "created": 2, "failed": 0})
    );
    assert_eq!(completed["radars"][0], *items[0]);
    assert_eq!(poll["status"], "completed");
    assert_eq!(poll["radars"], completed["radars"]);
    let bulk_radar = items[0]["data"]["radar_id"].as_str().unwrap();
    resources.assert_about(bulk_radar, &bulk_id);
    // The sample's 36 rows: two are 400s (not a domain; a contact with nothing to find them
    // by), and three 409s: its two rows for Stripe's job openings and its funding rounds meet
    // the radars the example created.
    assert!(
        sample.contains("1 bulk(s), 36 items: 31 created, 5 failed (2 × 400, 3 × 409)"),
        "{sample}"
    );
    assert_eq!(results.lines().count(), 37, "a header and a row per item");
    // As many instances of a function as the template lets its queues invoke at once.
    let expected = busiest_functions_concurrency().to_string();
    assert_eq!(concurrency.as_deref(), Some(expected.as_str()));
    let watch = watch.expect("cargo lambda watch was running");
    assert!(
        watch
            .windows(2)
            .any(|w| w == ["--concurrency", expected.as_str()]),
        "{watch:?}"
    );
}

/// The README's client quick start against `make dev`: `radar bulk submit` of the sample CSV
/// with `--wait --results`. What it printed, and the results file.
async fn the_sample_through_the_client(stack: &DevStack, webhook_url: &str) -> (String, String) {
    use clap::Parser;

    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../clients/radar/samples/radars.csv"
    );
    let results = stack.out.join("results.csv");
    let api = format!("http://127.0.0.1:{}", stack.api_port);
    let cli = radar::Cli::try_parse_from([
        "radar",
        "--api",
        &api,
        "--api-key",
        &stack.api_key,
        "bulk",
        "submit",
        sample,
        "--webhook-url",
        webhook_url,
        "--wait",
        "--results",
        results.to_str().unwrap(),
    ])
    .unwrap();
    let printed = test_support::Printed::default();
    let answer = radar::run(cli, &radar::Output::plain(printed.clone())).await;
    let printed = printed.text();
    assert!(answer.is_ok(), "{answer:?}\n{printed}");
    (printed, std::fs::read_to_string(results).unwrap())
}

/// What the resources around a bulk answered through `make dev`.
struct Resources {
    /// The single create of the bulk's first target: its status and body.
    conflict: (u16, Value),
    /// `GET /v1/radars/{conflicting_radar_id}`.
    radar: (u16, Value),
    account: (u16, Value),
    bulks: (u16, Value),
    deactivated: (u16, Value),
    /// The same single create once the conflicting radar is deactivated.
    recreated: (u16, Value),
}

impl Resources {
    fn assert_about(&self, bulk_radar: &str, bulk_id: &str) {
        let (status, conflict) = &self.conflict;
        assert_eq!(*status, 409, "{conflict}");
        assert_eq!(conflict["errors"][0]["conflicting_radar_id"], bulk_radar);
        let (status, radar) = &self.radar;
        assert_eq!(*status, 200, "{radar}");
        assert_eq!(radar["data"]["radar_id"], bulk_radar);
        assert_eq!(radar["data"]["domain"], "stripe.com");
        let (status, account) = &self.account;
        assert_eq!(*status, 200, "{account}");
        assert_eq!(
            account["data"]["radars"]["active"], 2,
            "the bulk's two radars"
        );
        assert!(account["data"]["balance"].is_i64(), "{account}");
        let (status, bulks) = &self.bulks;
        assert_eq!(*status, 200, "{bulks}");
        assert_eq!(bulks["data"][0]["bulk_id"], bulk_id);
        assert_eq!(bulks["data"][0]["status"], "completed");
        let (status, deactivated) = &self.deactivated;
        assert_eq!(*status, 200, "{deactivated}");
        assert_eq!(deactivated["data"]["radar_status"], "inactive");
        let (status, recreated) = &self.recreated;
        assert_eq!(*status, 201, "{recreated}");
        assert_ne!(recreated["data"]["radar_id"], bulk_radar);
    }
}

/// The quick start's steps after a bulk, over HTTP through cargo-lambda's router.
async fn around_the_bulk(client: &reqwest::Client, stack: &DevStack) -> Resources {
    let base = format!("http://127.0.0.1:{}", stack.api_port);
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .header("x-api-key", &stack.api_key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        async move {
            let response = request.send().await.expect("the API answers");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    let stripe = json!({"radar_type": "company_job_openings", "domain": "stripe.com"});
    let conflict = call(
        reqwest::Method::POST,
        "/v1/radars/companies".into(),
        Some(stripe.clone()),
    )
    .await;
    let radar_id = conflict.1["errors"][0]["conflicting_radar_id"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let radar = call(reqwest::Method::GET, format!("/v1/radars/{radar_id}"), None).await;
    let account = call(reqwest::Method::GET, "/v1/account".into(), None).await;
    let bulks = call(reqwest::Method::GET, "/v1/radars/bulk?limit=1".into(), None).await;
    let deactivated = call(
        reqwest::Method::DELETE,
        format!("/v1/radars/{radar_id}"),
        None,
    )
    .await;
    let recreated = call(
        reqwest::Method::POST,
        "/v1/radars/companies".into(),
        Some(stripe),
    )
    .await;
    Resources {
        conflict,
        radar,
        account,
        bulks,
        deactivated,
        recreated,
    }
}

/// cargo-lambda 1.9.2 answers a function's `POST .../invocation/{id}/response` before reading
/// its body. When the last of that body is read after the answer (likely past hyper's first 8 KB
/// read), hyper ends the body only when the next request comes on that connection, and if the
/// function's runtime client closes the connection instead, hyper (1.10 and later) fails the
/// fully received body with "connection closed before message completed": cargo-lambda then
/// answers the caller with its own 500 (`{"type":"https://httpstatuses.com/500",...}`) although
/// the function answered 200. That is one to five in a hundred polls of a bulk of more than
/// about 20 items. Run it with `--ignored` after changing cargo-lambda.
#[tokio::test]
#[ignore = "cargo-lambda 1.9.2 answers some polls of a large bulk with its own 500"]
async fn every_poll_of_a_large_bulk_through_make_dev_answers_200_with_the_whole_bulk() {
    let stack = DevStack::start().await;
    let (webhook_url, received) = receiver(&stack.secret).await;
    let client = reqwest::Client::new();
    let radars: Vec<Value> = (0..1000)
        .map(|i| json!({"radar_type": "company_job_openings", "domain": format!("d{i}.example.com")}))
        .collect();
    let accepted = submit(
        &client,
        &stack,
        &json!({"webhook_url": webhook_url, "radars": radars}),
    )
    .await;
    let bulk_id = accepted["bulk_id"].as_str().unwrap().to_owned();
    until_completed(&received, stack.started).await;

    // One at a time, within the read limits (10 a second, 200 a minute).
    let mut answers: HashMap<String, usize> = HashMap::new();
    for _ in 0..150 {
        let started = Instant::now();
        let answer = poll(&client, &stack, &bulk_id).await;
        *answers.entry(answer).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(350).saturating_sub(started.elapsed())).await;
    }
    drop(stack);

    assert_eq!(
        answers,
        HashMap::from([("200 with every item".to_owned(), 150)])
    );
}

/// What one poll of a 1000-item bulk answered, in a word unless something went wrong.
async fn poll(client: &reqwest::Client, stack: &DevStack, bulk_id: &str) -> String {
    let sent = client
        .get(format!("{}/{bulk_id}", stack.bulks()))
        .header("x-api-key", &stack.api_key)
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => return format!("no answer: {error}"),
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => return format!("{status} and no whole body: {error}"),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(poll) if status == 200 && poll["radars"].as_array().map(Vec::len) == Some(1000) => {
            "200 with every item".to_owned()
        }
        _ => format!("{status}: {}", text.chars().take(120).collect::<String>()),
    }
}

/// Posts `body` once the API answers (the first request waits for the functions to build).
async fn submit(client: &reqwest::Client, stack: &DevStack, body: &Value) -> Value {
    loop {
        let sent = client
            .post(stack.bulks())
            .header("x-api-key", &stack.api_key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        if let Ok(response) = sent {
            assert_eq!(response.status(), 202, "{:?}", response.text().await);
            return serde_json::from_str(&response.text().await.unwrap()).unwrap();
        }
        assert!(
            stack.started.elapsed() < PATIENCE,
            "the API never answered on {}",
            stack.bulks()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every delivery so far, once `bulk_completed` is among them.
async fn until_completed(received: &Mutex<Vec<Received>>, started: Instant) -> Vec<Received> {
    loop {
        let events = received.lock().unwrap().clone();
        if events
            .iter()
            .any(|e| e.body["update_type"] == "bulk_completed")
        {
            return events;
        }
        assert!(started.elapsed() < PATIENCE, "events so far: {events:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The workers the template's busiest function has across its SQS event sources.
fn busiest_functions_concurrency() -> usize {
    let template = Template::load(&Template::default_path()).unwrap();
    let mut per_function: HashMap<String, usize> = HashMap::new();
    for source in template.event_sources() {
        *per_function.entry(source.function).or_default() += source.max_concurrency;
    }
    per_function.into_values().max().unwrap()
}

/// The arguments of the `cargo lambda watch` serving on `port`, from `/proc`.
fn watch_command_line(port: u16) -> Option<Vec<String>> {
    let port = port.to_string();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let raw = std::fs::read(entry.ok()?.path().join("cmdline")).ok()?;
        let args: Vec<String> = raw
            .split(|byte| *byte == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        let watching = args.windows(2).any(|w| w == ["lambda", "watch"]);
        let on_port = args.windows(2).any(|w| w == ["-P", port.as_str()]);
        (watching && on_port).then_some(args)
    })
}
