//! Credentials and authentication. API keys are stored only as SHA-256 digests: the clear key
//! is shown once, when it is made, and never logged. Secrets and digests compare in constant
//! time ([`constant_time_eq`]), so no `==` on them tells an attacker how much of a guess was
//! right.

use base64::{Engine, engine::general_purpose::STANDARD};
use lambda_http::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    Error, Result,
    store::{Store, accounts::Account},
};

/// The header that carries the API key.
pub const HEADER: &str = "x-api-key";

/// An API key in clear. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A new random key: `rbk_` and 48 hex digits (192 bits).
    pub fn generate() -> Result<Self> {
        Ok(Self(format!("rbk_{}", hex::encode(random_bytes::<24>()?))))
    }

    /// A key chosen by an operator (for example `RADAR_DEV_API_KEY`).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The clear key, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> KeyDigest {
        KeyDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The stored form of an API key: lowercase hex SHA-256.
#[derive(Debug, Clone)]
pub struct KeyDigest(String);

impl KeyDigest {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An account's webhook signing secret, `whsec_` and base64 of 32 random bytes, as Standard
/// Webhooks defines it. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn generate() -> Result<Self> {
        Ok(Self(format!(
            "whsec_{}",
            STANDARD.encode(random_bytes::<32>()?)
        )))
    }

    /// A secret read back from the account record.
    pub fn from_stored(secret: String) -> Self {
        Self(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Whether two secrets (or digests) are equal, in time that depends on their lengths only: a
/// plain `==` stops at the first byte that differs, and its timing tells how far a guess got.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

macro_rules! constant_time_partial_eq {
    ($($name:ident),*) => {$(
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}
    )*};
}
constant_time_partial_eq!(ApiKey, KeyDigest, WebhookSecret);

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("the system random source failed: {e}")))?;
    Ok(bytes)
}

/// The account behind the request's `x-api-key`. A missing, unknown or revoked key, or a key
/// of a deactivated account, is [`Error::Unauthorized`]: the caller cannot tell which.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Account> {
    let key = headers
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|key| !key.is_empty())
        .ok_or(Error::Unauthorized)?;
    let account = store.account_for_key(&ApiKey::new(key).digest()).await?;
    account.ok_or(Error::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_digest_to_hex() {
        let (a, b) = (ApiKey::generate().unwrap(), ApiKey::generate().unwrap());
        assert_ne!(a, b);
        assert!(a.expose().starts_with("rbk_"));
        assert_eq!(a.digest().as_str().len(), 64);
        assert_eq!(a.digest(), ApiKey::new(a.expose()).digest());
    }

    #[test]
    fn known_digest() {
        assert_eq!(
            ApiKey::new("abc").digest().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secrets_are_equal_only_when_every_byte_is() {
        assert!(constant_time_eq(b"whsec_abc", b"whsec_abc"));
        assert!(!constant_time_eq(b"whsec_abc", b"whsec_abd"));
        assert!(!constant_time_eq(b"whsec_abc", b"whsec_ab"));
        assert!(!constant_time_eq(b"", b"w"));
        assert!(constant_time_eq(b"", b""));
        let key = ApiKey::generate().unwrap();
        assert_eq!(key, ApiKey::new(key.expose()));
        assert_ne!(key, ApiKey::new(&key.expose()[..20]));
        assert_eq!(key.digest(), ApiKey::new(key.expose()).digest());
        assert_ne!(key.digest(), ApiKey::generate().unwrap().digest());
        let secret = WebhookSecret::generate().unwrap();
        assert_eq!(
            secret,
            WebhookSecret::from_stored(secret.expose().to_owned())
        );
        assert_ne!(secret, WebhookSecret::generate().unwrap());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let key = ApiKey::generate().unwrap();
        let secret = WebhookSecret::generate().unwrap();
        assert!(!format!("{key:?}").contains(key.expose()));
        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert!(secret.expose().starts_with("whsec_"));
    }
}
