//! The `Idempotency-Key` header: what a valid key looks like, and how a retried submission is
//! matched to the first one (see `store::idempotency` for the claim records).

use chrono::{DateTime, Utc};
use lambda_http::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::{
    Error, Result,
    store::bulks::{Bulk, BulkState},
};

pub const HEADER: &str = "idempotency-key";
/// Longest key accepted, in bytes.
pub const MAX_LEN: usize = 255;
/// How long a key holds on to its first request.
pub const RETENTION_HOURS: i64 = 24;

/// A client-chosen key that makes retries of one submission safe.
#[derive(Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key, if it sent one: 1 to 255 visible ASCII characters.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>> {
        let Some(value) = headers.get(HEADER) else {
            return Ok(None);
        };
        let invalid = || {
            Error::invalid(
                "Idempotency-Key",
                format!("Must be 1 to {MAX_LEN} visible ASCII characters"),
            )
        };
        let key = value.to_str().map_err(|_| invalid())?;
        if key.is_empty() || key.len() > MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid());
        }
        Ok(Some(Self(key.to_owned())))
    }

    /// The key as stored: a digest, so record keys stay short and free of client bytes.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

/// What to do with a request whose key is already claimed, with the same body, for `bulk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The first request went through: answer with its 202.
    Replay,
    /// The first request is still at work: the caller should retry shortly.
    InProgress,
    /// The first request failed or was abandoned: submit anew under the same key. When
    /// `abort_first`, its bulk is still `submitting` and must be marked aborted first.
    Retake { abort_first: bool },
}

pub fn judge(bulk: Option<&Bulk>, now: DateTime<Utc>) -> Verdict {
    match bulk {
        Some(bulk) if bulk.is_abandoned(now) => Verdict::Retake { abort_first: true },
        Some(bulk) => match bulk.state {
            BulkState::Accepted => Verdict::Replay,
            BulkState::Submitting => Verdict::InProgress,
            BulkState::Aborted => Verdict::Retake { abort_first: false },
        },
        // The bulk outlived its retention: the key is as good as new.
        None => Verdict::Retake { abort_first: false },
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;
    use uuid::Uuid;

    use super::*;
    use crate::store::bulks::ABANDONED_AFTER;

    fn parse(value: &str) -> Result<Option<IdempotencyKey>> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
        IdempotencyKey::from_headers(&headers)
    }

    fn bulk(state: BulkState, created_at: DateTime<Utc>) -> Bulk {
        Bulk {
            id: Uuid::new_v4(),
            account_id: Uuid::new_v4(),
            webhook_url: "https://a.io".into(),
            total: 1,
            state,
            created_at,
            expires_at: 0,
            completion: None,
        }
    }

    #[test]
    fn verdicts_follow_the_first_bulks_state() {
        let now = Utc::now();
        let long_ago = now - ABANDONED_AFTER - chrono::Duration::seconds(1);
        let judged = |state, at| judge(Some(&bulk(state, at)), now);
        assert_eq!(judged(BulkState::Accepted, now), Verdict::Replay);
        assert_eq!(judged(BulkState::Accepted, long_ago), Verdict::Replay);
        assert_eq!(judged(BulkState::Submitting, now), Verdict::InProgress);
        assert_eq!(
            judged(BulkState::Submitting, long_ago),
            Verdict::Retake { abort_first: true }
        );
        assert_eq!(
            judged(BulkState::Aborted, now),
            Verdict::Retake { abort_first: false }
        );
        assert_eq!(judge(None, now), Verdict::Retake { abort_first: false });
    }

    #[test]
    fn absent_header_means_no_key() {
        assert!(
            IdempotencyKey::from_headers(&HeaderMap::new())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255_bytes() {
        assert!(parse("order-42_retry").unwrap().is_some());
        assert!(parse(&"k".repeat(255)).unwrap().is_some());
        assert!(parse(&"k".repeat(256)).is_err());
        assert!(parse("").is_err());
        assert!(parse("has space").is_err());
    }

    #[test]
    fn digests_are_stable_and_distinct() {
        let a = parse("a").unwrap().unwrap();
        assert_eq!(a.digest(), parse("a").unwrap().unwrap().digest());
        assert_ne!(a.digest(), parse("b").unwrap().unwrap().digest());
    }
}
