//! `POST /v1/radars/bulk`: authenticate, check the envelope, spend a bulk token, then store the
//! bulk and its items and queue one message per item for the processor.
//!
//! A 202 means every item is stored and queued; a 500 means nothing of the submission will
//! take effect (see [`shared::store::bulks`] for the state machine that guarantees it).

mod enqueue;
mod replay;

use chrono::{DateTime, Duration, Utc};
use lambda_http::{Body, Request, Response, http::HeaderValue};
use shared::{
    Error, FieldError, Result,
    api::SubmitAccepted,
    auth, clock,
    config::Config,
    http,
    idempotency::IdempotencyKey,
    queue::Queue,
    rate_limit::{Admission, Bucket},
    store::{
        Store,
        bulks::{Bulk, BulkState, Funding},
        idempotency::ClaimRequest,
    },
    submission::{self, Submission},
    webhook_url::{self, ApiHost, WebhookUrl},
};
use tracing::{Instrument, field};
use uuid::Uuid;

/// What the handler needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    pub queue: Queue,
    pub config: Config,
}

impl Deps {
    /// The one place submit's dependencies are wired: its `main`, the local stack and the
    /// tests all build them here.
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        Self {
            store: Store::new(dynamodb, &config.table_name),
            queue: Queue::new(sqs, &config.item_queue_url),
            config,
        }
    }
}

/// Answers one request. Every outcome, errors included, is a response in the documented shape.
pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    handle_at(deps, request, Utc::now()).await
}

/// [`handle`] as of `now`, which decides the rate-limit window and every timestamp.
pub async fn handle_at(deps: &Deps, request: Request, now: DateTime<Utc>) -> Response<Body> {
    let span = tracing::info_span!("submit", account_id = field::Empty, bulk_id = field::Empty);
    // The answer is built inside the span so that a 500's log line names the account and bulk.
    async {
        match submit(deps, &request, now).await {
            Ok(Answer::Accepted { body, admission }) => {
                metrics::counter!("BulksAccepted").increment(1);
                let items = u64::try_from(body.summary.total).unwrap_or(u64::MAX);
                metrics::counter!("ItemsAccepted").increment(items);
                let mut response = http::json(202, &body);
                http::set_admission(&mut response, &admission);
                response
            }
            Ok(Answer::Replayed(body)) => {
                let mut response = http::json(202, &body);
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                response
            }
            Err(error) => {
                let code = error.status_code().to_string();
                metrics::counter!("SubmitRejections", "Code" => code).increment(1);
                http::error_response(&error, now)
            }
        }
    }
    .instrument(span)
    .await
}

/// The host this request came to is the API's own, whatever `RADAR_API_HOSTS` says: its
/// execute-api host cannot be configured for submit without a cycle in the template, and a
/// bulk's webhooks must not be turned against the API.
fn refuse_this_api(request: &Request, webhook_url: &WebhookUrl) -> Result<()> {
    let this = request
        .headers()
        .get(lambda_http::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(ApiHost::parse);
    if this.is_some_and(|host| host.named_by(webhook_url)) {
        return Err(Error::InvalidRequest(vec![FieldError::new(
            webhook_url::FIELD,
            webhook_url::API_HOST,
        )]));
    }
    Ok(())
}

enum Answer {
    Accepted {
        body: SubmitAccepted,
        admission: Admission,
    },
    /// The first answer to an earlier request with the same `Idempotency-Key` and body.
    Replayed(SubmitAccepted),
}

async fn submit(deps: &Deps, request: &Request, now: DateTime<Utc>) -> Result<Answer> {
    let account = auth::authenticate(&deps.store, request.headers()).await?;
    tracing::Span::current().record("account_id", field::display(account.id));
    let key = IdempotencyKey::from_headers(request.headers())?;
    let submission = Submission::parse(request.body().as_ref(), deps.config.webhooks)
        .map_err(Error::InvalidRequest)?;
    refuse_this_api(request, &submission.webhook_url)?;

    // A replay is answered before the rate limit: retrying a submission that went through
    // must not cost a token nor be refused for lack of one.
    let claim = match &key {
        None => None,
        Some(key) => {
            let mut claim = ClaimRequest {
                account_id: account.id,
                key_digest: key.digest(),
                fingerprint: submission.fingerprint(),
                replacing: None,
            };
            if let Some(first) = replay::look_up(&deps.store, &mut claim, now).await? {
                return Ok(Answer::Replayed(first));
            }
            Some(claim)
        }
    };

    let limits = deps.config.limits.with_overrides(&account.limits);
    let admission = deps
        .store
        .take_rate_token(account.id, Bucket::Bulk, &limits, now)
        .await?
        .map_err(Error::RateLimited)?;

    let bulk = Bulk {
        // Time-ordered, so that an account's bulks list newest first by id (`store::index`).
        id: Uuid::now_v7(),
        account_id: account.id,
        webhook_url: submission.webhook_url,
        total: u32::try_from(submission.items.len()).unwrap_or(u32::MAX),
        state: BulkState::Submitting,
        created_at: now,
        expires_at: clock::epoch_seconds(
            now + Duration::days(i64::from(deps.config.bulk_retention_days)),
        ),
        completion: None,
        // Fixed when the bulk is accepted.
        funding: Funding::Metered,
    };
    tracing::Span::current().record("bulk_id", field::display(bulk.id));
    if let Some(first) = replay::begin(&deps.store, &bulk, claim, now).await? {
        return Ok(Answer::Replayed(first));
    }

    let price = submission::price(&submission.items);
    enqueue::store_and_queue(deps, &bulk, &submission.items, price).await?;
    tracing::info!(total = bulk.total, "bulk accepted");
    Ok(Answer::Accepted {
        body: SubmitAccepted::new(bulk.id, submission.items.len(), now),
        admission,
    })
}
