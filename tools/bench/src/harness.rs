//! The whole API in this process, on fresh tables and queues: each function with AWS clients
//! and meters of its own, the event source mapping of each queue (metered apart too: Lambda's
//! polling of SQS is billed as SQS requests), and a webhook receiver that notes when each
//! `bulk_completed` arrives.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use devstack::{
    bridge::{self, Invoke, Source},
    local::{self, Functions},
    receiver::{self, Received},
};
use provision::Template;
use shared::{config::Config, rate_limit::LimitOverrides};
use test_support::{Metered, TestAccount, TestEnv};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

use crate::{Error, Result};

/// Beside the template's: webhooks to the local receiver, and no rate limit in the way.
const ENVIRONMENT: [(&str, &str); 2] = [
    ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
    ("RADAR_BULK_PER_MINUTE", "100000"),
];

/// What one meter saw.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub requests: BTreeMap<String, usize>,
    pub write_units: f64,
    pub read_units: f64,
}

impl Usage {
    pub fn of(meter: &Metered) -> Self {
        let units = meter.capacity.units();
        Self {
            requests: meter.requests.by_operation(),
            write_units: units.write,
            read_units: units.read,
        }
    }

    pub fn total(&self) -> usize {
        self.requests.values().sum()
    }

    /// Requests to one service (`"DynamoDB"`, `"SQS"`).
    pub fn of_service(&self, service: &str) -> usize {
        self.requests
            .iter()
            .filter(|(operation, _)| operation.split('.').next() == Some(service))
            .map(|(_, count)| count)
            .sum()
    }
}

/// One meter per caller of AWS.
#[derive(Debug, Clone)]
pub struct Meters {
    pub submit: Metered,
    pub processor: Metered,
    pub dispatcher: Metered,
    /// The event source mapping of the item queue (receives and deletes).
    pub item_polling: Metered,
    /// The event source mapping of the webhook queue.
    pub webhook_polling: Metered,
}

impl Meters {
    pub fn reset(&self) {
        for meter in [
            &self.submit,
            &self.processor,
            &self.dispatcher,
            &self.item_polling,
            &self.webhook_polling,
        ] {
            meter.reset();
        }
    }
}

/// Invocations of a function and the time they took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Busy {
    pub invocations: usize,
    pub time: Duration,
    /// Invocations that left messages to SQS (a partial batch response naming any).
    pub deferred: usize,
    /// Messages left to SQS, over all invocations.
    pub retried: usize,
}

/// The SQS-triggered functions, timed.
#[derive(Debug)]
pub struct Timed {
    functions: Arc<Functions>,
    busy: Mutex<BTreeMap<String, Busy>>,
}

impl Timed {
    pub fn busy(&self, function: &str) -> Busy {
        self.busy
            .lock()
            .unwrap()
            .get(function)
            .copied()
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        self.busy.lock().unwrap().clear();
    }
}

impl Invoke for Timed {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let started = Instant::now();
        let response = self.functions.invoke(function, event).await;
        let mut busy = self.busy.lock().unwrap();
        let entry = busy.entry(function.to_owned()).or_default();
        entry.invocations += 1;
        entry.time += started.elapsed();
        let retried = response.as_ref().map_or(event.records.len(), |answer| {
            answer.batch_item_failures.len()
        });
        entry.retried += retried;
        entry.deferred += usize::from(retried > 0);
        response
    }
}

/// What the receiver has seen.
#[derive(Debug, Default)]
struct Seen {
    events: usize,
    /// When the last event other than a `bulk_completed` arrived.
    last_item_event: Option<Instant>,
    completed: HashMap<String, Instant>,
    /// Failed items over every `bulk_completed`.
    failed: u64,
}

/// How to run the stack.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Event source mapping workers on each queue; none: queued items stay queued.
    pub concurrency: Option<usize>,
    /// The processor's workers, if not `concurrency`.
    pub processors: Option<usize>,
    /// Where the functions' DynamoDB clients go, if not to the emulator (a proxy).
    pub dynamodb: Option<String>,
    /// Every event source mapping of the template, each with its own `MaximumConcurrency` and
    /// `BatchSize` (the item dead-letter queue's too), instead of `concurrency`.
    pub as_template: bool,
    /// The functions' environment beyond the template's and [`ENVIRONMENT`]: a setting the
    /// template gives one function only, or one to try.
    pub environment: Vec<(String, String)>,
}

