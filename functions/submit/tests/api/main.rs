//! `POST /v1/radars/bulk` against DynamoDB Local and the SQS emulator: the handler is called
//! with API Gateway HTTP API events, exactly as Lambda would call it.

mod helpers;

mod accepted;
mod auth;
mod envelope;
mod idempotency;
mod queueing;
mod rate_limits;
