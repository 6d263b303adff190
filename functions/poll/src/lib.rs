//! `GET /v1/radars/bulk/{bulk_id}`: a bulk's status and every item's result, read back from the
//! store. Terminal items are served as the exact event text their webhook carries, so polling
//! and webhooks tell the same story.
//!
//! A poll costs a fixed number of DynamoDB requests whatever the bulk's size: two reads to
//! authenticate, one conditional update per rate window, one read of the bulk record, then one
//! strongly consistent `Query` of the bulk's partition, paged by DynamoDB's 1 MB limit (see
//! [`shared::store::snapshot`]). No item is ever read on its own.

mod answer;
mod bulk_id;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use shared::{
    Error, Result,
    api::PollResponse,
    auth,
    config::Config,
    http,
    rate_limit::{Admission, Bucket},
    store::{
        Store,
        bulks::{Bulk, BulkState},
    },
};
use tracing::{Instrument, field};
use uuid::Uuid;

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    pub config: Config,
}

impl Deps {
    /// The one place poll's dependencies are wired: its `main`, the local stack and the tests
    /// all build them here. Poll only reads, and never touches a queue.
    pub fn new(config: Config, dynamodb: aws_sdk_dynamodb::Client) -> Self {
        Self {
            store: Store::new(dynamodb, &config.table_name),
            config,
        }
    }
}

/// Answers one request. Every outcome, errors included, is a response in the documented shape.
pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    handle_at(deps, request, Utc::now()).await
}

/// [`handle`] as of `now`, which decides the rate-limit window, the retention cut-off and every
/// timestamp.
pub async fn handle_at(deps: &Deps, request: Request, now: DateTime<Utc>) -> Response<Body> {
    let span = tracing::info_span!("poll", account_id = field::Empty, bulk_id = field::Empty);
    // The answer is built inside the span so that a 500's log line names the account and bulk.
    async {
        match poll(deps, &request, now).await {
            Ok((body, admission)) => {
                let mut response = http::json(200, &body);
                http::set_admission(&mut response, &admission);
                response
            }
            Err(error) => http::error_response(&error, now),
        }
    }
    .instrument(span)
    .await
}

/// The checks run in this order, each one's refusal ending the request:
///
/// 1. **Authentication** (401): nothing about the request is looked at for an unknown caller.
/// 2. **`bulk_id` is a UUID** (400): a malformed id is the caller's mistake and spends no read
///    token, as a malformed submit body spends no bulk token.
/// 3. **A read token** (429, `burst` or `minute`). Every well-formed id spends one, found or
///    not, so guessing ids is rate limited like any other read.
/// 4. **The bulk is the caller's to see** (404): unknown, another account's, never accepted
///    (`submitting` or `aborted`: its submitter never got a 202), or past its retention period
///    all get the same 404. This is decided on the bulk record alone, a single small read, so
///    a 404 costs the same whether or not the bulk exists elsewhere.
/// 5. **The whole bulk**, strongly consistent: a poll made after `bulk_completed` was sent
///    sees every item terminal and says `completed`.
async fn poll(
    deps: &Deps,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<(PollResponse, Admission)> {
    let account = auth::authenticate(&deps.store, request.headers()).await?;
    tracing::Span::current().record("account_id", field::display(account.id));
    let bulk_id = bulk_id::from_request(request)?;
    tracing::Span::current().record("bulk_id", field::display(bulk_id));

    let limits = deps.config.limits.with_overrides(&account.limits);
    let admission = deps
        .store
        .take_rate_token(account.id, Bucket::Read, &limits, now)
        .await?
        .map_err(Error::RateLimited)?;

    let bulk = deps.store.get_bulk(bulk_id).await?;
    if !bulk.is_some_and(|bulk| is_visible(&bulk, account.id, now)) {
        return Err(Error::BulkNotFound);
    }
    // It was there a moment ago: only TTL, removing an expired bulk, could take it since.
    let snapshot = deps
        .store
        .read_bulk(bulk_id)
        .await?
        .ok_or(Error::BulkNotFound)?;
    let body = answer::poll_response(snapshot, now)?;
    tracing::info!(
        status = ?body.status,
        processing = body.summary.processing,
        "bulk polled"
    );
    Ok((body, admission))
}

/// Whether `account` may see `bulk` at `now`. Every way of not seeing it is the same 404, so a
/// caller cannot learn that a bulk id exists outside its own account.
fn is_visible(bulk: &Bulk, account: Uuid, now: DateTime<Utc>) -> bool {
    bulk.account_id == account
        && bulk.state == BulkState::Accepted
        // TTL deletes late and record by record; past `expires_at` the bulk is gone for callers.
        && shared::clock::epoch_seconds(now) < bulk.expires_at
}
