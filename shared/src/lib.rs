//! Everything the radar-bulk functions share: the API's wire types, input parsing, errors,
//! configuration, authentication, rate limits and access to DynamoDB and SQS.
//!
//! # How data flows
//!
//! ```text
//! POST /v1/radars/bulk ─► submit ──► store: bulk + items ──► queue: one message per item
//!                                                               │
//!                          processor ◄──────────────────────────┘   (one terminal outcome per item)
//!                              │
//!                          dispatcher ──► customer's webhook        (per-item events, then bulk_completed)
//! GET /v1/radars/bulk/{id} ─► poll ──► store: bulk + items          (the same events, read back)
//! ```
//!
//! # Modules
//!
//! - [`api`]: serde types for every body the spec documents (submit request and 202, error
//!   envelope, the three webhook events, both poll shapes).
//! - [`submission`]: parses a submit body into a [`submission::Submission`], collecting every
//!   `{field, reason}` problem at once.
//! - [`single`]: parses a single create's body: one radar, validated as a bulk item is.
//! - [`radar`]: one item of `radars[]`, parsed by the radar-type table (kinds, costs, fields),
//!   normalised, with its 409 identity and its `radar_created` data. Pure logic for the processor.
//! - [`destination`]: fair delivery to one webhook host: slots in flight, pace, circuit
//!   breaker. Pure; stored by [`store::destinations`].
//! - [`webhook_url`] and [`net`]: the `webhook_url` rules, and which IP addresses are public.
//! - [`error`]: the crate's one error type and its mapping to the documented envelope.
//! - [`http`]: JSON responses with the rate-limit headers, for the two HTTP functions.
//! - [`config`]: [`config::Config`], read once from the environment.
//! - [`credentials`]: API keys (stored only as SHA-256 digests), webhook signing secrets
//!   (parsed to key bytes when read) and constant-time comparison. A leaf module.
//! - [`auth`]: request authentication, above the store.
//! - [`rate_limit`]: per-account buckets and windows; counting happens in [`store::rate`].
//! - [`store`]: DynamoDB access, one module per record kind; the key layout is documented there.
//! - [`queue`]: the item queue and the webhook queue (batched, size-aware sends, per-message
//!   delays), and the messages each carries.
//! - [`idempotency`]: `Idempotency-Key` parsing and request fingerprints.
//! - [`clock`], [`telemetry`] and [`metrics`]: timestamps in the API's format, tracing set-up,
//!   and the CloudWatch metrics collector.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod destination;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod net;
pub mod queue;
pub mod radar;
pub mod rate_limit;
pub mod single;
pub mod store;
pub mod submission;
pub mod telemetry;
pub mod webhook_url;

pub use error::{Error, FieldError, Result};
