//! The noisy neighbour (DESIGN.md's invariant 9): how long account B's bulk takes from its
//! submit to its `bulk_completed`, alone and right after account A submitted a large bulk whose
//! webhook endpoint misbehaves, and how often A's endpoint was tried meanwhile.
//!
//! Each run has a fresh stack ([`Stack`] with [`Options::as_template`]): the template's event
//! source mappings, each at its own `MaximumConcurrency` (the dispatcher's 20), and the
//! dispatcher's own settings (its 15 s webhook timeout and retry schedule) unless the bench is
//! told otherwise. B's endpoint is the stack's receiver, which answers 200 at once; A's is a
//! [`chaos::endpoint`], a real server on 127.0.0.1 that counts every attempt against it. B
//! gets a deadline: a run that does not complete within it says so rather than hang.

use std::time::{Duration, Instant};

use chaos::endpoint::{Behaviour, Endpoint};
use shared::rate_limit::LimitOverrides;

use crate::{
    Error, Result,
    harness::{Options, Stack},
    workload,
};

/// Whom B's bulk runs beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbour {
    /// Nobody: the figure the others are compared with.
    Alone,
    /// A's bulk to an endpoint that answers 200 at once: what A's load costs B by itself.
    Answering,
    /// A's bulk to an endpoint that accepts connections and never answers.
    Silent,
    /// A's bulk to an endpoint that answers 500 after 10 s.
    Failing,
}

impl Neighbour {
    /// Every run, in the order they are made.
    pub const ALL: [Self; 4] = [Self::Alone, Self::Answering, Self::Silent, Self::Failing];

    fn endpoint(self) -> Option<Behaviour> {
        match self {
            Self::Alone => None,
            Self::Answering => Some(Behaviour::Answers),
            Self::Silent => Some(Behaviour::Silent),
            Self::Failing => Some(Behaviour::Late {
                status: 500,
                after: Duration::from_secs(10),
            }),
        }
    }

    /// How a report names the run.
    pub fn describe(self) -> String {
        match self.endpoint() {
            None => "alone".into(),
            Some(endpoint) => format!("beside A's endpoint that {}", endpoint.describe()),
        }
    }

    /// Whether the run has a target (the other ones explain it).
    pub fn has_target(self) -> bool {
        matches!(self, Self::Silent | Self::Failing)
    }
}

/// The most B may take beside A, as a multiple of its time alone.
pub const TARGET_RATIO: f64 = 1.5;

/// What to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub a_items: usize,
    pub b_items: usize,
    /// How long B's bulk may take in each run.
    pub deadline: Duration,
    /// The functions' environment beyond the template's (`NAME=VALUE`).
    pub environment: Vec<(String, String)>,
    /// Runs of each case, each on a fresh stack: the report gives their medians, since one
    /// run on a shared machine is as much the machine's figure as the code's.
    pub repeats: usize,
}

/// What the runs of one case saw: each figure the median over the runs.
#[derive(Debug, Clone)]
pub struct Run {
    pub neighbour: Neighbour,
    /// From B's submit to its `bulk_completed`; `None`: not within the deadline (in any run).
    pub took: Option<Duration>,
    /// [`Run::took`] of each run, in the order they ran.
    pub each: Vec<Option<Duration>>,
    /// From B's submit to the first sight of its bulk complete (every item decided, looked
    /// for every 100 ms): what the item queue cost, before any webhook.
    pub decided: Option<Duration>,
    /// From B's submit to the last of B's webhooks before its `bulk_completed` (or before
    /// the deadline).
    pub last_item_event: Option<Duration>,
    /// B's webhooks received by then, `bulk_completed` included.
    pub b_deliveries: usize,
    /// Requests A's endpoint got from B's submit until B's `bulk_completed` (or the deadline),
    /// by the endpoint's own count.
    pub attempts_on_a: u64,
}

/// What the stack ran with: the report says it, so a rerun can be checked against it.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Each event source mapping: function, queue URL, workers, batch size.
    pub sources: Vec<(String, String, usize, usize)>,
    pub webhook_timeout: Duration,
    /// Deliveries of one batch in flight at once.
    pub per_batch: usize,
    pub retry_schedule: Vec<Duration>,
}

/// Every run.
#[derive(Debug, Clone)]
pub struct Noisy {
    pub settings: Settings,
    pub setup: Setup,
    pub runs: Vec<Run>,
}

impl Noisy {
    /// B's time beside `run`'s neighbour over its time alone.
    pub fn ratio(&self, run: &Run) -> Option<f64> {
        let alone = self
            .runs
            .iter()
            .find(|r| r.neighbour == Neighbour::Alone)?
            .took?;
        Some(run.took?.as_secs_f64() / alone.as_secs_f64().max(1e-3))
    }

    /// Whether `run` met [`TARGET_RATIO`] (a run that did not complete did not).
    pub fn met(&self, run: &Run) -> bool {
        self.ratio(run).is_some_and(|ratio| ratio <= TARGET_RATIO)
    }
}

