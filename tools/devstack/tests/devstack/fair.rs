//! The bridge delivering as a fair queue does, against moto: an account's messages sent
//! behind another account's backlog go first, and a function still has the queue's own
//! visibility timeout.

use std::collections::HashSet;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use devstack::bridge::{self, Delivery};
use test_support::TestEnv;

use super::{Scripted, depth, pump_next, queue_pair};

/// Sends `count` messages in `group`, bodies `<group>-<n>`, in sending order.
async fn send_grouped(env: &TestEnv, url: &str, group: &str, count: usize) {
    let bodies: Vec<String> = (0..count).map(|n| format!("{group}-{n}")).collect();
    for chunk in bodies.chunks(10) {
        let entries = chunk.iter().enumerate().map(|(at, body)| {
            SendMessageBatchRequestEntry::builder()
                .id(at.to_string())
                .message_body(body)
                .message_group_id(group)
                .build()
                .unwrap()
        });
        env.sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
    }
}

/// The bodies the function got, in the order it got them.
fn delivered(function: &Scripted) -> Vec<String> {
    function
        .events
        .lock()
        .unwrap()
        .iter()
        .flat_map(|event| &event.records)
        .filter_map(|record| record.body.clone())
        .collect()
}

#[tokio::test]
async fn a_quiet_accounts_messages_behind_a_backlog_go_first() {
    let env = TestEnv::new().await;
    let (source, _) = queue_pair(&env).await;
    send_grouped(&env, &source.queue_url, "busy", 40).await;
    send_grouped(&env, &source.queue_url, "quiet", 5).await;
    let function = Scripted::default();
    let delivery = Delivery::exact().with_fair_queues();

    while depth(&env, &source.queue_url).await > 0 {
        bridge::pump_with(&env.sqs, &source, &function, &delivery)
            .await
            .unwrap();
    }

    let order = delivered(&function);
    assert_eq!(order.len(), 45, "each message once: {order:?}");
    assert_eq!(order.iter().collect::<HashSet<_>>().len(), 45);
    let last_quiet = order.iter().rposition(|body| body.starts_with("quiet-"));
    let busy_before = order[..last_quiet.unwrap()]
        .iter()
        .filter(|body| body.starts_with("busy-"))
        .count();
    // In sending order all 40 would go first; the fair queue lets at most one batch's worth.
    assert!(
        busy_before <= 10,
        "{busy_before} busy messages first: {order:?}"
    );
    let busy: Vec<&String> = order.iter().filter(|b| b.starts_with("busy-")).collect();
    let in_order: Vec<String> = (0..40).map(|n| format!("busy-{n}")).collect();
    assert_eq!(
        busy,
        in_order.iter().collect::<Vec<_>>(),
        "one group keeps its order"
    );
}

#[tokio::test]
async fn a_message_received_ahead_still_comes_back_after_the_queues_visibility_timeout() {
    let env = TestEnv::new().await;
    // Hidden for 1 s once a function has it; the pool hides what it holds for 300 s.
    let (source, _) = queue_pair(&env).await;
    send_grouped(&env, &source.queue_url, "a", 1).await;
    let function = Scripted {
        failing: HashSet::from(["a-0".to_owned()]),
        ..Scripted::default()
    };
    let delivery = Delivery::exact().with_fair_queues();

    let first = bridge::pump_with(&env.sqs, &source, &function, &delivery)
        .await
        .unwrap();
    assert_eq!((first.received, first.retried), (1, 1));

    // Back within seconds, as the queue's own 1 s timeout says, not after the pool's 300 s.
    let again = pump_next(&env, &source, &function, &delivery).await;
    assert_eq!((again.received, again.retried), (1, 1));
    let events = function.events.lock().unwrap();
    let counts: Vec<&str> = events
        .iter()
        .map(|event| event.records[0].attributes["ApproximateReceiveCount"].as_str())
        .collect();
    assert_eq!(counts, ["1", "2"]);
    assert_eq!(
        events[0].records[0].attributes["MessageGroupId"], "a",
        "the function sees the group"
    );
}

#[tokio::test]
async fn waiting_in_the_pool_longer_than_the_visibility_timeout_is_not_another_receive() {
    let env = TestEnv::new().await;
    // Hidden for 1 s once received; batches of one, so the second message waits in the pool.
    let (mut source, _) = queue_pair(&env).await;
    source.batch_size = 1;
    send_grouped(&env, &source.queue_url, "a", 2).await;
    let function = Scripted::default();
    let delivery = Delivery::exact().with_fair_queues();

    let first = bridge::pump_with(&env.sqs, &source, &function, &delivery)
        .await
        .unwrap();
    assert_eq!(
        (first.received, first.deleted),
        (2, 1),
        "both received, one sent"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let second = bridge::pump_with(&env.sqs, &source, &function, &delivery)
        .await
        .unwrap();

    assert_eq!((second.received, second.deleted), (0, 1), "from the pool");
    let counts: Vec<String> = function
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|event| event.records[0].attributes["ApproximateReceiveCount"].clone())
        .collect();
    assert_eq!(counts, ["1", "1"], "waiting in the pool is not a receive");
    assert_eq!(depth(&env, &source.queue_url).await, 0);
}
