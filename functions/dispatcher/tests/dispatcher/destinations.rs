//! One destination's failures cost only that destination: slots in flight, the circuit
//! breaker, the connect timeout, and a silent receiver beside a healthy one.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use dispatcher::{
    resolver::SystemLookup,
    sender::{CONNECT_TIMED_OUT, Reply as Sent, Sender},
    signature::SignedHeaders,
};
use shared::{destination::WaitReason, queue::WebhookTask, store::deliveries::DeliveryState};
use test_support::receiver::{Reply, Silent};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{App, Seeded, spawn_app_with};

async fn app_with(overrides: &[(&str, &str)]) -> App {
    spawn_app_with(overrides, Arc::new(SystemLookup)).await
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

async fn attempts_made(app: &App, seeded: &Seeded, index: usize) -> u32 {
    app.delivery_if_any(seeded, seeded.update_ids[index])
        .await
        .map_or(0, |delivery| delivery.attempts)
}

#[tokio::test]
async fn deliveries_in_flight_to_one_host_never_exceed_its_cap_across_concurrent_batches() {
    let app = app_with(&[("RADAR_WEBHOOK_HOST_IN_FLIGHT", "3")]).await;
    app.receiver
        .always(Reply::status(200).after(Duration::from_millis(300)));
    let seeded = app.seed(30).await;

    let reports = app.play(seeded.items()).await;

    assert_eq!(app.receiver.most_at_once(), 3, "three at once, never more");
    let mut delivered: Vec<_> = reports.iter().flat_map(|r| r.delivered.clone()).collect();
    delivered.sort_unstable();
    let mut expected = seeded.update_ids.clone();
    expected.sort_unstable();
    assert_eq!(delivered, expected, "every event, once");
    assert_eq!(app.receiver.count(), 30);
    assert!(
        reports
            .iter()
            .flat_map(|r| &r.waited)
            .any(|(_, reason)| *reason == WaitReason::InFlight),
        "some waited for a slot"
    );
    for index in 0..30 {
        assert_eq!(
            attempts_made(&app, &seeded, index).await,
            1,
            "waiting for a slot spends no attempt"
        );
    }
}

#[tokio::test]
async fn an_open_circuit_makes_no_attempt_until_one_probe_and_waiting_spends_no_attempt() {
    let app = app_with(&[
        ("RADAR_WEBHOOK_CIRCUIT_FAILURES", "2"),
        ("RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS", "30"),
    ])
    .await;
    app.receiver.always(Reply::status(503));
    let seeded = app.seed(5).await;
    let items = seeded.items();
    let start = Utc::now();

    // Two failures in a row open the circuit.
    app.dispatch_at(&items[..2], start).await;
    assert_eq!(app.receiver.count(), 2);

    // While it is open, nothing is sent and nothing is spent.
    let held = app.dispatch_at(&items[2..], start + seconds(1)).await;
    assert_eq!(
        app.receiver.count(),
        2,
        "no attempt while the circuit is open"
    );
    assert_eq!(held.waited.len(), 3);
    assert!(
        held.waited
            .iter()
            .all(|(_, r)| *r == WaitReason::CircuitOpen)
    );
    assert_eq!(held.requeued.len(), 3);
    for (task, _) in &held.requeued {
        assert_eq!(task.attempt, 1, "the same attempt, still to make");
        assert!(task.not_before.unwrap() >= start + seconds(30), "{task:?}");
    }
    for index in 2..5 {
        assert_eq!(attempts_made(&app, &seeded, index).await, 0);
    }

    // After the cool-down, exactly one goes: the probe. It is answered, which closes it.
    app.receiver.always(Reply::status(200));
    let waiting: Vec<WebhookTask> = held.requeued.iter().map(|(task, _)| *task).collect();
    let probed = app.dispatch_at(&waiting, start + seconds(31)).await;
    assert_eq!(app.receiver.count(), 3, "one probe");
    assert_eq!(probed.delivered.len(), 1);
    assert_eq!(probed.waited.len(), 2);
    assert!(probed.waited.iter().all(|(_, r)| *r == WaitReason::Probing));

    // The rest go once they look again, and each is delivered with its first attempt.
    let rest: Vec<WebhookTask> = probed.requeued.iter().map(|(task, _)| *task).collect();
    let after = app.dispatch_at(&rest, start + seconds(40)).await;
    assert_eq!(after.delivered.len(), 2);
    for index in 2..5 {
        let delivery = app.delivery(&seeded, seeded.update_ids[index]).await;
        assert_eq!(delivery.state, DeliveryState::Delivered);
        assert_eq!(delivery.attempts, 1, "item {index} kept all its attempts");
    }
}

#[tokio::test]
async fn a_failed_probe_opens_the_circuit_again_for_longer() {
    let app = app_with(&[
        ("RADAR_WEBHOOK_CIRCUIT_FAILURES", "1"),
        ("RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS", "30"),
    ])
    .await;
    app.receiver.always(Reply::status(500));
    let seeded = app.seed(3).await;
    let items = seeded.items();
    let start = Utc::now();
    app.dispatch_at(&items[..1], start).await;

    let probed = app.dispatch_at(&items[1..], start + seconds(31)).await;
    assert_eq!(app.receiver.count(), 2, "the probe failed");

    // Open for 60 s now: a look at +80 s sends nothing, one at +95 s probes.
    let waiting: Vec<WebhookTask> = probed
        .requeued
        .iter()
        .map(|(task, _)| *task)
        .filter(|task| task.attempt == 1)
        .collect();
    assert_eq!(waiting.len(), 1);
    let early = WebhookTask {
        not_before: None,
        ..waiting[0]
    };
    let held = app.dispatch_at(&[early], start + seconds(80)).await;
    assert_eq!(app.receiver.count(), 2);
    assert_eq!(held.waited[0].1, WaitReason::CircuitOpen);
    app.dispatch_at(&[early], start + seconds(95)).await;
    assert_eq!(app.receiver.count(), 3);
}

#[tokio::test]
async fn a_silent_destination_and_a_healthy_one_in_one_batch_the_healthy_one_is_delivered() {
    let app = app_with(&[("RADAR_WEBHOOK_TIMEOUT_SECONDS", "2")]).await;
    let silent = Silent::start().await;
    let healthy = app.seed(1).await;
    let stuck = app.seed_to(&silent.url, 1).await;

    let report = app.dispatch(&[stuck.item(0), healthy.item(0)]).await;

    assert_eq!(
        report.delivered,
        [healthy.update_ids[0]],
        "in the same invocation"
    );
    assert_eq!(app.receiver.count(), 1);
    assert_eq!(silent.connections(), 1);
    let retry: Vec<&WebhookTask> = report.requeued.iter().map(|(task, _)| task).collect();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].event, stuck.item(0));
    assert_eq!(
        retry[0].attempt, 2,
        "the silent one's next attempt is scheduled"
    );
    let delivery = app.delivery(&stuck, stuck.update_ids[0]).await;
    assert_eq!(delivery.log[0].error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn a_delivery_held_behind_an_open_circuit_longer_than_its_schedule_is_given_up() {
    let app = app_with(&[
        ("RADAR_WEBHOOK_CIRCUIT_FAILURES", "1"),
        ("RADAR_WEBHOOK_RETRY_SCHEDULE", "1m,1m"),
    ])
    .await;
    app.receiver.always(Reply::status(500));
    let seeded = app.seed(2).await;
    // The schedule lasts 2.4 minutes at most: past that, waiting ends.
    let late = Utc::now() + chrono::Duration::minutes(3);
    app.dispatch_at(&[seeded.item(0)], late).await;

    let report = app.dispatch_at(&[seeded.item(1)], late + seconds(1)).await;

    assert_eq!(app.receiver.count(), 1, "nothing sent for the held one");
    assert_eq!(report.given_up, [seeded.update_ids[1]]);
    let delivery = app.delivery(&seeded, seeded.update_ids[1]).await;
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(
        delivery.log[0].error.as_deref(),
        Some(shared::destination::HELD_TOO_LONG)
    );
    assert_eq!(app.env.queue_depth("WebhookDeadLetterQueue").await, 1);
}

#[tokio::test]
async fn a_host_that_does_not_accept_connections_fails_at_the_connect_timeout() {
    let app = app_with(&[
        ("RADAR_WEBHOOK_TIMEOUT_SECONDS", "30"),
        ("RADAR_WEBHOOK_CONNECT_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    // A listener whose accept queue is full: the kernel drops further connection attempts,
    // as a firewall that drops packets would.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = socket.local_addr().unwrap();
    let _listener = socket.listen(0).unwrap();
    let mut filling = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(address)).await
        {
            filling.push(stream);
        }
    }
    let sender = Sender::new(
        &app.deps.config.dispatch,
        app.deps.config.webhooks,
        Arc::new(SystemLookup),
    )
    .unwrap();
    let headers = SignedHeaders {
        id: "msg_1".into(),
        timestamp: 0,
        signature: "v1,x".into(),
    };

    let sent = sender
        .post(
            &format!("http://{address}/hooks"),
            &headers,
            "{}".into(),
            Utc::now(),
        )
        .await;

    assert_eq!(
        sent.reply,
        Sent::Connection(CONNECT_TIMED_OUT.into()),
        "a connect timeout, not the attempt's"
    );
}

#[tokio::test]
async fn a_batch_waits_in_its_invocation_for_a_quick_destinations_slots() {
    let app = app_with(&[("RADAR_WEBHOOK_HOST_IN_FLIGHT", "2")]).await;
    app.receiver
        .always(Reply::status(200).after(Duration::from_millis(50)));
    let seeded = app.seed(9).await;
    let items = seeded.items();
    // The first answer tells the gate the destination is quick.
    app.dispatch(&items[..1]).await;

    let report = app.dispatch(&items[1..]).await;

    assert_eq!(report.delivered.len(), 8, "all in this invocation");
    assert!(report.requeued.is_empty(), "{:?}", report.requeued);
    assert!(report.waited.is_empty());
    assert_eq!(app.receiver.most_at_once(), 2, "two at once, never more");
    assert_eq!(app.receiver.count(), 9);
}

#[tokio::test]
async fn a_batch_for_a_slow_destination_waits_on_the_queue_for_its_slots() {
    let app = app_with(&[("RADAR_WEBHOOK_HOST_IN_FLIGHT", "2")]).await;
    app.receiver
        .always(Reply::status(200).after(Duration::from_millis(700)));
    let seeded = app.seed(5).await;
    let items = seeded.items();
    app.dispatch(&items[..1]).await;

    let report = app.dispatch(&items[1..]).await;

    // Two go; the other two would hold the invocation for most of a second each.
    assert_eq!(report.delivered.len(), 2);
    assert_eq!(report.requeued.len(), 2);
    assert!(
        report
            .waited
            .iter()
            .all(|(_, reason)| *reason == WaitReason::InFlight)
    );
}
