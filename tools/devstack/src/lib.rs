//! `make dev`: the whole API on one machine.
//!
//! - [`stack`]: the template's tables and queues on the emulators, a development account, and
//!   the environment files (`.local/dev.env` for a shell, `.local/functions.env` for
//!   `cargo lambda watch`).
//! - [`bridge`]: the SQS event source mapping, between the local queues and the processor and
//!   dispatcher running under `cargo lambda watch`.
//! - [`delivery`]: how the bridge delivers: as moto does (in order, once), or as a standard SQS
//!   queue does (out of order, held back, now and then twice).
//! - [`local`]: the five functions in this process, behind the bridge and an HTTP server.
//! - [`receiver`]: a webhook receiver on 127.0.0.1 that checks signatures and prints events.

pub mod bridge;
pub mod delivery;
pub mod local;
pub mod receiver;
pub mod stack;

/// Everything setting up the stack can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provision(#[from] provision::Error),
    #[error(transparent)]
    Shared(#[from] shared::Error),
    #[error(transparent)]
    Radarctl(#[from] radarctl::Error),
    #[error("writing the environment files")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
