//! The dispatcher's HTTP side on one core: sign each event and POST it with the dispatcher's
//! own client (connections kept open, the SSRF-checked resolver, 10 in flight as in a batch)
//! on a single-threaded runtime, to a receiver on a thread of its own that answers 200 at once.
//! DynamoDB is left out: against DynamoDB Local it, not the dispatcher, would be measured.

use std::{
    convert::Infallible,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use dispatcher::{resolver::SystemLookup, sender::Sender, signature};
use futures::{StreamExt, stream};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use shared::{config::Config, credentials::WebhookSecret, webhook_url::WebhookPolicy};
use tokio::net::TcpListener;

use crate::{Error, Result};

/// Deliveries in flight at once: the dispatcher's default `RADAR_WEBHOOK_CONCURRENCY`.
const IN_FLIGHT: usize = 10;

/// Deliveries a second over `deliveries` deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub deliveries: usize,
    pub elapsed: Duration,
    pub body_bytes: usize,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let deliveries = self.deliveries as f64;
        deliveries / self.elapsed.as_secs_f64()
    }
}

/// A `radar_created` event of typical size.
fn event(i: usize) -> String {
    serde_json::json!({
        "update_type": "radar_created",
        "update_id": uuid::Uuid::new_v4(),
        "bulk_id": uuid::Uuid::new_v4(),
        "item_index": i,
        "status": 201,
        "data": {
            "radar_id": uuid::Uuid::new_v4(),
            "radar_type": "company_job_openings",
            "domain": format!("c{i}.example.com"),
            "radar_status": "active",
            "created_at": Utc::now(),
            "custom_fields": {"crm_account_id": format!("acc_{i:06}")}
        }
    })
    .to_string()
}

pub fn measure(deliveries: usize) -> Result<Throughput> {
    let receiver = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = receiver.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}/", listener.local_addr()?);
    receiver.spawn(receive(listener));

    let config = Config::from_lookup(|name| match name {
        "RADAR_TABLE_NAME" | "RADAR_ITEM_QUEUE_URL" | "RADAR_WEBHOOK_QUEUE_URL" => {
            Some("unused".into())
        }
        _ => None,
    })?;
    let policy = WebhookPolicy {
        allow_insecure_loopback: true,
        ..WebhookPolicy::default()
    };
    let sender = Sender::new(&config.dispatch, policy, Arc::new(SystemLookup))
        .map_err(|error| Error::Failed(error.to_string()))?;
    let secret = WebhookSecret::generate()?;
    let events: Vec<(String, String)> = (0..deliveries)
        .map(|i| (uuid::Uuid::new_v4().to_string(), event(i)))
        .collect();
    let body_bytes = events.first().map_or(0, |(_, body)| body.len());
    let one_core = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    one_core.block_on(async {
        // Open the connections first, as a warm dispatcher has them.
        deliver(
            &sender,
            &secret,
            &url,
            &events[..IN_FLIGHT.min(events.len())],
        )
        .await?;
        let started = Instant::now();
        deliver(&sender, &secret, &url, &events).await?;
        Ok(Throughput {
            deliveries,
            elapsed: started.elapsed(),
            body_bytes,
        })
    })
}

async fn deliver(
    sender: &Sender,
    secret: &WebhookSecret,
    url: &str,
    events: &[(String, String)],
) -> Result<()> {
    let failures = stream::iter(events)
        .map(|(id, body)| async move {
            let now = Utc::now();
            let headers = signature::sign([secret], id, now.timestamp(), body.as_bytes());
            let sent = sender.post(url, &headers, body.clone(), now).await;
            Ok::<_, Error>(matches!(
                sent.reply,
                dispatcher::sender::Reply::Status { status: 200, .. }
            ))
        })
        .buffer_unordered(IN_FLIGHT)
        .filter(|delivered| std::future::ready(!matches!(delivered, Ok(true))))
        .count()
        .await;
    if failures > 0 {
        return Err(Error::Failed(format!("{failures} deliveries failed")));
    }
    Ok(())
}

/// Answers every request 200 after reading it, keeping connections open.
async fn receive(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(async move {
            let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                let _ = request.into_body().collect().await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
