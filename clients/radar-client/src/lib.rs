//! The reference client of the radar API, on the server's own wire types (`shared::api`), so
//! the two cannot drift apart.
//!
//! - [`Client`]: the API's requests, each answered with its typed body; every retry and every
//!   wait for a rate limit happens here, by the rules of [`Retry`].
//! - [`input`]: a CSV, JSON Lines or JSON file read into radars, each with the line it came
//!   from; [`chunk`] splits them into bulks of at most 1000 items and 1 MB, each with an
//!   `Idempotency-Key` derived from the file, so submitting the same file twice sends nothing
//!   twice.
//! - [`state`]: the small file that remembers which bulks came from which lines.
//! - [`results`]: a bulk's poll answer as one row per item, and as a CSV file.
//! - [`webhook`]: a local receiver that verifies Standard Webhooks signatures.

pub mod chunk;
mod client;
mod error;
pub mod input;
pub mod results;
mod retry;
pub mod state;
pub mod webhook;

pub use client::{Client, Submitted};
pub use error::{Error, Result};
pub use retry::Retry;
