//! The runs against the emulators: submit latency, bulks from submit to `bulk_completed`, and
//! what each function asks of AWS per item.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{
    Result,
    harness::{Busy, Stack, Usage},
    size,
    stats::Samples,
    workload,
};

/// How long one run may take before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(900);

/// Repeated 1000-item, ~1 MB submissions.
#[derive(Debug)]
pub struct SubmitRuns {
    pub body_bytes: usize,
    pub latency: Samples,
    /// AWS requests of one submission (each run sends the same).
    pub usage: Usage,
}

pub async fn submit(runs: usize) -> Result<SubmitRuns> {
    let mut latency = Samples::default();
    let mut usage = Usage::default();
    let mut body_bytes = 0;
    for run in 0..runs {
        // Fresh queues each time: moto slows down with every message it holds (and purges
        // a queue once a minute at most).
        let stack = Stack::start(None).await?;
        // A warm function: its clients have their connections open.
        let warm = serde_json::json!({
            "webhook_url": stack.webhook_url,
            "radars": [workload::small_item(run, 0)],
        });
        stack.submit(warm.to_string()).await?;
        let body = workload::body(&stack.webhook_url, run, workload::large_item);
        body_bytes = body.len();
        stack.meters.submit.reset();
        let (_, took) = stack.submit(body).await?;
        latency.push(took);
        usage = Usage::of(&stack.meters.submit);
    }
    Ok(SubmitRuns {
        body_bytes,
        latency,
        usage,
    })
}

/// Bulks carried from submit to the receiver's last `bulk_completed`.
#[derive(Debug)]
pub struct EndToEnd {
    pub bulks: usize,
    pub items: usize,
    pub elapsed: Duration,
    /// Until the last `202`.
    pub submitting: Duration,
    pub processor: Busy,
    pub dispatcher: Busy,
    pub deliveries: usize,
}

impl EndToEnd {
    pub fn items_per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let items = self.items as f64;
        items / self.elapsed.as_secs_f64()
    }
}

pub async fn end_to_end(bulks: usize, concurrency: usize) -> Result<EndToEnd> {
    let stack = Stack::start(Some(concurrency)).await?;
    let started = Instant::now();
    let mut ids = Vec::new();
    for bulk in 0..bulks {
        let body = workload::body(&stack.webhook_url, bulk, workload::large_item);
        ids.push(stack.submit(body).await?.0);
    }
    let submitting = started.elapsed();
    let last = stack.completed(&ids, PATIENCE).await?;
    Ok(EndToEnd {
        bulks,
        items: bulks * 1000,
        elapsed: last - started,
        submitting,
        processor: stack.timed.busy("processor"),
        dispatcher: stack.timed.busy("dispatcher"),
        deliveries: stack.deliveries(),
    })
}

/// What one outcome costs: every caller's usage over one 1000-item bulk.
#[derive(Debug, Clone)]
pub struct BulkUsage {
    pub submit: Usage,
    pub processor: Usage,
    pub dispatcher: Usage,
    pub item_polling: Usage,
    pub webhook_polling: Usage,
    pub processor_busy: Busy,
    pub dispatcher_busy: Busy,
    pub submit_time: Duration,
    pub deliveries: usize,
    /// Write units of the creating transactions, which DynamoDB Local cannot meter: priced
    /// from the size of the records they wrote.
    pub transaction_write_units: f64,
}

/// One bulk of 1000 created items and one of 1000 failed ones, metered apart.
#[derive(Debug)]
pub struct PerItem {
    pub created: BulkUsage,
    pub failed: BulkUsage,
}

pub async fn per_item(concurrency: usize) -> Result<PerItem> {
    let stack = Stack::start(Some(concurrency)).await?;
    let created = one_bulk(&stack, workload::small_item).await?;
    let failed = one_bulk(&stack, workload::invalid_item).await?;
    Ok(PerItem { created, failed })
}

async fn one_bulk(stack: &Stack, item: fn(usize, usize) -> serde_json::Value) -> Result<BulkUsage> {
    stack.meters.reset();
    stack.timed.reset();
    let deliveries = stack.deliveries();
    let (bulk_id, submit_time) = stack
        .submit(workload::body(&stack.webhook_url, 0, item))
        .await?;
    stack
        .completed(std::slice::from_ref(&bulk_id), PATIENCE)
        .await?;
    let processor = Usage::of(&stack.meters.processor);
    let submit = Usage::of(&stack.meters.submit);
    let transactions = |usage: &Usage| {
        usage
            .requests
            .get("DynamoDB.TransactWriteItems")
            .copied()
            .unwrap_or(0)
    };
    let transaction_write_units = transaction_units(
        stack,
        &bulk_id,
        transactions(&submit),
        transactions(&processor),
    )
    .await?;
    Ok(BulkUsage {
        submit,
        processor,
        dispatcher: Usage::of(&stack.meters.dispatcher),
        item_polling: Usage::of(&stack.meters.item_polling),
        webhook_polling: Usage::of(&stack.meters.webhook_polling),
        processor_busy: stack.timed.busy("processor"),
        dispatcher_busy: stack.timed.busy("dispatcher"),
        submit_time,
        deliveries: stack.deliveries() - deliveries,
        transaction_write_units,
    })
}

/// What DynamoDB bills the transactions of a bulk, which DynamoDB Local cannot meter: every
/// write at twice the units of its record's size (the larger of before and after, which is
/// after). A prepaid bulk's (its record holds `reserved`) are its acceptance in submit and its
/// refund in the processor, each writing the bulk's record and the account's. A metered
/// bulk's are the processor's creating transactions, each writing its items' outcomes and
/// radars and charging the account once.
async fn transaction_units(
    stack: &Stack,
    bulk_id: &str,
    submit: usize,
    processor: usize,
) -> Result<f64> {
    if submit + processor == 0 {
        return Ok(0.0);
    }
    let account = stack
        .env
        .partition(&format!("ACCOUNT#{}", stack.account.id))
        .await;
    let account_units = account
        .first()
        .map_or(1.0, |(_, record)| size::write_units(record));
    let records = stack.env.partition(&format!("BULK#{bulk_id}")).await;
    let bulk = records.iter().find(|(sk, _)| sk == "BULK");
    if let Some((_, record)) = bulk.filter(|(_, record)| record.contains_key("reserved")) {
        #[allow(clippy::cast_precision_loss)]
        let both = (submit + processor) as f64;
        return Ok(both * 2.0 * (size::write_units(record) + account_units));
    }
    let transactions = processor;
    if transactions == 0 {
        return Ok(0.0);
    }
    let item_units: f64 = records
        .iter()
        .filter(|(sk, _)| sk.starts_with("ITEM#"))
        .map(|(_, item)| 2.0 * size::write_units(item))
        .sum();
    let radars = stack
        .env
        .dynamodb
        .scan()
        .table_name(stack.env.config().table_name)
        .filter_expression("begins_with(pk, :radar)")
        .expression_attribute_values(":radar", AttributeValue::S("RADAR#".into()))
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<Vec<_>, _>>()
        .await
        .map_err(|error| crate::Error::Failed(format!("scan: {error}")))?;
    let radar_units: f64 = radars
        .iter()
        .map(|radar| 2.0 * size::write_units(radar))
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let charges = 2.0 * account_units * transactions as f64;
    Ok(item_units + radar_units + charges)
}
