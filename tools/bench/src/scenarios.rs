//! The runs against the emulators: submit latency, bulks from submit to `bulk_completed`, and
//! what each function asks of AWS per item.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

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
/// after). Every bulk is settled by one transaction in the processor: its `refunded` mark and
/// the account's monthly usage, and for a prepaid bulk (its record holds `reserved`) the
/// account's balance and reserve too. A prepaid bulk's other transaction is its acceptance in
/// submit (the bulk's record and the account's). A metered bulk's others are the processor's
/// creating transactions, each writing its created items' outcomes and radars and charging
/// the account once.
async fn transaction_units(
    stack: &Stack,
    bulk_id: &str,
    submit: usize,
    processor: usize,
) -> Result<f64> {
    if submit + processor == 0 {
        return Ok(0.0);
    }
    let account_id = stack.account.id;
    let first_units = |records: Vec<(String, HashMap<String, AttributeValue>)>| {
        records
            .first()
            .map_or(1.0, |(_, record)| size::write_units(record))
    };
    let account_units = first_units(stack.env.partition(&format!("ACCOUNT#{account_id}")).await);
    let usage_units = first_units(stack.env.partition(&format!("USAGE#{account_id}")).await);
    let records = stack.env.partition(&format!("BULK#{bulk_id}")).await;
    let Some((_, bulk)) = records.iter().find(|(sk, _)| sk == "BULK") else {
        return Ok(0.0);
    };
    let bulk_units = size::write_units(bulk);
    let prepaid = bulk.contains_key("reserved");
    let settle = if processor > 0 {
        2.0 * (bulk_units + usage_units + if prepaid { account_units } else { 0.0 })
    } else {
        0.0
    };
    #[allow(clippy::cast_precision_loss)]
    if prepaid {
        return Ok(submit as f64 * 2.0 * (bulk_units + account_units) + settle);
    }
    let creating = processor.saturating_sub(1);
    if creating == 0 {
        return Ok(settle);
    }
    let radars = stack
        .env
        .dynamodb
        .scan()
        .table_name(stack.env.config().table_name)
        .filter_expression("begins_with(pk, :radar) AND bulk_id = :bulk")
        .expression_attribute_values(":radar", AttributeValue::S("RADAR#".into()))
        .expression_attribute_values(":bulk", AttributeValue::S(bulk_id.to_owned()))
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<Vec<_>, _>>()
        .await
        .map_err(|error| crate::Error::Failed(format!("scan: {error}")))?;
    let index = |record: &HashMap<String, AttributeValue>| match record.get("item_index") {
        Some(AttributeValue::N(index)) => Some(index.clone()),
        _ => None,
    };
    let created: BTreeSet<String> = radars.iter().filter_map(index).collect();
    let item_units: f64 = records
        .iter()
        .filter(|(sk, item)| {
            sk.starts_with("ITEM#") && index(item).is_some_and(|i| created.contains(&i))
        })
        .map(|(_, item)| 2.0 * size::write_units(item))
        .sum();
    let radar_units: f64 = radars
        .iter()
        .map(|radar| 2.0 * size::write_units(radar))
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let charges = 2.0 * account_units * creating as f64;
    Ok(item_units + radar_units + charges + settle)
}
