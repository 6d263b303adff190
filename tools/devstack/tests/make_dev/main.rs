//! The real `make dev` path, end to end: `infra/local/dev.sh` (cargo-lambda, devstack's event
//! source mapping and receiver) on the emulators that `make test` started. The spec's two-item
//! example goes in over HTTP; both item events and `bulk_completed` must reach a receiver of
//! this test's own, and a poll must say `completed`.

use std::{
    net::TcpListener as StdListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use devstack::receiver::{self, Received};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Generous: the first run installs cargo-lambda and builds the functions.
const PATIENCE: Duration = Duration::from_secs(600);

/// `dev.sh` in a process group of its own, interrupted (as Ctrl-C would) when dropped.
struct DevStack(Child);

impl Drop for DevStack {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-INT", "--", &group]).status();
        let _ = self.0.wait();
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

#[tokio::test]
async fn the_specs_example_goes_through_make_dev_to_a_webhook_receiver_and_a_poll() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("radar-e2e-{}", uuid::Uuid::new_v4().simple()));
    let (api_port, devstack_receiver_port) = (free_port(), free_port());
    let stack = DevStack(
        Command::new(root.join("infra/local/dev.sh"))
            .env("RADAR_API_PORT", api_port.to_string())
            .env("RADAR_RECEIVER_PORT", devstack_receiver_port.to_string())
            .env("RADAR_DEV_DIR", &out)
            .env("RADAR_DEV_PREFIX", format!("e2e{api_port}"))
            .process_group(0)
            .spawn()
            .expect("infra/local/dev.sh starts"),
    );

    // This test's own receiver.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = Arc::clone(&received);
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
    tokio::spawn(async move {
        receiver::serve(listener, Some(&secret), move |r| {
            seen.lock().unwrap().push(r);
        })
        .await
    });

    let api = format!("http://127.0.0.1:{api_port}/v1/radars/bulk");
    let client = reqwest::Client::new();
    let body = json!({
        "webhook_url": webhook_url,
        "radars": [
            {"radar_type": "company_job_openings", "domain": "stripe.com",
             "custom_fields": {"crm_account_id": "acc_001"}},
            {"radar_type": "industry_funding_rounds", "custom_fields": {"segment": "fintech"}}
        ]
    });
    let accepted = submit(&client, &api, &api_key, &body, started).await;
    let bulk_id = accepted["bulk_id"].as_str().unwrap().to_owned();

    let events = until_completed(&received, started).await;
    let poll = client
        .get(format!("{api}/{bulk_id}"))
        .header("x-api-key", &api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let poll: Value = serde_json::from_str(&poll).unwrap();
    drop(stack);
    let _ = std::fs::remove_dir_all(&out);

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
}

/// Posts `body` once the API answers (the first request waits for the functions to build).
async fn submit(
    client: &reqwest::Client,
    api: &str,
    api_key: &str,
    body: &Value,
    started: Instant,
) -> Value {
    loop {
        let sent = client
            .post(api)
            .header("x-api-key", api_key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        if let Ok(response) = sent {
            assert_eq!(response.status(), 202, "{:?}", response.text().await);
            return serde_json::from_str(&response.text().await.unwrap()).unwrap();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the API never answered on {api}"
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
