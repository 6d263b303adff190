//! The strict model's table: one account submits bulks of 1000 valid items while the
//! processor runs at N concurrent invocations, every function's DynamoDB calls going through
//! the contention proxy (`chaos::contention`): transactions hold what they write for about
//! 10 ms, partitions have DynamoDB's per-key limits. What counts is what the proxy saw, not
//! items a second: DynamoDB Local runs one transaction at a time, so throughput here is the
//! emulator's.

use std::time::{Duration, Instant};

use chaos::{
    contention::Contention,
    proxy::{Plan, Proxy},
};

use crate::{
    Error, Result,
    harness::{Options, Stack},
    workload,
};

/// How long one run may take.
const PATIENCE: Duration = Duration::from_secs(1800);
/// The dispatcher's workers in every run: only the processor's vary.
const DISPATCHERS: usize = 8;

/// One row: a run at `processors` concurrent processor invocations.
#[derive(Debug, Clone)]
pub struct ContentionRun {
    pub processors: usize,
    pub items: usize,
    /// `TransactWriteItems` calls the proxy judged, and those it cancelled.
    pub transactions: u64,
    pub cancelled: u64,
    /// Processor invocations that left messages to SQS, and the messages.
    pub deferred_batches: usize,
    pub retried_messages: usize,
    /// Items whose outcome is a failure: every item is valid and unique and the balance
    /// ample, so each is a 500.
    pub failed: u64,
    /// Write units of every write the proxy let through, and those the cancelled transactions
    /// would have written.
    pub write_units: f64,
    pub cancelled_write_units: f64,
    /// Write units let through to the bulks' partitions (`BULK#…`).
    pub bulk_write_units: f64,
    /// The item written most often (its key) and its writes.
    pub most_written: Option<(String, u64)>,
    /// Writes to the account's record: the hot key of a write path that charges per batch.
    pub account_writes: u64,
    pub elapsed: Duration,
}

impl ContentionRun {
    /// Write units per created item, cancelled attempts billed as if they were written.
    pub fn units_per_created_item(&self) -> f64 {
        (self.write_units + self.cancelled_write_units) / self.created()
    }

    fn created(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let created = (self.items as u64 - self.failed).max(1) as f64;
        created
    }

    /// Write units in the bulks' partitions per created item.
    pub fn bulk_units_per_created_item(&self) -> f64 {
        self.bulk_write_units / self.created()
    }

    /// Writes to the most-written item per 1000 created items.
    #[allow(clippy::cast_precision_loss)]
    pub fn hottest_per_thousand(&self) -> Option<f64> {
        self.most_written
            .as_ref()
            .map(|(_, writes)| *writes as f64 * 1000.0 / self.created())
    }

    /// Writes to the account's record per 1000 created items.
    #[allow(clippy::cast_precision_loss)]
    pub fn account_writes_per_thousand(&self) -> f64 {
        self.account_writes as f64 * 1000.0 / self.created()
    }
}

/// A run per entry of `processors`, each of `bulks` bulks.
pub async fn table(bulks: usize, processors: &[usize]) -> Result<Vec<ContentionRun>> {
    let mut rows = Vec::new();
    for &n in processors {
        eprintln!("bench: contention at N = {n}");
        rows.push(run(bulks, n).await?);
    }
    Ok(rows)
}

async fn run(bulks: usize, processors: usize) -> Result<ContentionRun> {
    let emulator = test_support::Endpoints::from_env().dynamodb;
    let proxy = Proxy::start_with(
        &emulator,
        Plan::every_fault(0.0, Duration::ZERO),
        Some(Contention::default()),
    )
    .await?;
    let stack = Stack::start_with(Options {
        concurrency: Some(DISPATCHERS),
        processors: Some(processors),
        dynamodb: Some(proxy.url.clone()),
        ..Options::default()
    })
    .await?;
    let started = Instant::now();
    let mut ids = Vec::new();
    for bulk in 0..bulks {
        let body = workload::body(&stack.webhook_url, bulk, workload::small_item);
        ids.push(stack.submit(body).await?.0);
    }
    let last = stack.completed(&ids, PATIENCE).await?;
    let counts = proxy
        .tally()
        .contention
        .ok_or_else(|| Error::Failed("the proxy ran without its contention model".into()))?;
    let busy = stack.timed.busy("processor");
    Ok(ContentionRun {
        processors,
        items: bulks * 1000,
        transactions: counts.transactions,
        cancelled: counts.cancelled,
        deferred_batches: busy.deferred,
        retried_messages: busy.retried,
        failed: stack.failed(),
        write_units: counts.total().write_units,
        cancelled_write_units: counts.cancelled_write_units,
        bulk_write_units: counts
            .by_kind
            .get("BULK")
            .map_or(0.0, |kind| kind.write_units),
        most_written: counts
            .most_written()
            .map(|(key, writes)| (format!("{} / {}", key.pk, key.sk), writes)),
        account_writes: counts
            .writes
            .iter()
            .filter(|(key, _)| key.pk.starts_with("ACCOUNT#"))
            .map(|(_, writes)| writes)
            .sum(),
        elapsed: last - started,
    })
}
