//! The development webhook receiver: answers every POST with 200, checks its Standard Webhooks
//! signature with the development account's secret (by an independent implementation, the
//! `standardwebhooks` crate), and prints one line per event.

use std::{convert::Infallible, sync::Arc};

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use standardwebhooks::Webhook;
use tokio::net::TcpListener;

/// One delivery as the receiver saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// The signature matched the secret, and the timestamp is recent.
    pub verified: bool,
    pub body: Value,
}

/// Serves until the process ends, calling `seen` with each delivery.
pub async fn serve(
    listener: TcpListener,
    secret: Option<&str>,
    seen: impl Fn(Received) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let webhook = secret
        .and_then(|secret| Webhook::new(secret).ok())
        .map(Arc::new);
    let seen = Arc::new(seen);
    loop {
        let (stream, _) = listener.accept().await?;
        let webhook = webhook.clone();
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let webhook = webhook.clone();
                let seen = Arc::clone(&seen);
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = body
                        .collect()
                        .await
                        .map(http_body_util::Collected::to_bytes)
                        .unwrap_or_default();
                    let signed = webhook
                        .as_deref()
                        .is_some_and(|w| w.verify(&bytes, &parts.headers).is_ok());
                    let id = parts
                        .headers
                        .get("webhook-id")
                        .and_then(|id| id.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    seen(Received {
                        id,
                        verified: signed,
                        body,
                    });
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "receiver connection ended");
            }
        });
    }
}

/// The line printed for a delivery.
pub fn describe(received: &Received) -> String {
    let body = &received.body;
    let signature = if received.verified {
        "signature ok"
    } else {
        "SIGNATURE INVALID"
    };
    let kind = body["update_type"].as_str().unwrap_or("?");
    let detail = match kind {
        "radar_created" => format!(
            "item {} created {} ({})",
            body["item_index"],
            body["data"]["radar_id"].as_str().unwrap_or("?"),
            body["data"]["radar_type"].as_str().unwrap_or("?"),
        ),
        "radar_failure" => format!(
            "item {} failed {} {}",
            body["item_index"],
            body["code"],
            body["message"].as_str().unwrap_or("?"),
        ),
        "bulk_completed" => format!(
            "total {} created {} failed {} ({} results)",
            body["summary"]["total"],
            body["summary"]["created"],
            body["summary"]["failed"],
            body["radars"].as_array().map_or(0, Vec::len),
        ),
        _ => "unrecognised body".to_owned(),
    };
    format!(
        "{kind} bulk {} · {detail} · webhook-id {} · {signature}",
        body["bulk_id"].as_str().unwrap_or("?"),
        received.id,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_event_kind_is_one_readable_line() {
        let line = |body: Value, verified| {
            describe(&Received {
                id: "evt".into(),
                verified,
                body,
            })
        };
        assert_eq!(
            line(
                json!({"update_type": "radar_failure", "bulk_id": "b", "item_index": 1,
                       "code": 409, "message": "Conflict: Radar already exists"}),
                true
            ),
            "radar_failure bulk b · item 1 failed 409 Conflict: Radar already exists · \
             webhook-id evt · signature ok"
        );
        assert!(
            line(
                json!({"update_type": "bulk_completed", "bulk_id": "b",
                        "summary": {"total": 2, "created": 1, "failed": 1},
                        "radars": [{}, {}]}),
                false
            )
            .contains(
                "total 2 created 1 failed 1 (2 results) · webhook-id evt · SIGNATURE INVALID"
            )
        );
    }
}
