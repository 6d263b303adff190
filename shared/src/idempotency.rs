//! The `Idempotency-Key` header: what a valid key looks like, and how a retried submission is
//! matched to the first one (see `store::idempotency` for the claim records, and
//! [`crate::store::bulks::judge_retry`] for what a retry gets).

use lambda_http::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

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

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    fn parse(value: &str) -> Result<Option<IdempotencyKey>> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
        IdempotencyKey::from_headers(&headers)
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
