//! `webhook listen` receives the stack's real webhooks for the sample file, and refuses a
//! request that is tampered with or stale; the sample in the README's quick start ends as the
//! README says.

use std::sync::Arc;

use radar::Output;
use radar_client::webhook::Verifier;
use tokio::net::TcpListener;

use test_support::Printed;

use crate::support::{Stack, read_results};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/radars.csv");

#[tokio::test]
async fn webhook_listen_hears_the_sample_bulk_and_refuses_a_tampered_or_stale_request() {
    let stack = Stack::up(100).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let heard = Printed::default();
    let jsonl = stack.path("events.jsonl");
    let output = Arc::new(Output::plain(heard.clone()));
    let verifier = Verifier::new(&stack.secret).unwrap();
    let serving = {
        let (output, jsonl) = (Arc::clone(&output), jsonl.clone());
        tokio::spawn(async move {
            radar::listen::serve(listener, verifier, Some(&jsonl), &output).await
        })
    };
    let out = stack.path("sample.csv");

    let (lines, answer) = stack
        .radar(&[
            "bulk",
            "submit",
            SAMPLE,
            "--webhook-url",
            &url,
            "--results",
            out.to_str().unwrap(),
            "--interval",
            "0.5",
        ])
        .await;

    answer.unwrap();
    let results = read_results(&out);
    assert_eq!(results.len(), 36, "{}", lines.text());
    let by_crm = |crm: &str| {
        results
            .iter()
            .find(|row| row["custom_fields.crm_id"] == crm)
            .unwrap()
            .clone()
    };
    assert_eq!(by_crm("CRM-1020")["code"], "400", "not a domain");
    assert_eq!(by_crm("CRM-1020")["field"], "domain");
    assert_eq!(
        by_crm("CRM-2009")["code"],
        "400",
        "a contact with nothing to find them by"
    );
    // Stripe's careers page is stripe.com again: whichever of the two rows is created first
    // (their items run at once), the other is a 409 naming its radar.
    let mut pair = [by_crm("CRM-1001"), by_crm("CRM-1019")];
    pair.sort_by_key(|row| row["outcome"].clone());
    let [created, repeat] = pair;
    assert_eq!(
        (created["outcome"].as_str(), repeat["code"].as_str()),
        ("created", "409")
    );
    assert_eq!(repeat["conflicting_radar_id"], created["radar_id"]);
    let created = results
        .iter()
        .filter(|row| row["outcome"] == "created")
        .count();
    assert_eq!(created, 33);
    assert_eq!(by_crm("CRM-2001")["row"], "22", "the CSV line");

    // Every event reached the listener, verified, in a line and in the JSONL file.
    let completed = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            if !heard.matching(" bulk_completed ").is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(completed.is_ok(), "{}", heard.text());
    assert_eq!(heard.matching(" radar_created ").len(), 33);
    assert_eq!(heard.matching(" radar_failure ").len(), 3);
    let stored = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(stored.lines().count(), 37);

    // A body changed after signing, and a signature five minutes old: both refused.
    send_forged(&url, &stack.secret, stored.lines().next().unwrap()).await;
    assert_eq!(
        heard.matching("refused with 400").len(),
        2,
        "{}",
        heard.text()
    );
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 37);
    serving.abort();
}

/// Sends `body` twice to the receiver at `url`: changed after it was signed, and signed ten
/// minutes ago. Both must be refused with 400.
async fn send_forged(url: &str, secret: &str, body: &str) {
    let signer = standardwebhooks::Webhook::new(secret).unwrap();
    let now = chrono::Utc::now().timestamp();
    let client = reqwest::Client::new();
    for (label, timestamp, sent) in [
        (
            "tampered",
            now,
            body.replace("\"item_index\":", "\"item_index\": 1"),
        ),
        ("stale", now - 600, body.to_owned()),
    ] {
        let signature = signer.sign("msg_test", timestamp, body.as_bytes()).unwrap();
        let answer = client
            .post(url)
            .header("webhook-id", "msg_test")
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(sent)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{label}");
    }
}
