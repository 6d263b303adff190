//! The crate's one error type and its mapping to the documented error envelope.
//!
//! Variants above the divider are answers to the caller (4xx) and say what the caller can fix.
//! Variants below it are failures of ours: they become a 500 whose body says nothing internal and
//! whose `error_id` is also on the log line that carries the cause.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use crate::api::FieldError;
use crate::{
    api::{
        ErrorBody, Refusal, Status,
        failure::{INTERNAL, INVALID_BODY},
    },
    clock,
    rate_limit::RateLimitExceeded,
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a radar-bulk function.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing, unknown or inactive API key")]
    Unauthorized,
    #[error("invalid request: {} problem(s)", .0.len())]
    InvalidRequest(Vec<FieldError>),
    /// A path parameter (such as `{bulk_id}`) that does not parse: a 400 whose message does not
    /// speak of a body the request does not have.
    #[error("invalid path parameter {}", .0.field)]
    InvalidPath(FieldError),
    #[error("rate limit exceeded: {}", .0.window.reason())]
    RateLimited(RateLimitExceeded),
    #[error("Idempotency-Key reused with a different request body")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyKeyInUse,
    #[error("bulk submission not found")]
    BulkNotFound,
    /// An unknown radar id, a malformed one, or another account's: one answer for all three.
    #[error("radar not found")]
    RadarNotFound,
    /// A method and path no endpoint answers (API Gateway routes only known ones; a local
    /// router may not).
    #[error("no such route")]
    NoSuchRoute,
    /// A query string parameter (`limit`, `cursor`, a filter) that does not parse.
    #[error("invalid query parameter {}", .0.field)]
    InvalidQuery(FieldError),
    /// A single create refused for the reason a bulk item would be (400, 402 or 409), in the
    /// same words.
    #[error("radar refused with {}", .0.code())]
    Refused(Refusal),
    // ---- failures of ours: 500 ----
    #[error("queueing the submission failed; it was marked aborted")]
    QueueingFailed(#[source] Box<Error>),
    #[error("DynamoDB request failed")]
    Dynamo(#[source] Box<aws_sdk_dynamodb::Error>),
    #[error("SQS request failed")]
    Sqs(#[source] Box<aws_sdk_sqs::Error>),
    #[error("{what}: {left} entries still unprocessed after {attempts} attempts")]
    Unprocessed {
        what: &'static str,
        left: usize,
        attempts: u32,
    },
    #[error("serialising {0} failed")]
    Serialize(&'static str, #[source] serde_json::Error),
    #[error("stored record {key} is malformed: {problem}")]
    CorruptRecord { key: String, problem: String },
    #[error("bulk {0} changed state while it was being submitted")]
    BulkStateChanged(Uuid),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: changed by others on each of {tries} tries")]
    Contended { what: &'static str, tries: u32 },
}

impl Error {
    /// Wraps any DynamoDB SDK error, keeping it as the source.
    pub fn dynamo<E>(error: E) -> Self
    where
        aws_sdk_dynamodb::Error: From<E>,
    {
        Self::Dynamo(Box::new(error.into()))
    }

    /// Wraps any SQS SDK error, keeping it as the source.
    pub fn sqs<E>(error: E) -> Self
    where
        aws_sdk_sqs::Error: From<E>,
    {
        Self::Sqs(Box::new(error.into()))
    }

    /// A write refused because a transaction held its item: nothing was written, and the same
    /// write can go again in a moment. DynamoDB Local never says so; DynamoDB does, for any
    /// item that creating transactions touch (an account's balance).
    pub fn is_transaction_conflict(&self) -> bool {
        matches!(
            self,
            Self::Dynamo(error)
                if matches!(**error, aws_sdk_dynamodb::Error::TransactionConflictException(_))
        )
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidRequest(vec![FieldError::new(field, reason)])
    }

    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::InvalidRequest(_) | Self::InvalidPath(_) | Self::InvalidQuery(_) => 400,
            Self::BulkNotFound | Self::RadarNotFound | Self::NoSuchRoute => 404,
            Self::Refused(refusal) => refusal.code(),
            Self::IdempotencyKeyInUse => 409,
            Self::IdempotencyKeyReused => 422,
            Self::RateLimited(_) => 429,
            Self::QueueingFailed(_)
            | Self::Dynamo(_)
            | Self::Sqs(_)
            | Self::Unprocessed { .. }
            | Self::Serialize(..)
            | Self::CorruptRecord { .. }
            | Self::BulkStateChanged(_)
            | Self::Config(_)
            | Self::Contended { .. } => 500,
        }
    }

    /// The documented envelope for this error. `error_id` is the caller's handle on the log line.
    pub fn to_body(&self, error_id: Uuid, at: DateTime<Utc>) -> ErrorBody {
        let (message, errors) = match self {
            // A bad body is refused in the words a bad bulk item is (`Refusal::Invalid`).
            Self::InvalidRequest(errors) => (INVALID_BODY.to_owned(), errors.clone()),
            Self::Unauthorized => (
                INVALID_KEY.to_owned(),
                vec![FieldError::new("x-api-key", INVALID_KEY)],
            ),
            Self::InvalidPath(error) => ("Invalid path parameter".to_owned(), vec![error.clone()]),
            Self::InvalidQuery(error) => {
                ("Invalid query parameter".to_owned(), vec![error.clone()])
            }
            Self::Refused(refusal) => (refusal.message().to_owned(), refusal.errors()),
            Self::NoSuchRoute => (
                "Not found".to_owned(),
                vec![FieldError::new(
                    "path",
                    "No endpoint answers this method and path",
                )],
            ),
            Self::RadarNotFound => (
                "Radar not found".to_owned(),
                vec![FieldError::new(
                    "radar_id",
                    "No radar with this id exists for your account",
                )],
            ),
            Self::RateLimited(exceeded) => (
                exceeded.message(),
                vec![FieldError::new("rate_limit", exceeded.window.reason())],
            ),
            Self::IdempotencyKeyReused => (
                "Idempotency-Key reused with a different request body".to_owned(),
                vec![FieldError::new(
                    IDEMPOTENCY_FIELD,
                    "This key was used for a different request body within the last 24 hours. \
                     Use a new key for a new submission.",
                )],
            ),
            Self::IdempotencyKeyInUse => (
                "A request with this Idempotency-Key is in progress".to_owned(),
                vec![FieldError::new(
                    IDEMPOTENCY_FIELD,
                    "The first request with this key has not finished yet. Retry shortly.",
                )],
            ),
            Self::BulkNotFound => (
                "Bulk submission not found".to_owned(),
                vec![FieldError::new(
                    "bulk_id",
                    "No bulk submission with this id exists for your account",
                )],
            ),
            Self::QueueingFailed(_) => (
                INTERNAL.to_owned(),
                vec![FieldError::new(
                    "radars",
                    "Queueing failed and nothing from this submission will be processed. \
                     It is safe to retry the request.",
                )],
            ),
            Self::Dynamo(_)
            | Self::Sqs(_)
            | Self::Unprocessed { .. }
            | Self::Serialize(..)
            | Self::CorruptRecord { .. }
            | Self::BulkStateChanged(_)
            | Self::Config(_)
            | Self::Contended { .. } => (INTERNAL.to_owned(), Vec::new()),
        };
        ErrorBody {
            status: Status::Error,
            code: self.status_code(),
            message,
            errors,
            timestamp: clock::rfc3339(at),
            error_id,
        }
    }
}

const INVALID_KEY: &str = "Invalid or inactive API key";
const IDEMPOTENCY_FIELD: &str = "Idempotency-Key";

/// Formats an error with its whole chain of sources, for log lines.
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_body_matches_the_spec() {
        let at = "2024-01-01T12:00:00Z".parse().unwrap();
        let id: Uuid = "f72ac8d3-4bca-4f4c-b14a-30af90e3eac2".parse().unwrap();
        let body = serde_json::to_string(&Error::Unauthorized.to_body(id, at)).unwrap();
        assert_eq!(
            body,
            r#"{"status":"error","code":401,"message":"Invalid or inactive API key","errors":[{"field":"x-api-key","reason":"Invalid or inactive API key"}],"timestamp":"2024-01-01T12:00:00Z","error_id":"f72ac8d3-4bca-4f4c-b14a-30af90e3eac2"}"#
        );
    }

    #[test]
    fn internal_failures_say_nothing_internal() {
        let error = Error::CorruptRecord {
            key: "BULK#x".into(),
            problem: "no state".into(),
        };
        let body = error.to_body(Uuid::new_v4(), Utc::now());
        assert_eq!(body.code, 500);
        assert_eq!(body.message, "Internal server error");
        assert!(body.errors.is_empty());
    }

    #[test]
    fn only_a_transaction_conflict_is_one() {
        use aws_sdk_dynamodb::types::error::{
            ConditionalCheckFailedException, TransactionConflictException,
        };
        let conflict = aws_sdk_dynamodb::Error::TransactionConflictException(
            TransactionConflictException::builder().build(),
        );
        let failed = aws_sdk_dynamodb::Error::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        );
        assert!(Error::Dynamo(Box::new(conflict)).is_transaction_conflict());
        assert!(!Error::Dynamo(Box::new(failed)).is_transaction_conflict());
        assert!(!Error::Config("x".into()).is_transaction_conflict());
    }

    #[test]
    fn chain_shows_every_cause() {
        let error = Error::QueueingFailed(Box::new(Error::Config("boom".into())));
        assert_eq!(
            Chain(&error).to_string(),
            "queueing the submission failed; it was marked aborted: configuration: boom"
        );
    }
}
