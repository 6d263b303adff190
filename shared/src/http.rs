//! Responses of the two HTTP functions: JSON bodies, the error envelope, rate-limit headers.

use chrono::{DateTime, Utc};
use lambda_http::{
    Body, Response,
    http::{HeaderValue, StatusCode, header::CONTENT_TYPE},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Error,
    error::Chain,
    rate_limit::{Admission, RateLimitExceeded},
};

/// A JSON response. Serialising our own wire types cannot fail; if it ever did, the caller
/// would get a bare 500 rather than a panic.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(error) => {
            tracing::error!(error = %error, "response body did not serialise");
            (500, String::new())
        }
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The documented envelope for `error`. Our own failures are logged with the `error_id` the
/// body carries; the caller's mistakes are logged without their cause's details.
pub fn error_response(error: &Error, at: DateTime<Utc>) -> Response<Body> {
    let error_id = Uuid::new_v4();
    let status = error.status_code();
    if status >= 500 {
        tracing::error!(%error_id, status, error = %Chain(error), "request failed");
    } else {
        tracing::info!(%error_id, status, error = %error, "request refused");
    }
    let mut response = json(status, &error.to_body(error_id, at));
    if let Error::RateLimited(exceeded) = error {
        set_rate_limited(&mut response, exceeded);
    }
    response
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset` on a request that was let through.
pub fn set_admission(response: &mut Response<Body>, admission: &Admission) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(admission.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(admission.remaining),
    );
    headers.insert(
        "x-ratelimit-reset",
        HeaderValue::from(admission.reset_after),
    );
}

/// `Retry-After`, `X-RateLimit-Limit` and `X-RateLimit-Remaining` on a 429.
fn set_rate_limited(response: &mut Response<Body>, exceeded: &RateLimitExceeded) {
    let headers = response.headers_mut();
    headers.insert("retry-after", HeaderValue::from(exceeded.retry_after));
    headers.insert("x-ratelimit-limit", HeaderValue::from(exceeded.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
}
