//! One chaos run: a fresh stack on the emulators, the four functions in this process with their
//! AWS calls through the fault proxies and their invocations killed at random, accounts
//! submitting bulks over HTTP, webhook receivers recording every delivery; then, once it has
//! settled, the invariants checked against what the receivers, the API and the table say.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aws_config::Region;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use devstack::{
    bridge::{self, Source},
    local::{self, Functions},
    receiver::{self, Received},
};
use provision::{Provisioned, Template};
use serde_json::Value;
use shared::{
    credentials::{ApiKey, WebhookSecret},
    config::{AWS_ATTEMPT_TIMEOUT, Config},
    rate_limit::LimitOverrides,
    store::{Store, accounts::Account},
};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{
    Error, Result,
    kill::{Killing, Kills},
    proxy::{Plan, Proxy, Tally},
    verify::{self, Check},
    workload::{Shape, Workload},
};

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub shape: Shape,
    /// The share of AWS calls that meet a fault.
    pub fault_rate: f64,
    /// The share of invocations killed.
    pub kill_rate: f64,
    /// Event source concurrency of the processor and of the dispatcher.
    pub concurrency: usize,
    /// How long the run may take to settle before it counts as stuck.
    pub patience: Duration,
    pub seed: u64,
    /// A bulk is submitted only while fewer items than this wait on the item queue. The SQS
    /// emulator scans a whole queue on every receive, so a backlog of 10,000 messages would
    /// measure the emulator rather than the functions.
    pub backlog: u64,
    /// Print a line on stderr every few seconds while the run settles.
    pub progress: bool,
}

/// Where the emulators listen.
#[derive(Debug, Clone)]
pub struct Emulators {
    pub dynamodb: String,
    pub sqs: String,
}

/// A delivery as a receiver saw it, numbered in the order deliveries arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub seq: u64,
    pub account: usize,
    pub received: Received,
}

/// What a run did and what held.
#[derive(Debug, Clone)]
pub struct Report {
    pub settings: Settings,
    pub items: usize,
    pub dynamodb: Tally,
    pub sqs: Tally,
    pub kills: Kills,
    pub submissions: Submissions,
    /// `created`, `400`, `402`, `409`, `500`: items by outcome.
    pub outcomes: BTreeMap<String, u64>,
    pub deliveries: usize,
    pub duplicate_deliveries: usize,
    pub checks: Vec<Check>,
    pub elapsed: Duration,
}

impl Report {
    pub fn held(&self) -> bool {
        self.checks.iter().all(|check| check.held)
    }
}

/// How submitting went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Submissions {
    pub attempts: u64,
    pub accepted: u64,
    /// 500s: the submission took no effect, and the client tried again.
    pub failed: u64,
    /// 409s: an earlier attempt with the key still looked in progress (its bulk could not be
    /// marked aborted, so it counts as in progress until it is two minutes old); the client
    /// waited and tried again.
    pub in_progress: u64,
    /// Any other answer: a violation.
    pub unexpected: u64,
}

/// How long the proxy holds a timed-out answer: past the functions' attempt timeout, which is
/// production's. A shorter one would turn a busy emulator's slow answers into retries, and the
/// retries into more load, until the emulator stops answering.
const HOLD: Duration = AWS_ATTEMPT_TIMEOUT.saturating_add(Duration::from_secs(1));
/// Queue visibility during a run: a killed batch comes back this soon.
const VISIBILITY_SECONDS: &str = "10";
/// Invocations die within this long of starting.
const KILL_WITHIN: Duration = Duration::from_millis(800);
/// Bulks submitted at once.
const SUBMITTERS: usize = 4;
/// Tries at one bulk before the run gives up on it, and how long it may keep trying: past
/// `ABANDONED_AFTER`, when an attempt that could not even be marked aborted stops holding its
/// `Idempotency-Key`.
const SUBMIT_TRIES: u32 = 100;
const SUBMIT_PATIENCE: Duration = Duration::from_secs(180);

