//! One chaos run: a fresh stack on the emulators, the five functions in this process with their
//! AWS calls through the fault proxies and their invocations killed at random, accounts
//! submitting bulks over HTTP, webhook receivers recording every delivery; then, once it has
//! settled, the invariants checked against what the receivers, the API and the table say.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_config::Region;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use devstack::{
    bridge::{self, Pumped, Shuffle, Source},
    local::{self, Functions},
};
use provision::{Provisioned, Template};
use shared::{
    config::{AWS_ATTEMPT_TIMEOUT, Config},
    store::Store,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    Error, Result,
    accounts::{self, Delivery},
    contention::Contention,
    kill::{Killing, Kills},
    proxy::{Plan, Proxy, Tally},
    settle,
    timing::{self, Timing},
    traffic::{self, Pace, Submissions},
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
    /// The event source mapping delivers as a standard SQS queue does ([`Shuffle::default`]).
    pub shuffle: bool,
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
    /// Hold DynamoDB calls to DynamoDB's own contention ([`Contention::default`]): conflicts on
    /// items other transactions hold, and each partition's throughput.
    pub contention: bool,
}

/// Where the emulators listen.
#[derive(Debug, Clone)]
pub struct Emulators {
    pub dynamodb: String,
    pub sqs: String,
}

/// What a run did and what held.
#[derive(Debug, Clone)]
pub struct Report {
    pub settings: Settings,
    pub items: usize,
    pub dynamodb: Tally,
    pub sqs: Tally,
    pub kills: Kills,
    /// What the event source mapping did, by function.
    pub pumped: BTreeMap<String, Pumped>,
    pub submissions: Submissions,
    /// `created`, `400`, `402`, `409`, `500`: items by outcome.
    pub outcomes: BTreeMap<String, u64>,
    pub deliveries: usize,
    pub duplicate_deliveries: usize,
    pub checks: Vec<Check>,
    /// How long bulks took, by their accounts' endpoints.
    pub timing: Timing,
    pub elapsed: Duration,
}

impl Report {
    pub fn held(&self) -> bool {
        self.checks.iter().all(|check| check.held)
    }
}

/// How long the proxy holds a timed-out answer: past the functions' attempt timeout, which is
/// production's. A shorter one would turn a busy emulator's slow answers into retries, and the
/// retries into more load, until the emulator stops answering.
const HOLD: Duration = AWS_ATTEMPT_TIMEOUT.saturating_add(Duration::from_secs(1));
/// Queue visibility during a run: a killed batch comes back this soon.
const VISIBILITY_SECONDS: &str = "10";
/// Invocations die within this long of starting.
const KILL_WITHIN: Duration = Duration::from_millis(800);
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
    let contention = settings.contention.then(Contention::default);
    let dynamodb_proxy = Proxy::start_with(&emulators.dynamodb, plan.clone(), contention).await?;
    let sqs_proxy = Proxy::start(&emulators.sqs, plan).await?;
    let through_proxies = Emulators {
        dynamodb: dynamodb_proxy.url.clone(),
        sqs: sqs_proxy.url.clone(),
    };
    let mut faulty = Vec::new();
    // One pair per function, as `Functions::each` asks for them.
    for _ in 0..5 {
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
    let accounts = accounts::open_accounts(&store, &workload, &deliveries).await?;
    let (base, serving) = local::serve_api_on_loopback(Arc::clone(&functions)).await?;
    let killing = Arc::new(Killing::new(
        Functions::clone(&functions),
        settings.kill_rate,
        KILL_WITHIN,
    ));
    let (bridging, delivery) =
        start_bridge(&direct.sqs, &template, &provisioned, &settings, &killing)?;

    let client = reqwest::Client::new();
    let item_queue = &provisioned.queues["ItemQueue"].url;
    let pace = Pace {
        sqs: &direct.sqs,
        queue_url: item_queue,
        backlog: settings.backlog,
        progress: settings.progress,
    };
    let (accepted, submissions) =
        traffic::submit_all(&client, &base, &workload, &accounts, &pace).await;
    let bulk_ids: Vec<Option<Uuid>> = accepted.iter().map(|a| a.map(|a| a.id)).collect();
    let settled = settle::settle(
        &store,
        &direct.sqs,
        &provisioned,
        &deliveries,
        &bulk_ids,
        settings.patience,
        settings.progress,
    )
    .await;
    bridging.abort();

    let deliveries = deliveries.lock().expect("deliveries lock").clone();
    let polled = traffic::poll_all(&client, &base, &workload, &accounts, &bulk_ids).await;
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
        attempts: u32::try_from(config.dispatch.retry_schedule.len() + 1).unwrap_or(u32::MAX),
    };
    let (checks, outcomes) = verify::check(&evidence).await?;
    let timing = timing::measure(&workload, &accepted, &deliveries);
    Ok(Report {
        items: workload.items(),
        dynamodb: dynamodb_proxy.tally(),
        sqs: sqs_proxy.tally(),
        kills: killing.kills(),
        pumped: delivery.pumped(),
        submissions,
        outcomes,
        deliveries: deliveries.len(),
        duplicate_deliveries: accounts::duplicates(&deliveries),
        checks,
        timing,
        elapsed: started.elapsed(),
        settings,
    })
}

/// The event source mapping: the template's sources at the run's concurrency, each invocation
/// through `killing`, delivering as moto does or, with [`Settings::shuffle`], as SQS does.
fn start_bridge(
    sqs: &aws_sdk_sqs::Client,
    template: &Template,
    provisioned: &Provisioned,
    settings: &Settings,
    killing: &Arc<Killing<Functions>>,
) -> Result<(JoinHandle<()>, Arc<bridge::Delivery>)> {
    let sources: Vec<Source> = devstack::stack::sources(template, provisioned)?
        .into_iter()
        .map(|mut source| {
            source.concurrency = source.concurrency.min(settings.concurrency);
            source
        })
        .collect();
    // SQS's own delivery: out of order, now and then twice, and fair between accounts (every
    // message carries its account's group).
    let delivery = Arc::new(if settings.shuffle {
        bridge::Delivery::shuffled(Shuffle::default()).with_fair_queues()
    } else {
        bridge::Delivery::exact()
    });
    let bridging = bridge::spawn_with(
        sqs.clone(),
        sources,
        Arc::clone(killing),
        Arc::clone(&delivery),
    );
    Ok((bridging, delivery))
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
