//! The radar resources around bulk (`../shared/spec/radar-resources.md`), one function for
//! their eight routes:
//!
//! | route | bucket | module |
//! |---|---|---|
//! | `POST /v1/radars/companies`, `/contacts`, `/industry` | write | [`create`] |
//! | `GET /v1/radars/{radar_id}`, `DELETE /v1/radars/{radar_id}`, `GET /v1/radars` | read | [`radars`] |
//! | `GET /v1/account` | read | [`account`] |
//! | `GET /v1/radars/bulk` | read | [`bulks`] |
//!
//! Every request is authenticated first (401). A request whose own input is wrong (a body, a
//! query parameter) is refused before it spends a token, as a malformed bulk submission is;
//! a radar id is not checked before the token is spent, because an id that does not parse is
//! answered exactly as an unknown one (404), headers included.

mod account;
mod bulks;
mod create;
mod query;
mod radars;
mod route;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{
    Error, Result, auth,
    config::Config,
    http,
    rate_limit::{Admission, Bucket, Limits},
    store::{Store, accounts::Account},
};
use tracing::{Instrument, field};

use crate::route::Route;

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    pub config: Config,
}

impl Deps {
    /// The one place the function's dependencies are wired: its `main`, the local stack and
    /// the tests all build them here. It reads and writes the table, and never a queue: a
    /// single create's radar sends no event.
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

/// [`handle`] as of `now`, which decides the rate-limit windows, the month and every timestamp.
pub async fn handle_at(deps: &Deps, request: Request, now: DateTime<Utc>) -> Response<Body> {
    let span = tracing::info_span!("radars", route = field::Empty, account_id = field::Empty);
    async {
        match answer(deps, &request, now).await {
            Ok(response) => response,
            Err(error) => http::error_response(&error, now),
        }
    }
    .instrument(span)
    .await
}

async fn answer(deps: &Deps, request: &Request, now: DateTime<Utc>) -> Result<Response<Body>> {
    let route = Route::of(request).ok_or(Error::NoSuchRoute)?;
    tracing::Span::current().record("route", field::debug(&route));
    let account = auth::authenticate(&deps.store, request.headers()).await?;
    tracing::Span::current().record("account_id", field::display(account.id));
    let caller = Caller {
        limits: deps.config.limits.with_overrides(&account.limits),
        account,
        now,
    };
    match route {
        Route::Create(kind) => create::create(deps, &caller, kind, request.body()).await,
        Route::Get(id) => radars::get(deps, &caller, &id).await,
        Route::Deactivate(id) => radars::deactivate(deps, &caller, &id).await,
        Route::List => radars::list(deps, &caller, &query::Query::of(request)).await,
        Route::Account => account::show(deps, &caller, &query::Query::of(request)).await,
        Route::Bulks => bulks::list(deps, &caller, &query::Query::of(request)).await,
    }
}

/// The authenticated caller, its limits, and the instant the request is answered as of.
#[derive(Debug)]
struct Caller {
    account: Account,
    limits: Limits,
    now: DateTime<Utc>,
}

impl Caller {
    /// Spends one token of `bucket`, or refuses the request with a 429.
    async fn spend(&self, deps: &Deps, bucket: Bucket) -> Result<Admission> {
        deps.store
            .take_rate_token(self.account.id, bucket, &self.limits, self.now)
            .await?
            .map_err(Error::RateLimited)
    }
}

/// A success body with the rate-limit headers of the token it spent.
fn respond<T: Serialize>(status: u16, body: &T, admission: &Admission) -> Response<Body> {
    let mut response = http::json(status, body);
    http::set_admission(&mut response, admission);
    response
}