/// Runs the load and checks the invariants.
pub async fn run(settings: Settings, emulators: &Emulators) -> Result<Report> {
    let started = Instant::now();
    let workload = Workload::draw(settings.shape, settings.seed);
    let direct = Clients::new(emulators, false).await;
    let template = Template::load(&Template::default_path())?;
    let prefix = format!("chaos{}", &Uuid::new_v4().simple().to_string()[..8]);
    let provisioned = template
        .provision(&direct.dynamodb, &direct.sqs, &prefix)
        .await?;
    shorten_visibility(&direct.sqs, &provisioned).await?;
    let config = config(&provisioned)?;
    let store = Store::new(direct.dynamodb.clone(), &config.table_name);

    let plan = Plan::every_fault(settings.fault_rate, HOLD);
    let dynamodb_proxy = Proxy::start(&emulators.dynamodb, plan.clone()).await?;
    let sqs_proxy = Proxy::start(&emulators.sqs, plan).await?;
    let through_proxies = Emulators {
        dynamodb: dynamodb_proxy.url.clone(),
        sqs: sqs_proxy.url.clone(),
    };
    let mut faulty = Vec::new();
    for _ in 0..4 {
        faulty.push(Clients::new(&through_proxies, true).await);
    }
    let functions = Arc::new(
        Functions::each(&config, |_| {
            let clients = faulty.pop().expect("a pair of clients per function");
            (clients.dynamodb, clients.sqs)
        })
        .map_err(|e| Error::Setup(e.to_string()))?,
    );

    let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let accounts = open_accounts(&store, &workload, &deliveries).await?;
    let (base, serving) = local::serve_api_on_loopback(Arc::clone(&functions)).await?;
    let killing = Arc::new(Killing::new(
        Functions::clone(&functions),
        settings.kill_rate,
        KILL_WITHIN,
    ));
    let sources: Vec<Source> = devstack::stack::sources(&template, &provisioned)?
        .into_iter()
        .map(|mut source| {
            source.concurrency = source.concurrency.min(settings.concurrency);
            source
        })
        .collect();
    let bridging = bridge::spawn(direct.sqs.clone(), sources, Arc::clone(&killing));

    let client = reqwest::Client::new();
    let item_queue = &provisioned.queues["ItemQueue"].url;
    let pace = Pace {
        sqs: &direct.sqs,
        queue_url: item_queue,
        backlog: settings.backlog,
        progress: settings.progress,
    };
    let (bulk_ids, submissions) = submit_all(&client, &base, &workload, &accounts, &pace).await;
    let settled = settle(&direct.sqs, &provisioned, &deliveries, &bulk_ids, &settings).await;
    bridging.abort();

    let deliveries = deliveries.lock().expect("deliveries lock").clone();
    let polled = poll_all(&client, &base, &workload, &accounts, &bulk_ids).await;
    serving.abort();
    let evidence = verify::Evidence {
        workload: &workload,
        accounts: &accounts,
        bulk_ids: &bulk_ids,
        deliveries: &deliveries,
        polled: &polled,
        store: &store,
        sqs: &direct.sqs,
        provisioned: &provisioned,
        settled,
        submissions,
    };
    let (checks, outcomes) = verify::check(&evidence).await?;
    Ok(Report {
        items: workload.items(),
        dynamodb: dynamodb_proxy.tally(),
        sqs: sqs_proxy.tally(),
        kills: killing.kills(),
        submissions,
        outcomes,
        deliveries: deliveries.len(),
        duplicate_deliveries: deliveries.len()
            - deliveries
                .iter()
                .map(|d| d.received.id.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len(),
        checks,
        elapsed: started.elapsed(),
        settings,
    })
}

/// The AWS clients of one side of the proxies.
struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Clients for `endpoints`, with local credentials; with the functions' own timeouts when
    /// `functions` (`shared::config::aws_timeouts`).
    async fn new(endpoints: &Emulators, functions: bool) -> Self {
        let mut loader = shared::config::aws_loader()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "chaos"));
        if functions {
            loader = loader.timeout_config(shared::config::aws_timeouts());
        }
        let sdk = loader.load().await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .endpoint_url(&endpoints.dynamodb)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk)
                    .endpoint_url(&endpoints.sqs)
                    .build(),
            ),
        }
    }
}

