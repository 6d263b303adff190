//! What a million items cost at AWS's list prices, from what the benchmarks metered.

use crate::scenarios::BulkUsage;

/// us-east-1 on-demand list prices, USD (DynamoDB's since its 2024-11-01 price cut; SQS
/// standard queues past the free tier; Lambda on arm64, first duration tier).
pub const PRICES_AS_OF: &str = "2024-11-01, when DynamoDB's on-demand price cut took effect \
    (checked on 2026-11-24 against published summaries of AWS's price list; this machine cannot \
    reach aws.amazon.com)";
pub const WRITE_UNIT: f64 = 0.625 / 1e6;
pub const READ_UNIT: f64 = 0.125 / 1e6;
/// Each 64 KB chunk of a request's payload is a request; every request here is under 64 KB.
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// The template's `MemorySize` for every function.
pub const MEMORY_GB: f64 = 0.25;

/// Per item of a 1000-item bulk, every function together.
#[derive(Debug, Clone, Copy)]
pub struct PerItem {
    pub write_units: f64,
    pub read_units: f64,
    pub sqs_requests: f64,
    pub lambda_requests: f64,
    pub gb_seconds: f64,
}

const ITEMS: f64 = 1000.0;

#[allow(clippy::cast_precision_loss)]
pub fn per_item(bulk: &BulkUsage) -> PerItem {
    let write = bulk.submit.write_units
        + bulk.processor.write_units
        + bulk.transaction_write_units
        + bulk.dispatcher.write_units;
    let read = bulk.submit.read_units + bulk.processor.read_units + bulk.dispatcher.read_units;
    let invocations = bulk.processor_busy.invocations + bulk.dispatcher_busy.invocations;
    // Lambda's pollers: one receive and one delete a batch (idle polling is left out: it
    // happens whether or not items flow).
    let polling = 2 * invocations;
    let sqs = bulk.submit.of_service("SQS")
        + bulk.processor.of_service("SQS")
        + bulk.dispatcher.of_service("SQS")
        + polling;
    let busy = bulk.submit_time + bulk.processor_busy.time + bulk.dispatcher_busy.time;
    PerItem {
        write_units: write / ITEMS,
        read_units: read / ITEMS,
        sqs_requests: sqs as f64 / ITEMS,
        lambda_requests: (1 + invocations) as f64 / ITEMS,
        gb_seconds: MEMORY_GB * busy.as_secs_f64() / ITEMS,
    }
}

/// Dollars per million items, by line: (what, quantity per million, price each, dollars).
pub fn per_million(item: &PerItem) -> Vec<(&'static str, f64, f64, f64)> {
    let line =
        |what, per_item: f64, price: f64| (what, per_item * 1e6, price, per_item * 1e6 * price);
    vec![
        line("DynamoDB write units", item.write_units, WRITE_UNIT),
        line("DynamoDB read units", item.read_units, READ_UNIT),
        line("SQS requests", item.sqs_requests, SQS_REQUEST),
        line("Lambda requests", item.lambda_requests, LAMBDA_REQUEST),
        line("Lambda GB-seconds", item.gb_seconds, LAMBDA_GB_SECOND),
    ]
}
