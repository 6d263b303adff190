//! The radar resources against DynamoDB Local: every route of the `radars` function, each
//! status it answers, called with API Gateway HTTP API events.

mod helpers;

mod account;
mod bulks;
mod create;
mod read;
