//! `make bench`: measures the API against the local emulators and the functions' release
//! binaries, and writes `docs/PERFORMANCE.md`.
//!
//! - [`scenarios`]: submit latency, bulks from submit to `bulk_completed`, AWS usage per item,
//!   on the in-process functions of [`harness`] (each with metered clients of its own);
//! - [`functions`]: each release binary as a process behind a local Lambda [`runtime`] API:
//!   init time and peak memory under a 1000-item bulk;
//! - [`deliveries`]: the dispatcher's HTTP side on one core;
//! - [`lean`]: what `cargo tree` says each function links;
//! - [`contention`]: the strict model's table, the processor at N invocations behind the
//!   contention proxy;
//! - [`noisy`]: one account's bulk alone and beside another's failing webhook endpoint;
//! - [`cost`]: list prices and the cost of a million items; [`report`] writes it all down.

pub mod contention;
pub mod cost;
pub mod deliveries;
pub mod functions;
pub mod harness;
pub mod lean;
pub mod noisy;
pub mod report;
pub mod runtime;
pub mod scenarios;
pub mod size;
pub mod stats;
pub mod workload;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Failed(String),
    #[error("setting up: {0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Shared(#[from] shared::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
