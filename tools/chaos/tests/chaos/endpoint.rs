//! The misbehaving webhook endpoints that the chaos run's noisy accounts and the bench's
//! noisy neighbour point at: each really reads, counts and records what it gets, and answers
//! as it is told to (or never).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chaos::endpoint::{Behaviour, Endpoint};
use devstack::receiver::Received;
use shared::credentials::WebhookSecret;

/// A signed delivery of `body` to `url`, given up after `timeout`.
async fn deliver(
    url: &str,
    secret: &str,
    body: &str,
    timeout: Duration,
) -> reqwest::Result<reqwest::Response> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign("evt_1", timestamp, body.as_bytes())
        .unwrap();
    reqwest::Client::new()
        .post(url)
        .header("webhook-id", "evt_1")
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .timeout(timeout)
        .send()
        .await
}

fn recording() -> (Arc<Mutex<Vec<Received>>>, impl Fn(Received) + Send + Sync) {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let keeping = Arc::clone(&seen);
    (seen, move |received| keeping.lock().unwrap().push(received))
}

#[tokio::test]
async fn a_silent_endpoint_reads_and_counts_each_request_and_never_answers() {
    let secret = WebhookSecret::generate().unwrap();
    let (seen, record) = recording();
    let endpoint = Endpoint::start(Behaviour::Silent, Some(secret.expose()), record)
        .await
        .unwrap();

    for _ in 0..2 {
        let answer = deliver(
            &endpoint.url,
            secret.expose(),
            r#"{"update_type":"radar_created"}"#,
            Duration::from_millis(500),
        )
        .await;
        assert!(answer.unwrap_err().is_timeout(), "no answer ever comes");
    }

    assert_eq!(endpoint.requests(), 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.verified && r.id == "evt_1"));
    assert_eq!(seen[0].body["update_type"], "radar_created");
}

#[tokio::test]
async fn a_late_endpoint_answers_its_status_once_its_delay_is_over() {
    let (seen, record) = recording();
    let endpoint = Endpoint::start(
        Behaviour::Late {
            status: 500,
            after: Duration::from_millis(300),
        },
        None,
        record,
    )
    .await
    .unwrap();

    let answer = deliver(
        &endpoint.url,
        "whsec_c2VjcmV0",
        "{}",
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    assert_eq!(answer.status(), 500);
    assert_eq!(endpoint.requests(), 1);
    assert!(
        !seen.lock().unwrap()[0].verified,
        "no secret, nothing verified"
    );
}

#[tokio::test]
async fn an_endpoint_that_answers_says_200() {
    let (_, record) = recording();
    let endpoint = Endpoint::start(Behaviour::Answers, None, record)
        .await
        .unwrap();

    let answer = deliver(
        &endpoint.url,
        "whsec_c2VjcmV0",
        "{}",
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    assert_eq!(answer.status(), 200);
}
