//! The stack every test runs the command line against, and what the tests read back.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use clap::Parser;
use devstack::{local::Functions, stack};
use provision::Template;
use radar::{Cli, Failure, Output};
use radar_client::webhook::{self, Verifier};
use serde_json::Value;
use shared::rate_limit::LimitOverrides;
use test_support::{Printed, TestEnv};
use tokio::net::TcpListener;
use uuid::Uuid;

/// A fresh stack, its seeded account, and a directory of files for the test.
pub struct Stack {
    /// The emulators' clients, kept for as long as the stack runs.
    _env: TestEnv,
    pub base: String,
    pub api_key: String,
    pub secret: String,
    pub dir: PathBuf,
    /// A receiver for the bulks' webhooks, which verifies them and lets them go.
    pub webhook_url: String,
}

impl Stack {
    pub async fn up(credits: i64) -> Self {
        let env = TestEnv::new().await;
        let template = Template::load(&Template::default_path()).unwrap();
        let settings = stack::Settings {
            prefix: format!("cli{}", &Uuid::new_v4().simple().to_string()[..8]),
            api_key: None,
            credits,
        };
        let stack = stack::up(&template, &env.dynamodb, &env.sqs, settings)
            .await
            .unwrap();
        let config =
            shared::config::Config::from_lookup(|name| stack.environment.get(name).cloned())
                .unwrap();
        let functions = Arc::new(Functions::new(&config, &env.dynamodb, &env.sqs).unwrap());
        let (base, _) = devstack::local::serve_api_on_loopback(Arc::clone(&functions))
            .await
            .unwrap();
        devstack::bridge::spawn(
            env.sqs.clone(),
            stack.sources(&template).unwrap(),
            functions,
        );

        let field = |name: &str| stack.account[name].as_str().unwrap().to_owned();
        let account_id: Uuid = field("account_id").parse().unwrap();
        // Room for a test that polls three bulks twice a second and creates radars one by one.
        shared::store::Store::new(env.dynamodb.clone(), &config.table_name)
            .set_limits(
                account_id,
                &LimitOverrides {
                    read_per_minute: Some(2_000),
                    read_per_second: Some(50),
                    write_per_minute: Some(1_000),
                    write_per_second: Some(50),
                    ..LimitOverrides::default()
                },
            )
            .await
            .unwrap();
        let secret = field("webhook_secret");
        let hooks = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook_url = format!("http://{}/", hooks.local_addr().unwrap());
        let verifier = Verifier::new(&secret).unwrap();
        tokio::spawn(webhook::listen(hooks, verifier, |_| {}));
        let dir = std::env::temp_dir().join(format!("radar-cli-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            _env: env,
            base,
            api_key: field("api_key"),
            secret,
            dir,
            webhook_url,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs `radar --api BASE --api-key KEY ARGS...`; its lines and its answer.
    pub async fn radar(&self, args: &[&str]) -> (Printed, Result<(), Failure>) {
        self.radar_at(&self.base, args).await
    }

    /// `bulk submit FILE --results OUT` to the stack's receiver, polling twice a second.
    pub fn submit_args<'a>(&'a self, file: &'a Path, out: &'a Path) -> Vec<&'a str> {
        vec![
            "bulk",
            "submit",
            file.to_str().unwrap(),
            "--webhook-url",
            &self.webhook_url,
            "--results",
            out.to_str().unwrap(),
            "--interval",
            "0.5",
        ]
    }

    /// The same, against another API URL (a fault layer in front of this one).
    pub async fn radar_at(&self, base: &str, args: &[&str]) -> (Printed, Result<(), Failure>) {
        let mut command = vec!["radar", "--api", base, "--api-key", &self.api_key];
        command.extend_from_slice(args);
        let cli = Cli::try_parse_from(command).expect("the test's command line parses");
        let lines = Printed::default();
        let answer = radar::run(cli, &Output::plain(lines.clone())).await;
        (lines, answer)
    }

    /// `GET` of an API path, as JSON.
    pub async fn get(&self, path: &str) -> Value {
        let answer = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .header("x-api-key", &self.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "GET {path}");
        answer.json().await.unwrap()
    }

    /// `POST` of a JSON body to an API path: the status and the body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("x-api-key", &self.api_key)
            .json(body)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }
}

/// The bulk ids a state file records, in order.
pub fn bulks_in(state: &Path) -> Vec<(Uuid, usize)> {
    radar_client::state::State::load(state)
        .unwrap()
        .bulks
        .iter()
        .map(|bulk| (bulk.bulk_id, bulk.lines.len()))
        .collect()
}

/// A results CSV's rows, each a map from column to cell.
pub fn read_results(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}
