//! Each function's release binary under a 1000-item, ~1 MB bulk: submit takes it, the
//! processor decides its items (100 batches of 10), the dispatcher delivers its 1001 events to
//! the local receiver (the last, `bulk_completed`, about 1 MB), and poll answers it whole.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use devstack::bridge::{self, Source};
use test_support::api_event;

use crate::{Error, Result, harness::Stack, runtime::Function, workload};

/// The functions run here under the bulk.
pub const NAMES: [&str; 4] = ["submit", "processor", "dispatcher", "poll"];
/// Every function the template deploys: their dependency stacks and binary sizes are measured.
pub const DEPLOYED: [&str; 5] = ["submit", "processor", "dispatcher", "poll", "radars"];

/// One function's process.
#[derive(Debug, Clone)]
pub struct Run {
    pub name: &'static str,
    /// From starting the process to its first request for an event.
    pub init: Duration,
    /// From starting the process to its first answer.
    pub first_answer: Duration,
    pub peak_rss_kib: u64,
}

pub async fn run_all(binaries: &Path) -> Result<Vec<Run>> {
    let stack = Stack::start(None).await?;
    let environment = stack.environment();
    let mut runs = Vec::new();
    let mut bulk_id = String::new();
    for name in NAMES {
        let function = Function::start(&binaries.join(name), &environment).await?;
        let init = function.init().await?;
        match name {
            "submit" => bulk_id = submit(&stack, &function).await?,
            "processor" => drain(&stack, &function, "processor", "ItemQueue", || true).await?,
            "dispatcher" => {
                drain(&stack, &function, "dispatcher", "WebhookQueue", || {
                    stack.is_completed(&bulk_id)
                })
                .await?;
            }
            _ => poll(&stack, &function, &bulk_id).await?,
        }
        runs.push(Run {
            name,
            init,
            first_answer: function.first_answer().unwrap_or_default(),
            peak_rss_kib: function.peak_rss_kib()?,
        });
        function.stop().await?;
    }
    Ok(runs)
}

async fn submit(stack: &Stack, function: &Function) -> Result<String> {
    let body = workload::body(&stack.webhook_url, 0, workload::large_item);
    let headers = [
        ("x-api-key", stack.account.api_key.as_str()),
        ("content-type", "application/json"),
    ];
    let event = api_event("POST", "/v1/radars/bulk", &headers, &body);
    let answer: serde_json::Value =
        serde_json::from_slice(&function.call(event.to_string().into()).await?)?;
    if answer["statusCode"] != 202 {
        return Err(Error::Failed(format!("submit answered {answer}")));
    }
    let body: serde_json::Value =
        serde_json::from_str(answer["body"].as_str().unwrap_or_default())?;
    body["bulk_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Failed(format!("a 202 without a bulk_id: {body}")))
}

async fn poll(stack: &Stack, function: &Function, bulk_id: &str) -> Result<()> {
    let path = format!("/v1/radars/bulk/{bulk_id}");
    let headers = [("x-api-key", stack.account.api_key.as_str())];
    let mut event = api_event("GET", &path, &headers, "");
    event["pathParameters"] = serde_json::json!({ "bulk_id": bulk_id });
    let answer: serde_json::Value =
        serde_json::from_slice(&function.call(event.to_string().into()).await?)?;
    if answer["statusCode"] != 200 {
        return Err(Error::Failed(format!(
            "poll answered {}",
            answer["statusCode"]
        )));
    }
    Ok(())
}

/// Feeds the function its queue, a batch at a time, until the queue is empty (and `done`).
async fn drain(
    stack: &Stack,
    function: &Function,
    name: &str,
    queue: &str,
    done: impl Fn() -> bool,
) -> Result<()> {
    let source = Source {
        function: name.to_owned(),
        queue_url: stack.env.queue_url(queue),
        queue_arn: stack.env.provisioned.queues[queue].arn.clone(),
        batch_size: 10,
        concurrency: 1,
        partial_batch_responses: true,
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pumped = bridge::pump(&stack.env.sqs, &source, function)
            .await
            .map_err(|error| Error::Failed(error.to_string()))?;
        if pumped.received == 0 && done() && stack.env.queue_depth(queue).await == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Failed(format!("{name} did not drain {queue}")));
        }
    }
}
