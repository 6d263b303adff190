//! `make chaos`: the whole API under injected AWS faults and killed invocations, and DESIGN.md's
//! invariants checked once it settles.
//!
//! - [`proxy`]: a fault-injecting HTTP proxy in front of DynamoDB Local and the SQS emulator,
//!   which can also hold DynamoDB to its real contention ([`contention`]: transaction conflicts
//!   and per-partition throughput).
//! - [`kill`]: invocations that die part-way through, or whose answer is lost.
//! - [`workload`]: the bulks the accounts submit, with invalid items, repeats and a short balance,
//!   and which accounts are noisy: an [`endpoint`] that never answers, one that flaps.
//! - [`run`]: one run, from a fresh stack to the evidence, through [`accounts`] (each with a
//!   recording webhook receiver), [`traffic`] (submitting and polling over HTTP) and
//!   [`settle`] (waiting until every bulk completed and every queue is empty).
//! - [`verify`]: the invariants, checked against the receivers ([`seen`]), the API and the
//!   table, and how each webhook delivery ended.
//! - [`report`]: the table a run prints, with how long bulks took ([`timing`]).

pub mod accounts;
pub mod contention;
pub mod endpoint;
pub mod kill;
pub mod proxy;
pub mod report;
pub mod run;
pub mod seen;
pub mod settle;
pub mod timing;
pub mod traffic;
pub mod verify;
pub mod workload;

/// Everything setting up or checking a run can fail with (a violation is not an error: it is
/// in the report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provision(#[from] provision::Error),
    #[error(transparent)]
    Devstack(#[from] devstack::Error),
    #[error(transparent)]
    Shared(#[from] shared::Error),
    #[error("AWS: {0}")]
    Aws(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
