//! Standard Webhooks signatures, as a pure function of the secret, the message id, the
//! timestamp and the body.
//!
//! `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
//! keyed by the secret's key bytes (parsed from its `whsec_` form when the account's secrets
//! were read: [`WebhookSecret`]). While an account rotates its secret, the header holds one
//! signature per secret, separated by spaces, so a receiver that knows either one verifies the
//! message.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::credentials::WebhookSecret;

/// The three Standard Webhooks headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`: the event's `update_id`, the same on every attempt.
    pub id: String,
    /// `webhook-timestamp`: Unix seconds of this attempt.
    pub timestamp: i64,
    /// `webhook-signature`: one `v1,…` per secret, space-separated.
    pub signature: String,
}

/// Signs `body` under every secret given (the current one first).
pub fn sign<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> SignedHeaders {
    let signatures: Vec<String> = secrets
        .into_iter()
        .map(|secret| signature(secret, id, timestamp, body))
        .collect();
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature: signatures.join(" "),
    }
}

/// One `v1,<base64>` signature.
fn signature(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, and a parsed secret has at least one byte.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> WebhookSecret {
        WebhookSecret::parse(text).unwrap()
    }

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_the_specifications_example() {
        let signed = sign(
            [&secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signed.signature,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(signed.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(signed.timestamp, 1_614_265_330);
    }

    /// A vector of our own: an all-zero 32-byte key over an event-like body. Computed once
    /// outside Rust (`openssl dgst -sha256 -mac HMAC -macopt hexkey:00…00` gives
    /// `cb976cea…0e`, Python's `hmac` the same) and kept here so that a change of algorithm,
    /// encoding or message layout shows.
    #[test]
    fn signs_a_fixed_vector_of_ours() {
        let zero_key = format!("whsec_{}", STANDARD.encode([0u8; 32]));
        let signed = sign(
            [&secret(&zero_key)],
            "9a2f0f77-5c8b-4b3e-b636-3ad539f4de65",
            1_779_707_853,
            br#"{"update_type":"bulk_completed"}"#,
        );
        assert_eq!(signed.signature, ZERO_KEY_SIGNATURE);
    }

    const ZERO_KEY_SIGNATURE: &str = "v1,y5ds6k0w81Er0Rq6SNm636TeyPnS8Ur0dwLSKTqAng4=";

    #[test]
    fn a_rotating_account_signs_with_both_secrets() {
        let current = WebhookSecret::generate().unwrap();
        let previous = WebhookSecret::generate().unwrap();
        let both = sign([&current, &previous], "id", 1, b"{}");
        let one = sign([&current], "id", 1, b"{}");
        let other = sign([&previous], "id", 1, b"{}");
        assert_eq!(
            both.signature,
            format!("{} {}", one.signature, other.signature)
        );
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let key = WebhookSecret::generate().unwrap();
        let base = sign([&key], "id", 1, b"{}").signature;
        assert_ne!(sign([&key], "id2", 1, b"{}").signature, base);
        assert_ne!(sign([&key], "id", 2, b"{}").signature, base);
        assert_ne!(sign([&key], "id", 1, b"{ }").signature, base);
    }
}
