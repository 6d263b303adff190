//! A webhook outage: the customer's receiver refuses connections for a while, then answers
//! 503 for a while, then comes back. Every event must arrive once it is up, each item's once,
//! `bulk_completed` last; the delivery records must show the outage was really met; and the
//! destination's circuit must have held the events back meanwhile, spending few attempts.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use devstack::{
    bridge,
    local::{self, Functions},
};
use http_body_util::{BodyExt, Full};
use hyper::{Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use provision::Template;
use serde_json::Value;
use shared::store::deliveries::DeliveryState;
use test_support::TestEnv;
use tokio::net::TcpListener;

/// A receiver that answers 503 until `up`, then verifies, records and answers 200.
#[derive(Default)]
struct Receiver {
    up: AtomicBool,
    unavailable: AtomicU64,
    /// Verified deliveries, in arrival order: (webhook-id, body).
    delivered: Mutex<Vec<(String, Value)>>,
}

async fn serve(listener: TcpListener, receiver: Arc<Receiver>, secret: String) {
    let webhook = Arc::new(standardwebhooks::Webhook::new(&secret).unwrap());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let (receiver, webhook) = (Arc::clone(&receiver), Arc::clone(&webhook));
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (receiver, webhook) = (Arc::clone(&receiver), Arc::clone(&webhook));
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = body.collect().await.unwrap().to_bytes();
                    let mut response = Response::new(Full::new(Bytes::new()));
                    if !receiver.up.load(Ordering::SeqCst) {
                        receiver.unavailable.fetch_add(1, Ordering::SeqCst);
                        *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                    } else if webhook.verify(&bytes, &parts.headers).is_ok() {
                        let id = parts.headers["webhook-id"].to_str().unwrap().to_owned();
                        let body = serde_json::from_slice(&bytes).unwrap();
                        receiver.delivered.lock().unwrap().push((id, body));
                    } else {
                        *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The five functions on `env` behind an HTTP API and the event source mapping; the API's URL.
async fn start(env: &TestEnv, config: &shared::config::Config) -> String {
    let functions = Arc::new(Functions::new(config, &env.dynamodb, &env.sqs).unwrap());
    let (base, _) = local::serve_api_on_loopback(Arc::clone(&functions))
        .await
        .unwrap();
    let template = Template::load(&Template::default_path()).unwrap();
    let sources = devstack::stack::sources(&template, &env.provisioned).unwrap();
    bridge::spawn(env.sqs.clone(), sources, functions);
    base
}

/// Six new radars and an invalid one, with their webhooks to `port`; the bulk's id.
async fn submit(base: &str, api_key: &str, port: u16) -> uuid::Uuid {
    let radars: Vec<Value> = (0..6)
        .map(|i| serde_json::json!({"radar_type": "company_mentions", "domain": format!("outage{i}.example.com")}))
        .chain([serde_json::json!({"radar_type": "company_mentions", "domain": "not a domain"})])
        .collect();
    let body = serde_json::json!({
        "webhook_url": format!("http://127.0.0.1:{port}/hooks"),
        "radars": radars,
    });
    let accepted = reqwest::Client::new()
        .post(format!("{base}/v1/radars/bulk"))
        .header("x-api-key", api_key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let accepted: Value = serde_json::from_str(&accepted.text().await.unwrap()).unwrap();
    accepted["bulk_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_arrives_once_the_receiver_is_back_and_bulk_completed_last() {
    let env = TestEnv::new().await;
    let config = env.config_with(&[
        ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
        (
            "RADAR_WEBHOOK_RETRY_SCHEDULE",
            "1s,2s,2s,3s,3s,5s,5s,5s,5s,5s",
        ),
        ("RADAR_WEBHOOK_TIMEOUT_SECONDS", "2"),
        // The refusals open the destination's circuit; its probes then come 2, 4 and 8 s
        // apart, so one meets the 503s and a later one finds the receiver back.
        ("RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS", "2"),
    ]);
    let account = env.account().await;
    let secret = env
        .store()
        .get_secrets(account.id)
        .await
        .unwrap()
        .unwrap()
        .current
        .expose()
        .to_owned();
    let base = start(&env, &config).await;
    // The receiver's port, with nothing listening on it yet: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let bulk_id = submit(&base, &account.api_key, port).await;

    tokio::time::sleep(Duration::from_secs(4)).await;
    let receiver = Arc::new(Receiver::default());
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(serve(listener, Arc::clone(&receiver), secret));
    tokio::time::sleep(Duration::from_secs(5)).await;
    receiver.up.store(true, Ordering::SeqCst);

    let delivered = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let delivered = receiver.delivered.lock().unwrap().clone();
            if delivered
                .iter()
                .any(|(_, body)| body["update_type"] == "bulk_completed")
            {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("bulk_completed arrives once the receiver is back");

    let (last_id, last) = delivered.last().unwrap();
    assert_eq!(
        last["update_type"], "bulk_completed",
        "bulk_completed comes last"
    );
    assert_eq!(last["summary"]["created"], 6);
    assert_eq!(last["summary"]["failed"], 1);
    let mut items: Vec<(u64, &str)> = delivered
        .iter()
        .filter(|(id, _)| id != last_id)
        .map(|(id, body)| (body["item_index"].as_u64().unwrap(), id.as_str()))
        .collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(
        items.iter().map(|(index, _)| *index).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>(),
        "each item's event, under one id"
    );
    assert!(
        receiver.unavailable.load(Ordering::SeqCst) > 0,
        "503s were answered"
    );
    // A delivery is recorded after its 2xx, so the last one's record may trail its arrival.
    let deliveries = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let deliveries = env.store().deliveries(bulk_id).await.unwrap();
            if deliveries.iter().all(|d| d.state != DeliveryState::Pending) {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("every delivery is recorded settled");
    assert_eq!(deliveries.len(), 8);
    assert!(
        deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered),
        "{deliveries:?}"
    );
    let log: Vec<_> = deliveries.iter().flat_map(|d| &d.log).collect();
    assert!(
        log.iter().any(|a| a.status.is_none() && a.error.is_some()),
        "some attempt met a refused connection: {log:?}"
    );
    assert!(log.iter().any(|a| a.status == Some(503)), "{log:?}");
    // Without the circuit, seven items retried every 1-2 s for 9 s of outage would have
    // made some 40 failed attempts; behind it, the first failures and a probe or two.
    let failed = log.iter().filter(|a| a.status != Some(200)).count();
    assert!(failed <= 12, "{failed} failed attempts: {log:?}");
    assert_eq!(env.queue_depth("WebhookDeadLetterQueue").await, 0);
}