/// The running stack.
#[derive(Debug)]
pub struct Stack {
    pub env: TestEnv,
    /// What the functions read.
    pub config: Config,
    /// The event source mappings running, if any.
    pub sources: Vec<Source>,
    pub account: TestAccount,
    pub meters: Meters,
    pub timed: Arc<Timed>,
    pub webhook_url: String,
    api: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Seen>>,
    arrived: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stack {
    /// The API, a receiver, and with `concurrency`, the event source mappings with that many
    /// workers on each queue (without, queued items stay queued).
    pub async fn start(concurrency: Option<usize>) -> Result<Self> {
        Self::start_with(Options {
            concurrency,
            ..Options::default()
        })
        .await
    }

    pub async fn start_with(options: Options) -> Result<Self> {
        let env = TestEnv::new().await;
        let overrides: Vec<(&str, &str)> = ENVIRONMENT
            .into_iter()
            .chain(
                options
                    .environment
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            )
            .collect();
        let config = env.config_with(&overrides);
        let account = env
            .account_with(10_000_000, LimitOverrides::default())
            .await;
        let function = || async {
            match &options.dynamodb {
                Some(url) => Metered::through(url).await,
                None => Metered::new().await,
            }
        };
        let meters = Meters {
            submit: function().await,
            processor: function().await,
            dispatcher: function().await,
            item_polling: Metered::new().await,
            webhook_polling: Metered::new().await,
        };
        let functions = Arc::new(
            Functions::each(&config, |function| {
                let meter = match function {
                    "processor" => &meters.processor,
                    "dispatcher" => &meters.dispatcher,
                    _ => &meters.submit,
                };
                (meter.dynamodb.clone(), meter.sqs.clone())
            })
            .map_err(|error| Error::Setup(error.to_string()))?,
        );
        let mut tasks = Vec::new();
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let api_url = format!("http://{}", api.local_addr()?);
        let serving = Arc::clone(&functions);
        tasks.push(tokio::spawn(async move {
            let _ = local::serve_api(api, serving).await;
        }));

        let hooks = TcpListener::bind("127.0.0.1:0").await?;
        let webhook_url = format!("http://{}/", hooks.local_addr()?);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let arrived = Arc::new(Notify::new());
        let (noting, waking) = (Arc::clone(&seen), Arc::clone(&arrived));
        tasks.push(tokio::spawn(async move {
            let _ = receiver::serve(hooks, None, move |received: Received| {
                let mut seen = noting.lock().unwrap();
                seen.events += 1;
                if received.body["update_type"] == "bulk_completed" {
                    let bulk = received.body["bulk_id"].as_str().unwrap_or_default();
                    // The first arrival counts: a redelivery neither moves it nor counts twice.
                    if !seen.completed.contains_key(bulk) {
                        seen.completed.insert(bulk.to_owned(), Instant::now());
                        seen.failed += received.body["summary"]["failed"].as_u64().unwrap_or(0);
                    }
                    waking.notify_waiters();
                } else {
                    seen.last_item_event = Some(Instant::now());
                }
            })
            .await;
        }));

        let timed = Arc::new(Timed {
            functions,
            busy: Mutex::new(BTreeMap::new()),
        });
        let sources = sources(&env, &options)?;
        // The template's queues are fair queues: every message carries its account's group.
        let delivery = Arc::new(bridge::Delivery::exact().with_fair_queues());
        for source in &sources {
            let polling = match source.function.as_str() {
                "processor" => &meters.item_polling,
                _ => &meters.webhook_polling,
            };
            let (sqs, timed, source) = (polling.sqs.clone(), Arc::clone(&timed), source.clone());
            let delivery = Arc::clone(&delivery);
            tasks.push(tokio::spawn(async move {
                bridge::run_with(&sqs, &[source], timed.as_ref(), &delivery).await;
            }));
        }
        Ok(Self {
            env,
            config,
            sources,
            account,
            meters,
            timed,
            webhook_url,
            api: api_url,
            client: reqwest::Client::new(),
            seen,
            arrived,
            tasks,
        })
    }

    /// Submits `body` through the API: the bulk's id and how long the `202` took.
    pub async fn submit(&self, body: String) -> Result<(String, Duration)> {
        self.submit_as(&self.account.api_key, body).await
    }

    /// [`Stack::submit`] as the account whose key is `api_key`.
    pub async fn submit_as(&self, api_key: &str, body: String) -> Result<(String, Duration)> {
        let started = Instant::now();
        let response = self
            .client
            .post(format!("{}/v1/radars/bulk", self.api))
            .header("x-api-key", api_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        let took = started.elapsed();
        if status != 202 {
            return Err(Error::Failed(format!("submit answered {status}: {text}")));
        }
        let answer: serde_json::Value = serde_json::from_str(&text)?;
        let bulk_id = answer["bulk_id"]
            .as_str()
            .ok_or_else(|| Error::Failed(format!("a 202 without a bulk_id: {text}")))?;
        Ok((bulk_id.to_owned(), took))
    }

    /// Waits until the receiver has every bulk's `bulk_completed`: when the last arrived.
    pub async fn completed(&self, bulks: &[String], within: Duration) -> Result<Instant> {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                {
                    let seen = self.seen.lock().unwrap();
                    let times: Option<Vec<Instant>> = bulks
                        .iter()
                        .map(|b| seen.completed.get(b).copied())
                        .collect();
                    if let Some(last) = times.and_then(|t| t.into_iter().max()) {
                        return last;
                    }
                }
                // Notify keeps no permit for notify_waiters: look again now and then.
                let _ = tokio::time::timeout(Duration::from_millis(200), arrived).await;
            }
        };
        tokio::time::timeout(within, wait).await.map_err(|_| {
            Error::Failed(format!(
                "not every bulk_completed arrived within {within:?}"
            ))
        })
    }