/// [`Settings::repeats`] runs of each case of [`Neighbour::ALL`], each on a fresh stack, the
/// cases taking turns so that a slow spell of the machine does not fall on one case only.
pub async fn measure(settings: Settings) -> Result<Noisy> {
    let mut seen: Vec<Vec<Run>> = vec![Vec::new(); Neighbour::ALL.len()];
    let mut setup = Setup::default();
    for round in 1..=settings.repeats.max(1) {
        for (neighbour, runs) in Neighbour::ALL.into_iter().zip(&mut seen) {
            eprintln!(
                "bench: noisy neighbour: B's bulk {} (run {round})",
                neighbour.describe()
            );
            let (run, stack_setup) = run(neighbour, &settings).await?;
            eprintln!("bench: noisy neighbour: {}", line(&run, &settings));
            runs.push(run);
            setup = stack_setup;
        }
    }
    Ok(Noisy {
        settings,
        setup,
        runs: seen.iter().map(Vec::as_slice).filter_map(medians).collect(),
    })
}

/// One case's runs in one: the median of each figure (of the smaller middle one for an even
/// count), none for a time if a run did not complete.
fn medians(runs: &[Run]) -> Option<Run> {
    fn middle<T: Ord + Copy>(mut values: Vec<T>) -> Option<T> {
        values.sort_unstable();
        values.get(values.len().saturating_sub(1) / 2).copied()
    }
    fn time(runs: &[Run], figure: impl Fn(&Run) -> Option<Duration>) -> Option<Duration> {
        let values: Option<Vec<Duration>> = runs.iter().map(figure).collect();
        middle(values?)
    }
    let first = runs.first()?;
    Some(Run {
        neighbour: first.neighbour,
        took: time(runs, |run| run.took),
        each: runs.iter().map(|run| run.took).collect(),
        decided: time(runs, |run| run.decided),
        last_item_event: time(runs, |run| run.last_item_event),
        b_deliveries: runs.iter().map(|run| run.b_deliveries).min()?,
        attempts_on_a: middle(runs.iter().map(|run| run.attempts_on_a).collect())?,
    })
}

fn line(run: &Run, settings: &Settings) -> String {
    let took = run.took.map_or_else(
        || format!("did not complete within {:?}", settings.deadline),
        |took| format!("bulk_completed after {:.1} s", took.as_secs_f64()),
    );
    format!(
        "{took}; {} of B's webhooks; {} attempts on A's endpoint meanwhile",
        run.b_deliveries, run.attempts_on_a
    )
}

/// How often a waiting run says where it stands.
const PROGRESS: Duration = Duration::from_secs(30);

async fn run(neighbour: Neighbour, settings: &Settings) -> Result<(Run, Setup)> {
    let stack = Stack::start_with(Options {
        as_template: true,
        environment: settings.environment.clone(),
        ..Options::default()
    })
    .await?;
    let setup = Setup {
        sources: stack
            .sources
            .iter()
            .map(|s| {
                let queue = s.queue_url.clone();
                (s.function.clone(), queue, s.concurrency, s.batch_size)
            })
            .collect(),
        webhook_timeout: stack.config.dispatch.timeout,
        per_batch: stack.config.dispatch.concurrency,
        retry_schedule: stack.config.dispatch.retry_schedule.clone(),
    };
    let a = match neighbour.endpoint() {
        None => None,
        Some(behaviour) => {
            let endpoint = Endpoint::start(behaviour, None, |_| {}).await?;
            let account = stack
                .env
                .account_with(10_000_000, LimitOverrides::default())
                .await;
            let body = workload::sized(&endpoint.url, 0, settings.a_items, workload::small_item);
            stack.submit_as(&account.api_key, body).await?;
            Some(endpoint)
        }
    };
    let attempts = || a.as_ref().map_or(0, Endpoint::requests);
    let before = attempts();
    let started = Instant::now();
    let body = workload::sized(
        &stack.webhook_url,
        1,
        settings.b_items,
        workload::small_item,
    );
    let (bulk, _) = stack.submit(body).await?;
    let bulk_id = bulk
        .parse()
        .map_err(|_| Error::Failed(format!("{bulk} is not a bulk id")))?;
    let store = stack.env.store();
    let mut decided = None;
    let mut said = started;
    let done = loop {
        // The bulk's completed_at has whole seconds only: its first sight is what counts.
        if decided.is_none()
            && store
                .get_bulk(bulk_id)
                .await?
                .is_some_and(|bulk| bulk.completion.is_some())
        {
            decided = Some(started.elapsed());
        }
        if let Some(at) = stack.completed_at(&bulk) {
            break Some(at);
        }
        if started.elapsed() >= settings.deadline {
            break None;
        }
        if said.elapsed() >= PROGRESS {
            said = Instant::now();
            eprintln!(
                "bench: noisy neighbour: {:>4} s: {} of B's webhooks, {} attempts on A's endpoint",
                started.elapsed().as_secs(),
                stack.deliveries(),
                attempts() - before
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = done.map(|at| at - started);
    let run = Run {
        neighbour,
        took,
        each: vec![took],
        decided,
        last_item_event: stack.last_item_event().map(|at| at - started),
        b_deliveries: stack.deliveries(),
        attempts_on_a: attempts() - before,
    };
    Ok((run, setup))
}
