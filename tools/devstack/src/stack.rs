//! `devstack up`: the template's tables and queues on the running emulators, a development
//! account, and the environment files that the functions and a second terminal read.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use provision::{Provisioned, Template};
use radarctl::Deps;
use serde_json::Value;

use crate::{
    Error, Result,
    bridge::{self, Source},
};

/// What `up` made.
#[derive(Debug)]
pub struct Stack {
    pub provisioned: Provisioned,
    /// The functions' environment: the template's `Globals`, resolved, for local development.
    pub environment: BTreeMap<String, String>,
    /// `radarctl account create`'s answer for the development account.
    pub account: Value,
    /// How many instances of each function `cargo lambda watch` may run: as many as the event
    /// source mapping invokes at once ([`bridge::instances`] of the template's sources).
    pub instances: usize,
}

/// The variables every AWS client needs to reach the emulators, from the process environment
/// (`infra/local/services.sh` exports them).
const AWS_VARIABLES: [&str; 6] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_EC2_METADATA_DISABLED",
];

/// What to make.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Resources are named `<prefix>-<LogicalId>`.
    pub prefix: String,
    /// The development account's API key; `None` makes a new one.
    pub api_key: Option<String>,
    pub credits: i64,
}

/// Makes the tables and queues, then the development account.
pub async fn up(
    template: &Template,
    dynamodb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    settings: Settings,
) -> Result<Stack> {
    let Settings {
        prefix,
        api_key,
        credits,
    } = settings;
    let provisioned = template.provision(dynamodb, sqs, &prefix).await?;
    let instances = bridge::instances(&sources(template, &provisioned)?);
    let mut environment: BTreeMap<String, String> = provisioned
        .environment
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // Webhooks go to the local receiver on http://127.0.0.1.
    environment.insert("RADAR_ALLOW_INSECURE_WEBHOOKS".into(), "true".into());
    environment.insert("RUST_LOG".into(), "info".into());
    for name in AWS_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            environment.insert(name.into(), value);
        }
    }
    let config = shared::config::Config::from_lookup(|name| environment.get(name).cloned())?;
    let deps = Deps::new(config, dynamodb.clone(), sqs.clone());
    let account = radarctl::run(
        &deps,
        radarctl::Command::Account(radarctl::AccountCommand::Create { credits, api_key }),
    )
    .await?;
    Ok(Stack {
        provisioned,
        environment,
        account,
        instances,
    })
}

impl Stack {
    /// The event sources of the template, on the queues made here.
    pub fn sources(&self, template: &Template) -> Result<Vec<Source>> {
        sources(template, &self.provisioned)
    }

    fn field(&self, name: &str) -> &str {
        self.account[name].as_str().unwrap_or_default()
    }

    /// `export` lines for a shell to `source`: the functions' environment, the development
    /// account, where the API and the receiver listen, and how many instances of each function
    /// run (`infra/local/dev.sh` passes it to `cargo lambda watch --concurrency`). The API, its
    /// key, the receiver and the secret are also under the names the `radar` client reads.
    pub fn dev_env(&self, api: &str, receiver: &str) -> String {
        let mut text =
            String::from("# Written by make dev. In another terminal: source .local/dev.env\n");
        let instances = self.instances.to_string();
        let extra = [
            ("RADAR_API", api),
            ("RADAR_WEBHOOK_URL", receiver),
            ("RADAR_DEV_ACCOUNT_ID", self.field("account_id")),
            ("RADAR_DEV_API_KEY", self.field("api_key")),
            ("RADAR_DEV_WEBHOOK_SECRET", self.field("webhook_secret")),
            ("RADAR_DEV_CONCURRENCY", instances.as_str()),
            ("RADAR_API_KEY", self.field("api_key")),
            ("RADAR_WEBHOOK_SECRET", self.field("webhook_secret")),
        ];
        let lines = self
            .environment
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .chain(extra);
        for (name, value) in lines {
            // Writing to a String cannot fail.
            let _ = writeln!(text, "export {name}={}", quote(value));
        }
        text
    }

    /// `KEY=VALUE` lines for `cargo lambda watch --env-file`: the functions' environment only.
    pub fn functions_env(&self) -> String {
        let mut text = String::new();
        for (name, value) in &self.environment {
            let _ = writeln!(text, "{name}={value}");
        }
        text
    }