    /// Whether the receiver has had the bulk's `bulk_completed`.
    pub fn is_completed(&self, bulk: &str) -> bool {
        self.completed_at(bulk).is_some()
    }

    /// When the receiver had the bulk's `bulk_completed` first.
    pub fn completed_at(&self, bulk: &str) -> Option<Instant> {
        self.seen.lock().unwrap().completed.get(bulk).copied()
    }

    /// The functions' environment, as the template sets it for these tables and queues.
    pub fn environment(&self) -> HashMap<String, String> {
        let mut environment = self.env.provisioned.environment.clone();
        for (name, value) in ENVIRONMENT {
            environment.insert(name.to_owned(), value.to_owned());
        }
        environment
    }

    /// Items reported failed by the `bulk_completed` events received so far.
    pub fn failed(&self) -> u64 {
        self.seen.lock().unwrap().failed
    }

    /// When the receiver had its latest event other than a `bulk_completed`.
    pub fn last_item_event(&self) -> Option<Instant> {
        self.seen.lock().unwrap().last_item_event
    }

    /// Webhook deliveries the receiver has had.
    pub fn deliveries(&self) -> usize {
        self.seen.lock().unwrap().events
    }
}

/// The event source mappings `options` ask for, on `env`'s queues.
fn sources(env: &TestEnv, options: &Options) -> Result<Vec<Source>> {
    if options.as_template {
        let template = Template::load(&Template::default_path())
            .map_err(|error| Error::Setup(error.to_string()))?;
        return devstack::stack::sources(&template, &env.provisioned)
            .map_err(|error| Error::Setup(error.to_string()));
    }
    let Some(concurrency) = options.concurrency else {
        return Ok(Vec::new());
    };
    Ok([("processor", "ItemQueue"), ("dispatcher", "WebhookQueue")]
        .into_iter()
        .map(|(function, queue)| Source {
            function: function.to_owned(),
            queue_url: env.queue_url(queue),
            queue_arn: env.provisioned.queues[queue].arn.clone(),
            batch_size: 10,
            concurrency: match function {
                "processor" => options.processors.unwrap_or(concurrency),
                _ => concurrency,
            },
            partial_batch_responses: true,
        })
        .collect())
}

impl Drop for Stack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
