//! An SDK interceptor that measures what DynamoDB bills: it asks for `ReturnConsumedCapacity`
//! on every data-plane request and sums the `ConsumedCapacity` of the answers, as write and
//! read units. The functions never ask for it themselves (it would lengthen every answer in
//! production for a figure only the tests and the benchmarks read).
//!
//! DynamoDB Local computes capacity as DynamoDB does (item size in 1 KB write and 4 KB read
//! steps) with two gaps: it reports none for a request that failed, such as a refused
//! conditional write, which DynamoDB bills; and for `TransactWriteItems` it reports only the
//! last write of the transaction (doubled), whatever the number of writes. Transactions are
//! therefore left out of [`Units::write`]: count them with the request counter and price them
//! from the size of the records they write (the benchmarks do).

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{
    ConfigBag, Intercept, RuntimeComponents,
    interceptors::{
        AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    },
};
use aws_smithy_runtime_api::{box_error::BoxError, client::orchestrator::Metadata};
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

/// The operations that write, and those that read; no other operation takes the parameter.
const WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];
const READS: [&str; 5] = [
    "GetItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "TransactGetItems",
];

/// Consumed capacity units, summed over every request of a client but transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    pub write: f64,
    pub read: f64,
}

/// Sums the capacity DynamoDB reports. Clones share the sums.
#[derive(Debug, Clone, Default)]
pub struct CapacityMeter(Arc<Mutex<Units>>);

impl CapacityMeter {
    pub fn units(&self) -> Units {
        *self.0.lock().unwrap()
    }

    pub fn reset(&self) {
        *self.0.lock().unwrap() = Units::default();
    }
}

fn operation(cfg: &ConfigBag) -> Option<&str> {
    cfg.load::<Metadata>().map(Metadata::name)
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(name) = operation(cfg) else {
            return Ok(());
        };
        if !WRITES.contains(&name) && !READS.contains(&name) {
            return Ok(());
        }
        let request = context.request_mut();
        let Some(bytes) = request.body().bytes() else {
            return Ok(());
        };
        let mut body: Value = serde_json::from_slice(bytes)?;
        body["ReturnConsumedCapacity"] = Value::from("TOTAL");
        let bytes = serde_json::to_vec(&body)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(name) = operation(cfg).filter(|name| *name != "TransactWriteItems") else {
            return Ok(());
        };
        let Some(bytes) = context.response().body().bytes() else {
            return Ok(());
        };
        let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
            return Ok(());
        };
        // One object for single-item operations, one per table for batches and transactions.
        let units: f64 = match &body["ConsumedCapacity"] {
            Value::Array(tables) => tables
                .iter()
                .map(|table| table["CapacityUnits"].as_f64())
                .sum::<Option<f64>>(),
            one => one["CapacityUnits"].as_f64(),
        }
        .unwrap_or(0.0);
        let mut sums = self.0.lock().unwrap();
        if WRITES.contains(&name) {
            sums.write += units;
        } else {
            sums.read += units;
        }
        Ok(())
    }
}