    /// Writes dev.env and functions.env. `api` (`http://127.0.0.1:<port>`) is where the
    /// functions are served: as a deployed stack refuses webhooks to its own hosts, they refuse
    /// that host and port (`RADAR_API_HOSTS`), and the receiver's port stays open to them.
    pub fn write(&self, dir: &Path, api: &str, receiver: &str) -> Result<()> {
        std::fs::write(dir.join("dev.env"), self.dev_env(api, receiver))?;
        let served = api
            .strip_prefix("http://")
            .unwrap_or(api)
            .trim_end_matches('/');
        let functions_env = format!("{}RADAR_API_HOSTS={served}\n", self.functions_env());
        std::fs::write(dir.join("functions.env"), functions_env)?;
        Ok(())
    }
}

/// A value as one shell word.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The event sources of `template`, on the queues `provisioned` made.
pub fn sources(template: &Template, provisioned: &Provisioned) -> Result<Vec<Source>> {
    template
        .event_sources()
        .into_iter()
        .map(|source| {
            let queue = provisioned.queues.get(&source.queue).ok_or_else(|| {
                Error::Setup(format!(
                    "{} reads {}, which was not made",
                    source.function, source.queue
                ))
            })?;
            Ok(Source {
                function: source.function,
                queue_url: queue.url.clone(),
                queue_arn: queue.arn.clone(),
                batch_size: source.batch_size,
                concurrency: source.max_concurrency,
                partial_batch_responses: source.partial_batch_responses,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use provision::Queue;
    use shared::{config::Config, webhook_url::WebhookUrl};

    use super::*;

    #[test]
    fn values_are_single_shell_words() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's $HOME"), r"'it'\''s $HOME'");
    }

    #[test]
    fn the_functions_refuse_webhooks_to_the_local_api_and_take_the_receivers() {
        let stack = Stack {
            provisioned: Provisioned::default(),
            environment: [
                ("RADAR_TABLE_NAME", "dev-RadarTable"),
                ("RADAR_ITEM_QUEUE_URL", "http://127.0.0.1:1/items"),
                ("RADAR_WEBHOOK_QUEUE_URL", "http://127.0.0.1:1/webhooks"),
                ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .into(),
            account: Value::Null,
            instances: 1,
        };
        let dir = std::env::temp_dir().join(format!("devstack-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();

        stack
            .write(&dir, "http://127.0.0.1:9000", "http://127.0.0.1:9999/")
            .unwrap();

        let written = std::fs::read_to_string(dir.join("functions.env")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let environment: BTreeMap<&str, &str> = written
            .lines()
            .filter_map(|line| line.split_once('='))
            .collect();
        assert_eq!(environment["RADAR_API_HOSTS"], "127.0.0.1:9000");
        let config =
            Config::from_lookup(|name| environment.get(name).map(|v| (*v).to_owned())).unwrap();
        let api = WebhookUrl::parse("http://127.0.0.1:9000/v1/radars/bulk", config.webhooks);
        let receiver = WebhookUrl::parse("http://127.0.0.1:9999/", config.webhooks);
        assert_eq!(
            api.unwrap_err().reason,
            "Webhook URL must not point to this API"
        );
        assert!(receiver.is_ok());
    }

    #[test]
    fn make_dev_runs_as_many_instances_of_a_function_as_the_template_lets_its_queues_invoke() {
        let template = Template::load(&Template::default_path()).unwrap();
        let mut provisioned = Provisioned::default();
        for source in template.event_sources() {
            let queue = Queue {
                url: format!("http://127.0.0.1/{}", source.queue),
                arn: format!("arn:aws:sqs:us-east-1:000000000000:{}", source.queue),
            };
            provisioned.queues.insert(source.queue, queue);
        }

        let sources = sources(&template, &provisioned).unwrap();

        // infra/template.yaml: the processor reads ItemQueue with MaximumConcurrency 20 and its
        // dead-letter queue with 2 (ReservedConcurrentExecutions 22); the dispatcher reads
        // WebhookQueue with 20.
        assert_eq!(bridge::instances(&sources), 22);
    }
}