/// The functions' configuration: the template's, with limits that a load test does not trip
/// and a webhook retry schedule of seconds.
fn config(provisioned: &Provisioned) -> Result<Config> {
    let mut environment = provisioned.environment.clone();
    for (name, value) in [
        ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
        ("RADAR_WEBHOOK_RETRY_SCHEDULE", "1s,2s,4s,8s,8s,8s,8s,8s"),
        ("RADAR_WEBHOOK_TIMEOUT_SECONDS", "2"),
    ] {
        environment.insert(name.into(), value.into());
    }
    Ok(Config::from_lookup(|name| environment.get(name).cloned())?)
}

/// Killed batches come back after the queue's visibility timeout: seconds, not minutes.
async fn shorten_visibility(sqs: &aws_sdk_sqs::Client, provisioned: &Provisioned) -> Result<()> {
    for queue in ["ItemQueue", "WebhookQueue", "ItemDeadLetterQueue"] {
        let Some(queue) = provisioned.queues.get(queue) else {
            continue;
        };
        sqs.set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(QueueAttributeName::VisibilityTimeout, VISIBILITY_SECONDS)
            .send()
            .await
            .map_err(|e| Error::Aws(aws_sdk_sqs::Error::from(e).to_string()))?;
    }
    Ok(())
}

/// A submitting account: its key, its webhook receiver, and what it started with.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub id: Uuid,
    pub api_key: String,
    pub webhook_url: String,
    pub credits: i64,
}

/// Makes each account (limits high enough for the load) and starts its webhook receiver.
async fn open_accounts(
    store: &Store,
    workload: &Workload,
    deliveries: &Arc<Mutex<Vec<Delivery>>>,
) -> Result<Vec<OpenAccount>> {
    let sequence = Arc::new(AtomicU64::new(0));
    let mut accounts = Vec::new();
    for (index, &credits) in workload.credits.iter().enumerate() {
        let api_key = format!("rbk_chaos_{}", Uuid::new_v4().simple());
        let account = Account {
            id: Uuid::new_v4(),
            credits,
            webhook_secret: WebhookSecret::generate()?,
            previous_webhook_secret: None,
            limits: LimitOverrides {
                bulk_per_minute: Some(10_000),
                read_per_minute: Some(100_000),
                read_per_second: Some(10_000),
            },
            active: true,
            created_at: Utc::now(),
        };
        store
            .create_account(&account, &ApiKey::new(&api_key).digest())
            .await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let webhook_url = format!("http://{}/hooks", listener.local_addr()?);
        let secret = account.webhook_secret.expose().to_owned();
        let (seen, sequence) = (Arc::clone(deliveries), Arc::clone(&sequence));
        tokio::spawn(async move {
            receiver::serve(listener, Some(&secret), move |received| {
                let seq = sequence.fetch_add(1, Ordering::SeqCst);
                seen.lock().expect("deliveries lock").push(Delivery {
                    seq,
                    account: index,
                    received,
                });
            })
            .await
        });
        accounts.push(OpenAccount {
            id: account.id,
            api_key,
            webhook_url,
            credits,
        });
    }
    Ok(accounts)
}

/// Holds submissions back while the item queue's backlog is too long for the emulator.
struct Pace<'a> {
    sqs: &'a aws_sdk_sqs::Client,
    queue_url: &'a str,
    backlog: u64,
    progress: bool,
}

