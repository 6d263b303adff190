//! `GET /v1/radars/bulk/{bulk_id}` against DynamoDB Local: the handler is called with API
//! Gateway HTTP API events, exactly as Lambda would call it, and bulks are seeded through the
//! store's own API (`begin_bulk`, `put_items`, `accept_bulk`, `mark_item_terminal`).

mod helpers;

mod auth;
mod bodies;
mod not_found;
mod rate_limits;
mod scale;
