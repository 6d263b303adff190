//! A local webhook receiver for development: it verifies the Standard Webhooks signature of
//! every request (the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, the
//! timestamp within five minutes) with an independent implementation of the standard, and
//! answers `400` to a request that is unsigned, tampered with or stale, and `204` to the rest.

use std::{convert::Infallible, sync::Arc};

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::{Error, Result};

/// What the receiver heard.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// A verified event: its `webhook-id`, its body as sent, and that body read as JSON.
    Event {
        webhook_id: String,
        bytes: Bytes,
        body: Value,
    },
    /// A request it refused with `400`, and why.
    Refused { reason: String },
}

/// A verifier for one signing secret (`whsec_...`).
#[derive(Clone)]
pub struct Verifier(Arc<standardwebhooks::Webhook>);

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(..)")
    }
}

impl Verifier {
    pub fn new(secret: &str) -> Result<Self> {
        standardwebhooks::Webhook::new(secret)
            .map(|webhook| Self(Arc::new(webhook)))
            .map_err(|e| Error::Config(format!("the webhook secret: {e}")))
    }

    /// The request's event, or why it is refused.
    fn hear(&self, headers: &hyper::HeaderMap, bytes: Bytes) -> Heard {
        if let Err(error) = self.0.verify(&bytes, headers) {
            return Heard::Refused {
                reason: format!("signature: {error}"),
            };
        }
        let webhook_id = headers
            .get("webhook-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match serde_json::from_slice(&bytes) {
            Ok(body) => Heard::Event {
                webhook_id,
                bytes,
                body,
            },
            Err(error) => Heard::Refused {
                reason: format!("a signed body that is not JSON: {error}"),
            },
        }
    }
}

/// Serves `listener` until the task is dropped, telling `heard` of every request.
pub async fn listen(
    listener: TcpListener,
    verifier: Verifier,
    heard: impl Fn(Heard) + Send + Sync + 'static,
) -> Result<()> {
    let heard = Arc::new(heard);
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| Error::Config(format!("the receiver's socket: {e}")))?;
        let (verifier, heard) = (verifier.clone(), Arc::clone(&heard));
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let (verifier, heard) = (verifier.clone(), Arc::clone(&heard));
                async move {
                    let (parts, body) = request.into_parts();
                    let heard_now = match body.collect().await {
                        Ok(body) => verifier.hear(&parts.headers, body.to_bytes()),
                        Err(error) => Heard::Refused {
                            reason: format!("the body could not be read: {error}"),
                        },
                    };
                    let status = match &heard_now {
                        Heard::Event { .. } => StatusCode::NO_CONTENT,
                        Heard::Refused { .. } => StatusCode::BAD_REQUEST,
                    };
                    heard(heard_now);
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            // A connection that breaks off is the sender's business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One line for an event: the time it was heard is the caller's; this says what it was.
pub fn describe(webhook_id: &str, body: &Value) -> String {
    let kind = body["update_type"].as_str().unwrap_or("unknown event");
    let bulk = body["bulk_id"].as_str().unwrap_or("-");
    match kind {
        "radar_created" => format!(
            "{webhook_id} radar_created bulk {bulk} item {} radar {}",
            body["item_index"],
            body["data"]["radar_id"].as_str().unwrap_or("-")
        ),
        "radar_failure" => format!(
            "{webhook_id} radar_failure bulk {bulk} item {} {} {}",
            body["item_index"],
            body["code"],
            body["message"].as_str().unwrap_or_default()
        ),
        "bulk_completed" => format!(
            "{webhook_id} bulk_completed bulk {bulk} {} created, {} failed",
            body["summary"]["created"], body["summary"]["failed"]
        ),
        other => format!("{webhook_id} {other}"),
    }
}
