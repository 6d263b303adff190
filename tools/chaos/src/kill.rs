//! Killed invocations: what Lambda does to a function that times out, runs out of memory or
//! loses its sandbox. The invocation's future is dropped part-way through, at whatever await
//! it had reached (the functions spawn no tasks, so nothing of it runs on), or it runs to the
//! end and its answer is lost. Either way the event source mapping sees a failed invocation
//! and deletes nothing, so every message of the batch comes back.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use devstack::bridge::Invoke;

/// Wraps a function so that a share of its invocations die.
#[derive(Debug)]
pub struct Killing<I> {
    inner: I,
    /// The share of invocations killed, 0 to 1.
    rate: f64,
    /// A killed invocation dies at a random moment before this.
    within: Duration,
    killed_midway: AtomicU64,
    lost_answers: AtomicU64,
    invocations: AtomicU64,
}

/// How many invocations died, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kills {
    pub invocations: u64,
    /// Dropped part-way through.
    pub midway: u64,
    /// Ran to the end; the answer never reached the event source mapping.
    pub lost_answers: u64,
}

impl<I: Invoke> Killing<I> {
    pub fn new(inner: I, rate: f64, within: Duration) -> Self {
        Self {
            inner,
            rate,
            within,
            killed_midway: AtomicU64::new(0),
            lost_answers: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
        }
    }

    pub fn kills(&self) -> Kills {
        Kills {
            invocations: self.invocations.load(Ordering::Relaxed),
            midway: self.killed_midway.load(Ordering::Relaxed),
            lost_answers: self.lost_answers.load(Ordering::Relaxed),
        }
    }
}

impl<I: Invoke> Invoke for Killing<I> {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        if fastrand::f64() >= self.rate {
            return self.inner.invoke(function, event).await;
        }
        if fastrand::bool() {
            let _ = self.inner.invoke(function, event).await;
            self.lost_answers.fetch_add(1, Ordering::Relaxed);
            return Err("killed after it finished: its answer was lost".into());
        }
        let deadline = self.within.mul_f64(fastrand::f64());
        if let Ok(answer) = tokio::time::timeout(deadline, self.inner.invoke(function, event)).await
        {
            return answer;
        }
        self.killed_midway.fetch_add(1, Ordering::Relaxed);
        Err(format!("killed {} ms in", deadline.as_millis()))
    }
}
