//! Credential values: API keys (stored only as SHA-256 digests), webhook signing secrets, and
//! the constant-time comparison they use. A leaf: nothing here reads the store, so the store can
//! hold these values and [`crate::auth`] can sit above both.
//!
//! The clear key is shown once, when it is made, and never logged: `Debug` output is redacted.
//! Secrets and digests compare in constant time ([`constant_time_eq`]), so no `==` on them tells
//! an attacker how much of a guess was right.

use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

/// An API key in clear. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// A new random key: `rbk_` and 48 hex digits (192 bits).
    pub fn generate() -> Result<Self> {
        Ok(Self(format!("rbk_{}", hex::encode(random_bytes::<24>()?))))
    }

    /// A key chosen by an operator (for example `RADAR_DEV_API_KEY`), or sent by a caller.
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

/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// A webhook signing secret, `whsec_` and the base64 of its key bytes, as Standard Webhooks
/// defines it. Parsed when it is read, so a secret that cannot sign is found at the store's
/// edge, not in the middle of a delivery. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

/// A secret that is not `whsec_` followed by the base64 of at least one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ followed by base64")]
pub struct MalformedSecret;

impl WebhookSecret {
    /// A new random secret of 32 bytes.
    pub fn generate() -> Result<Self> {
        let key = random_bytes::<32>()?.to_vec();
        Ok(Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        })
    }

    /// Reads a secret in its `whsec_` form.
    pub fn parse(text: impl Into<String>) -> Result<Self, MalformedSecret> {
        let text = text.into();
        let key = text
            .strip_prefix(SECRET_PREFIX)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .filter(|key| !key.is_empty())
            .ok_or(MalformedSecret)?;
        Ok(Self { text, key })
    }

    /// The `whsec_` form, to store or to show the account's owner.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The HMAC key: the decoded bytes after `whsec_`.
    pub fn key(&self) -> &[u8] {
        &self.key
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

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl PartialEq for KeyDigest {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(self.text.as_bytes(), other.text.as_bytes())
    }
}

impl Eq for ApiKey {}
impl Eq for KeyDigest {}
impl Eq for WebhookSecret {}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("the system random source failed: {e}")))?;
    Ok(bytes)
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
        assert_eq!(secret, WebhookSecret::parse(secret.expose()).unwrap());
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

    #[test]
    fn a_secret_parses_to_its_key_bytes() {
        let zero_key = format!("whsec_{}", STANDARD.encode([0u8; 32]));
        assert_eq!(WebhookSecret::parse(zero_key).unwrap().key(), [0u8; 32]);
        let generated = WebhookSecret::generate().unwrap();
        assert_eq!(generated.key().len(), 32);
        assert_eq!(
            WebhookSecret::parse(generated.expose()).unwrap().key(),
            generated.key()
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for bad in [
            "",
            "whsec_",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
        ] {
            assert_eq!(WebhookSecret::parse(bad).unwrap_err(), MalformedSecret);
        }
    }
}
