//! The run's clients over HTTP: accounts submitting their bulks (paced by the item queue's
//! backlog, retried through injected 500s as a careful client would), and polling them once
//! the run has settled.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use uuid::Uuid;

use crate::{accounts::OpenAccount, workload::Workload};

/// Bulks submitted at once.
const SUBMITTERS: usize = 4;
/// Tries at one bulk before the run gives up on it, and how long it may keep trying: past
/// `ABANDONED_AFTER`, when an attempt that could not even be marked aborted stops holding its
/// `Idempotency-Key`.
const SUBMIT_TRIES: u32 = 100;
const SUBMIT_PATIENCE: Duration = Duration::from_secs(180);

/// A bulk the API accepted, and when its `202` came.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub id: Uuid,
    pub at: Instant,
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

/// Holds submissions back while the item queue's backlog is too long for the emulator.
pub(crate) struct Pace<'a> {
    pub(crate) sqs: &'a aws_sdk_sqs::Client,
    pub(crate) queue_url: &'a str,
    pub(crate) backlog: u64,
    pub(crate) progress: bool,
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
pub(crate) async fn submit_all(
    client: &reqwest::Client,
    base: &str,
    workload: &Workload,
    accounts: &[OpenAccount],
    pace: &Pace<'_>,
) -> (Vec<Option<Accepted>>, Submissions) {
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
                        let at = Instant::now();
                        if pace.progress {
                            eprintln!("chaos: a bulk of {} items accepted", bulk.radars.len());
                        }
                        let text = answer.text().await.unwrap_or_default();
                        return serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v["bulk_id"].as_str()?.parse().ok())
                            .map(|id| Accepted { id, at });
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

/// Each accepted bulk as the API shows it to its account, tried again through injected 500s.
pub(crate) async fn poll_all(
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