impl Pace<'_> {
    async fn wait(&self) {
        loop {
            let waiting = self
                .sqs
                .get_queue_attributes()
                .queue_url(self.queue_url)
                .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                .send()
                .await
                .ok()
                .and_then(|answer| {
                    answer.attributes?[&QueueAttributeName::ApproximateNumberOfMessages]
                        .parse::<u64>()
                        .ok()
                });
            if waiting.is_some_and(|n| n < self.backlog) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Submits every bulk, a few at a time, each until it is accepted: a 500 is tried again with
/// the same `Idempotency-Key`, as a careful client would. `None` for a bulk never accepted.
async fn submit_all(
    client: &reqwest::Client,
    base: &str,
    workload: &Workload,
    accounts: &[OpenAccount],
    pace: &Pace<'_>,
) -> (Vec<Option<Uuid>>, Submissions) {
    use futures::StreamExt;
    let tally = Mutex::new(Submissions::default());
    let ids = futures::stream::iter(workload.bulks.iter())
        .map(|bulk| {
            let account = &accounts[bulk.account];
            let body = serde_json::json!({
                "webhook_url": account.webhook_url,
                "radars": bulk.radars,
            })
            .to_string();
            let key = Uuid::new_v4().to_string();
            let tally = &tally;
            async move {
                pace.wait().await;
                let started = Instant::now();
                for _ in 0..SUBMIT_TRIES {
                    if started.elapsed() > SUBMIT_PATIENCE {
                        break;
                    }
                    let answer = client
                        .post(format!("{base}/v1/radars/bulk"))
                        .header("x-api-key", &account.api_key)
                        .header("idempotency-key", &key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let status = answer.as_ref().map(reqwest::Response::status).ok();
                    {
                        let mut tally = tally.lock().expect("tally lock");
                        tally.attempts += 1;
                        match status.map(|s| s.as_u16()) {
                            Some(202) => tally.accepted += 1,
                            Some(500) => tally.failed += 1,
                            Some(409) => tally.in_progress += 1,
                            _ => tally.unexpected += 1,
                        }
                    }
                    if let Ok(answer) = answer
                        && answer.status() == 202
                    {
                        if pace.progress {
                            eprintln!("chaos: a bulk of {} items accepted", bulk.radars.len());
                        }
                        let text = answer.text().await.unwrap_or_default();
                        return serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v["bulk_id"].as_str()?.parse().ok());
                    }
                    let pause = if status.map(|s| s.as_u16()) == Some(409) {
                        Duration::from_secs(5)
                    } else {
                        Duration::from_millis(200)
                    };
                    tokio::time::sleep(pause).await;
                }
                None
            }
        })
        .buffered(SUBMITTERS)
        .collect()
        .await;
    (ids, tally.into_inner().expect("tally lock"))
}

/// Waits until every accepted bulk's `bulk_completed` has arrived and every queue is empty.
async fn settle(
    sqs: &aws_sdk_sqs::Client,
    provisioned: &Provisioned,
    deliveries: &Mutex<Vec<Delivery>>,
    bulk_ids: &[Option<Uuid>],
    settings: &Settings,
) -> bool {
    let started = Instant::now();
    let deadline = started + settings.patience;
    let mut said = started;
    while Instant::now() < deadline {
        let completed: usize = {
            let deliveries = deliveries.lock().expect("deliveries lock");
            let done: std::collections::HashSet<&str> = deliveries
                .iter()
                .filter(|d| d.received.body["update_type"] == "bulk_completed")
                .filter_map(|d| d.received.body["bulk_id"].as_str())
                .collect();
            bulk_ids
                .iter()
                .flatten()
                .filter(|id| done.contains(id.to_string().as_str()))
                .count()
        };
        let queued = queued(sqs, provisioned).await;
        let accepted = bulk_ids.iter().flatten().count();
        if completed == accepted && queued == Some(0) {
            return true;
        }
        if settings.progress && said.elapsed() >= Duration::from_secs(10) {
            said = Instant::now();
            eprintln!(
                "chaos: {:>4} s: {completed}/{accepted} bulks completed, {} messages queued",
                started.elapsed().as_secs(),
                queued.map_or_else(|| "?".into(), |n| n.to_string()),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// Messages on every queue of the stack, visible, in flight or delayed.
pub(crate) async fn queued(sqs: &aws_sdk_sqs::Client, provisioned: &Provisioned) -> Option<u64> {
    let mut total = 0;
    for queue in provisioned.queues.values() {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok()?
            .attributes
            .unwrap_or_default();
        total += attributes
            .values()
            .filter_map(|n| n.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// Each accepted bulk as the API shows it to its account, tried again through injected 500s.
async fn poll_all(
    client: &reqwest::Client,
    base: &str,
    workload: &Workload,
    accounts: &[OpenAccount],
    bulk_ids: &[Option<Uuid>],
) -> HashMap<Uuid, Value> {
    let mut polled = HashMap::new();
    for (bulk, id) in workload.bulks.iter().zip(bulk_ids) {
        let Some(id) = id else { continue };
        for _ in 0..SUBMIT_TRIES {
            let answer = client
                .get(format!("{base}/v1/radars/bulk/{id}"))
                .header("x-api-key", &accounts[bulk.account].api_key)
                .send()
                .await;
            if let Ok(answer) = answer
                && answer.status() == 200
                && let Ok(body) = serde_json::from_str(&answer.text().await.unwrap_or_default())
            {
                polled.insert(*id, body);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    polled
}
