//! [`LocalApi`]: the API served from this process on fresh tables and queues.

use std::{
    io,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use devstack::{
    bridge,
    local::{self, Functions},
    receiver::{self, Received},
};
use provision::Template;
use serde_json::Value;
use shared::{rate_limit::LimitOverrides, store::Store};
use test_support::{TestAccount, TestEnv};
pub use test_support::{repo_root as root, venv_tool};
use tokio::net::TcpListener;

/// The four functions wired as in production, listening on 127.0.0.1.
pub struct LocalApi {
    pub env: TestEnv,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub account: TestAccount,
    pub webhook_secret: String,
    /// Where the receiver listens: use as a bulk's `webhook_url`.
    pub webhook_url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    client: reqwest::Client,
}

impl LocalApi {
    /// Serves the API and the receiver, and moves queued messages into the processor and the
    /// dispatcher as Lambda would. `overrides` are added to the functions' environment.
    pub async fn start(overrides: &[(&str, &str)]) -> Self {
        logs();
        let env = TestEnv::new().await;
        let mut environment = vec![("RADAR_ALLOW_INSECURE_WEBHOOKS", "true")];
        environment.extend_from_slice(overrides);
        let config = env.config_with(&environment);
        let account = env.account_with(1000, LimitOverrides::default()).await;
        let webhook_secret = Store::new(env.dynamodb.clone(), &config.table_name)
            .get_secrets(account.id)
            .await
            .expect("DynamoDB Local answers")
            .expect("the account's secrets exist")
            .current
            .expose()
            .to_owned();
        let functions = Arc::new(
            Functions::new(&config, &env.dynamodb, &env.sqs).expect("the functions' dependencies"),
        );
        let (base, _) = local::serve_api_on_loopback(Arc::clone(&functions))
            .await
            .unwrap();

        let hooks = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook_url = format!("http://{}/hooks", hooks.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&received);
        let secret = webhook_secret.clone();
        tokio::spawn(async move {
            receiver::serve(hooks, Some(&secret), move |r| seen.lock().unwrap().push(r)).await
        });

        let template = Template::load(&Template::default_path()).unwrap();
        let sources = devstack::stack::sources(&template, &env.provisioned).unwrap();
        bridge::spawn(env.sqs.clone(), sources, functions);

        Self {
            env,
            base,
            account,
            webhook_secret,
            webhook_url,
            received,
            client: reqwest::Client::new(),
        }
    }

    /// `POST /v1/radars/bulk` with `body` under `api_key`; the status and the body as JSON
    /// (`Value::Null` if it is not JSON).
    pub async fn submit_as(
        &self,
        api_key: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}/v1/radars/bulk", self.base))
            .header("x-api-key", api_key)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.expect("the API answers")).await
    }

    pub async fn submit(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.submit_as(&self.account.api_key, body, &[]).await
    }

    /// `GET /v1/radars/bulk/{bulk_id}` under `api_key`.
    pub async fn poll_as(&self, api_key: &str, bulk_id: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/v1/radars/bulk/{bulk_id}", self.base))
            .header("x-api-key", api_key)
            .send()
            .await
            .expect("the API answers");
        answer(response).await
    }

    /// `method path` (path and query, such as `/v1/radars?limit=2`) under `api_key`, with
    /// `body` as JSON if one is given; the status and the body as JSON (`Value::Null` if it is
    /// not JSON).
    pub async fn call_as(
        &self,
        api_key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-api-key", api_key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        answer(request.send().await.expect("the API answers")).await
    }

    /// Every delivery the receiver got, once `bulk_completed` for `bulk_id` has arrived.
    pub async fn deliveries_until_completed(&self, bulk_id: &str) -> Vec<Received> {
        tokio::time::timeout(Duration::from_secs(90), async {
            loop {
                {
                    let received = self.received.lock().unwrap();
                    let done = received.iter().any(|r| {
                        r.body["update_type"] == "bulk_completed" && r.body["bulk_id"] == bulk_id
                    });
                    if done {
                        return received.clone();
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("bulk_completed reached the receiver")
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The functions' JSON log lines (as on Lambda) of every test in this binary. The first call
/// makes it the process's subscriber: one global subscriber, set before any function runs,
/// sees every line whichever thread or task writes it.
pub fn logs() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        let sink = lines.clone();
        // At `trace`, whatever RUST_LOG says: what the logs give away is checked at the most
        // talkative level anyone could deploy.
        let logs = shared::telemetry::json_logs(
            move || sink.clone(),
            shared::telemetry::EnvFilter::new("trace"),
        );
        tracing::subscriber::set_global_default(logs).expect("no other subscriber in this binary");
        lines
    })
}

/// A log sink the subscriber writes to and tests read.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Lines {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
