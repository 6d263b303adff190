//! `radarctl delivery list` and `delivery resend`: the delivery records as the dispatcher
//! leaves them, and resends carried out by the real dispatcher to a real receiver.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use dispatcher::{BatchReport, resolver::SystemLookup};
use radarctl::{Deps, Error};
use serde_json::{Value, json};
use shared::{
    clock,
    destination::Circuit,
    queue::{Queue, WebhookMessage, WebhookTask},
    store::{
        bulks::{Bulk, BulkState, Completion},
        deliveries::{AttemptRecord, Claimed, DeliveryKey, DeliveryState},
        items::{ItemState, Outcome},
    },
    submission::SubmittedItem,
    webhook_url::WebhookUrl,
};
use standardwebhooks::Webhook;
use test_support::{
    TestEnv,
    receiver::{Receiver, Reply},
};
use uuid::Uuid;

use crate::{deps, radarctl, text};

/// A bulk whose items are all decided, as the processor leaves it.
struct Seeded {
    bulk: Bulk,
    update_ids: Vec<Uuid>,
}

impl Seeded {
    fn id(&self) -> String {
        self.bulk.id.to_string()
    }

    /// The processor's hand-off of each item's event.
    fn items(&self) -> Vec<WebhookMessage> {
        (0..)
            .zip(&self.update_ids)
            .map(|(item_index, update_id)| WebhookMessage::Item {
                bulk_id: self.bulk.id,
                item_index,
                update_id: *update_id,
            })
            .collect()
    }

    fn key(&self, item_index: Option<u32>, update_id: Uuid) -> DeliveryKey {
        DeliveryKey {
            bulk_id: self.bulk.id,
            update_id,
            item_index,
            expires_at: self.bulk.expires_at,
        }
    }
}

/// `total` decided items whose events go to `webhook_url`; the bulk completed if `complete`.
async fn seed(
    deps: &Deps,
    account_id: Uuid,
    webhook_url: &str,
    total: u32,
    complete: bool,
) -> Seeded {
    seed_accepted(deps, account_id, webhook_url, total, complete, Utc::now()).await
}

/// [`seed`], the bulk accepted at `now`.
async fn seed_accepted(
    deps: &Deps,
    account_id: Uuid,
    webhook_url: &str,
    total: u32,
    complete: bool,
    now: DateTime<Utc>,
) -> Seeded {
    let mut bulk = Bulk {
        id: Uuid::new_v4(),
        account_id,
        webhook_url: WebhookUrl::from_stored(webhook_url).unwrap(),
        total,
        state: BulkState::Submitting,
        created_at: now,
        expires_at: Utc::now().timestamp() + 86_400,
        completion: None,
        funding: shared::store::bulks::Funding::Metered,
    };
    let items: Vec<SubmittedItem> = (0..total)
        .map(|index| SubmittedItem {
            index,
            radar: serde_json::value::to_raw_value(&json!({})).unwrap(),
            custom_fields: format!(r#"{{"row":{index}}}"#),
        })
        .collect();
    test_support::store_bulk(&deps.store, &bulk, &items, BulkState::Accepted).await;
    let mut update_ids = Vec::new();
    for index in 0..total {
        let update_id = Uuid::new_v4();
        let event = json!({
            "update_id": update_id,
            "update_type": "radar_failure",
            "completed_at": clock::rfc3339(now),
            "bulk_id": bulk.id,
            "item_index": index,
            "custom_fields": {"row": index},
            "status": "error",
        });
        let outcome = Outcome {
            state: ItemState::Failed,
            update_id,
            event: event.to_string(),
        };
        deps.store
            .mark_item_terminal(&bulk, index, &outcome)
            .await
            .unwrap();
        update_ids.push(update_id);
    }
    if complete {
        let proposed = Completion {
            update_id: Uuid::new_v4(),
            completed_at: now,
        };
        bulk.completion = Some(deps.store.complete_bulk(bulk.id, &proposed).await.unwrap());
    }
    Seeded { bulk, update_ids }
}

/// A dispatcher on the test's tables and queues that reaches a loopback receiver and makes
/// one attempt per delivery (an empty retry schedule): a failure is given up at once, and so
/// is a resent attempt that fails, since every resent attempt is past that schedule.
fn dispatcher_of(env: &TestEnv) -> dispatcher::Deps {
    let config = env.config_with(&[
        ("RADAR_ALLOW_INSECURE_WEBHOOKS", "true"),
        ("RADAR_WEBHOOK_RETRY_SCHEDULE", ""),
    ]);
    dispatcher::Deps::new(
        config,
        env.dynamodb.clone(),
        env.sqs.clone(),
        Arc::new(SystemLookup),
    )
    .unwrap()
}

/// Queues events on the webhook queue, as the processor hands them on.
async fn hand_off(deps: &Deps, messages: &[WebhookMessage]) {
    let tasks: Vec<WebhookTask> = messages.iter().copied().map(WebhookTask::from).collect();
    Queue::new(deps.sqs.clone(), &deps.config.webhook_queue_url)
        .send_all(&tasks)
        .await
        .unwrap();
}

/// What the webhook queue holds, received and handed to the dispatcher as one batch.
async fn dispatch_queued(env: &TestEnv, dispatcher: &dispatcher::Deps) -> BatchReport {
    let mut event = SqsEvent::default();
    event.records = env
        .drain_queue("WebhookQueue")
        .await
        .into_iter()
        .enumerate()
        .map(|(n, body)| {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("m-{n}"));
            message.receipt_handle = Some(format!("r-{n}"));
            message.body = Some(body);
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            message
        })
        .collect();
    dispatcher::process_batch(dispatcher, event, Utc::now()).await
}

/// The tasks waiting on the webhook queue.
async fn queued_tasks(env: &TestEnv) -> Vec<WebhookTask> {
    env.drain_queue("WebhookQueue")
        .await
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect()
}

fn attempt(attempt: u32, status: Option<u16>, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        attempt,
        at: Utc::now(),
        status,
        latency_ms: 12,
        error: error.map(str::to_owned),
    }
}

async fn account(deps: &Deps) -> (Uuid, Value) {
    let created = radarctl(deps, &["account", "create"]).await.unwrap();
    (text(&created["account_id"]).parse().unwrap(), created)
}

fn entries(answer: &Value, field: &str) -> Vec<Value> {
    answer[field].as_array().expect("an array").clone()
}

#[tokio::test]
async fn failed_deliveries_resent_by_radarctl_arrive_again_as_they_first_did() {
    let (env, deps) = deps().await;
    let dispatcher = dispatcher_of(&env);
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(503));
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, &receiver.url, 2, true).await;
    hand_off(&deps, &seeded.items()).await;
    let first = dispatch_queued(&env, &dispatcher).await;
    let completed = seeded.bulk.completion.as_ref().unwrap().update_id;
    hand_off(
        &deps,
        &[WebhookMessage::BulkCompleted {
            bulk_id: seeded.bulk.id,
            update_id: completed,
        }],
    )
    .await;
    let summary = dispatch_queued(&env, &dispatcher).await;
    assert_eq!(first.given_up.len() + summary.given_up.len(), 3);
    let rotated = radarctl(&deps, &["secret", "rotate", &account_id.to_string()])
        .await
        .unwrap();
    receiver.always(Reply::status(200));

    let resent = radarctl(&deps, &["delivery", "resend", &seeded.id(), "--failed"])
        .await
        .unwrap();
    let report = dispatch_queued(&env, &dispatcher).await;

    let resent = entries(&resent, "resent");
    assert_eq!(resent.len(), 3);
    assert!(
        resent.iter().all(|entry| entry["attempt"] == 2),
        "{resent:?}"
    );
    assert_eq!(report.delivered.len(), 3);
    let requests = receiver.received();
    assert_eq!(requests.len(), 6);
    let (firsts, agains) = requests.split_at(3);
    let verifier = Webhook::new(text(&rotated["webhook_secret"])).unwrap();
    for again in agains {
        let first = firsts
            .iter()
            .find(|first| first.header("webhook-id") == again.header("webhook-id"))
            .expect("the webhook-id of a first attempt");
        assert_eq!(again.body, first.body, "the same bytes");
        verifier
            .verify(&again.body, &again.headers)
            .expect("signed with the account's current secret");
    }
    let ids: Vec<&str> = agains
        .iter()
        .map(|again| again.header("webhook-id"))
        .collect();
    assert!(
        ids.contains(&completed.to_string().as_str()),
        "bulk_completed too"
    );
    let listed = radarctl(&deps, &["delivery", "list", &seeded.id()])
        .await
        .unwrap();
    assert_eq!(listed["summary"]["delivered"], 3);
    for delivery in entries(&listed, "deliveries") {
        assert_eq!(delivery["attempts"], 2);
        let statuses: Vec<&Value> = delivery["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attempt| &attempt["status"])
            .collect();
        assert_eq!(statuses, [503, 200], "{delivery}");
    }
}

#[tokio::test]
async fn a_resent_attempt_that_fails_again_is_given_up_at_once() {
    let (env, deps) = deps().await;
    let dispatcher = dispatcher_of(&env);
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(503));
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, &receiver.url, 1, true).await;
    hand_off(&deps, &seeded.items()).await;
    dispatch_queued(&env, &dispatcher).await;

    radarctl(&deps, &["delivery", "resend", &seeded.id(), "--failed"])
        .await
        .unwrap();
    let report = dispatch_queued(&env, &dispatcher).await;

    assert_eq!(report.given_up, seeded.update_ids);
    assert_eq!(receiver.received().len(), 2, "one real attempt, no more");
    let delivery = deps
        .store
        .get_delivery(seeded.bulk.id, seeded.update_ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(delivery.attempts, 2);
    assert_eq!(delivery.log.len(), 2);
    assert_eq!(
        env.queue_depth("WebhookDeadLetterQueue").await,
        2,
        "parked again"
    );
    assert!(queued_tasks(&env).await.is_empty(), "nothing retries it");
}

#[tokio::test]
async fn an_event_delivered_at_its_first_attempt_is_listed_and_can_be_resent() {
    let (env, deps) = deps().await;
    let dispatcher = dispatcher_of(&env);
    let receiver = Receiver::start().await;
    receiver.always(Reply::status(200));
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, &receiver.url, 2, true).await;
    hand_off(&deps, &seeded.items()).await;
    let first = dispatch_queued(&env, &dispatcher).await;
    assert_eq!(first.delivered.len(), 2);
    let update_id = seeded.update_ids[1];
    // Noted in its tally record only: no record of its own yet.
    assert_eq!(
        deps.store
            .get_delivery(seeded.bulk.id, update_id)
            .await
            .unwrap(),
        None
    );

    let listed = radarctl(&deps, &["delivery", "list", &seeded.id()])
        .await
        .unwrap();
    assert_eq!(listed["summary"]["delivered"], 2);
    let resent = radarctl(
        &deps,
        &[
            "delivery",
            "resend",
            &seeded.id(),
            "--update-id",
            &update_id.to_string(),
        ],
    )
    .await
    .unwrap();
    let report = dispatch_queued(&env, &dispatcher).await;

    assert_eq!(entries(&resent, "resent")[0]["attempt"], 2);
    assert_eq!(report.delivered, [update_id]);
    let requests = receiver.received();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[2].header("webhook-id"), update_id.to_string());
    let delivery = deps
        .store
        .get_delivery(seeded.bulk.id, update_id)
        .await
        .unwrap()
        .expect("recorded by the resend");
    assert_eq!(
        (delivery.state, delivery.attempts),
        (DeliveryState::Delivered, 2)
    );
    assert_eq!(delivery.log.len(), 1, "the resent attempt's entry");
}

/// Gives up the first attempt of each of `seeded`'s item deliveries, as a dead endpoint
/// leaves them.
async fn give_up_items(deps: &Deps, seeded: &Seeded) {
    let now = Utc::now();
    for (index, update_id) in (0..).zip(&seeded.update_ids) {
        let key = seeded.key(Some(index), *update_id);
        let claimed = deps
            .store
            .claim_attempt(&key, 1, now, Duration::from_secs(60));
        let Claimed::Now(claim) = claimed.await.unwrap() else {
            panic!("a first attempt is claimed");
        };
        let record = attempt(1, None, Some("timed out"));
        assert!(deps.store.mark_given_up(&claim, &record).await.unwrap());
    }
}

#[tokio::test]
async fn a_resend_to_an_endpoint_whose_circuit_is_open_makes_every_attempt() {
    let (env, deps) = deps().await;
    let dispatcher = dispatcher_of(&env);
    let receiver = Receiver::start().await;
    let (account_id, _) = account(&deps).await;
    // Accepted long ago: past the patience after which the dispatcher gives up, unsent, what
    // waits behind an open circuit.
    let accepted = Utc::now() - chrono::Duration::days(3);
    let seeded = seed_accepted(&deps, account_id, &receiver.url, 3, true, accepted).await;
    give_up_items(&deps, &seeded).await;
    let destination = shared::destination::of_url(&seeded.bulk.webhook_url);
    let lapsed = Utc::now() - chrono::Duration::minutes(1);
    deps.store
        .change_destination(&destination, Utc::now(), |state| {
            state.circuit = Circuit::Open {
                until: lapsed,
                trips: 1,
            };
        })
        .await
        .unwrap();

    let resent = radarctl(&deps, &["delivery", "resend", &seeded.id(), "--failed"])
        .await
        .unwrap();
    let report = dispatch_queued(&env, &dispatcher).await;

    assert_eq!(resent["circuit_closed"], true, "{resent}");
    assert_eq!(report.delivered.len(), 3, "{:?}", report.given_up);
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn list_shows_every_attempt_and_failed_shows_the_given_up_and_the_retrying() {
    let (env, deps) = deps().await;
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, "https://example.com/hooks", 3, true).await;
    let store = &deps.store;
    let now = Utc::now();
    let lease = Duration::from_secs(60);
    let next_at = now + chrono::Duration::minutes(5);
    let ids = &seeded.update_ids;
    let mut claims = Vec::new();
    for (index, update_id) in (0..).zip(ids) {
        let Claimed::Now(claim) = store
            .claim_attempt(&seeded.key(Some(index), *update_id), 1, now, lease)
            .await
            .unwrap()
        else {
            panic!("a first attempt is claimed");
        };
        claims.push(claim);
    }
    let ok = attempt(1, Some(200), None);
    assert!(store.mark_delivered(&claims[0], &ok).await.unwrap());
    let unavailable = attempt(1, Some(503), None);
    let retrying = store.schedule_retry(&claims[1], &unavailable, next_at);
    assert!(retrying.await.unwrap());
    let timed_out = attempt(1, None, Some("timed out"));
    assert!(store.mark_given_up(&claims[2], &timed_out).await.unwrap());

    let all = radarctl(&deps, &["delivery", "list", &seeded.id()])
        .await
        .unwrap();
    let failing = radarctl(&deps, &["delivery", "list", &seeded.id(), "--failed"])
        .await
        .unwrap();

    assert_eq!(
        all["summary"],
        json!({"deliveries": 3, "delivered": 1, "pending": 1, "failed": 1})
    );
    let events: Vec<Value> = entries(&all, "deliveries")
        .iter()
        .map(|d| d["event"].clone())
        .collect();
    assert_eq!(events, ["item 0", "item 1", "item 2"]);
    let failing = entries(&failing, "deliveries");
    assert_eq!(failing.len(), 2);
    assert_eq!(failing[0]["state"], "pending");
    assert_eq!(failing[0]["next_attempt_at"], clock::rfc3339(next_at));
    assert_eq!(failing[0]["log"][0]["status"], 503);
    assert_eq!(failing[1]["state"], "failed");
    assert_eq!(failing[1]["update_id"], ids[2].to_string());
    assert_eq!(failing[1]["log"][0]["error"], "timed out");
    assert!(failing[1]["log"][0].get("status").is_none());

    let resent = radarctl(&deps, &["delivery", "resend", &seeded.id(), "--failed"])
        .await
        .unwrap();

    assert_eq!(entries(&resent, "resent").len(), 1);
    assert_eq!(resent["circuit_closed"], false, "it was never open");
    let skipped = entries(&resent, "skipped");
    assert_eq!(skipped[0]["update_id"], ids[1].to_string());
    assert!(
        text(&skipped[0]["reason"]).contains("the dispatcher makes attempt 2 at"),
        "{skipped:?}"
    );
    let tasks = queued_tasks(&env).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].event, seeded.items()[2]);
    assert_eq!(tasks[0].attempt, 2);
    let reopened = store.get_delivery(seeded.bulk.id, ids[2]).await.unwrap();
    let reopened = reopened.unwrap();
    assert_eq!(reopened.state, DeliveryState::Pending);
    assert_eq!(reopened.attempts, 1, "the count is kept");
    assert_eq!(reopened.log.len(), 1, "and so is the log");
    assert_eq!(reopened.log[0].error, timed_out.error);
}

#[tokio::test]
async fn an_attempt_under_way_is_never_reopened() {
    let (_env, deps) = deps().await;
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, "https://example.com/hooks", 1, true).await;
    let (store, now, update_id) = (&deps.store, Utc::now(), seeded.update_ids[0]);
    let key = seeded.key(Some(0), update_id);
    let lease = Duration::from_secs(60);
    let Claimed::Now(claim) = store.claim_attempt(&key, 1, now, lease).await.unwrap() else {
        panic!("a first attempt is claimed");
    };

    let by_radarctl = radarctl(
        &deps,
        &[
            "delivery",
            "resend",
            &seeded.id(),
            "--update-id",
            &update_id.to_string(),
        ],
    )
    .await;
    let by_store = store.reopen_for_resend(seeded.bulk.id, update_id, 0, now);

    assert!(
        matches!(&by_radarctl, Err(Error::Usage(why)) if why.contains("under way")),
        "{by_radarctl:?}"
    );
    assert!(!by_store.await.unwrap());
    let given_up = attempt(1, Some(500), None);
    assert!(store.mark_given_up(&claim, &given_up).await.unwrap());
    let stale = store.reopen_for_resend(seeded.bulk.id, update_id, 0, now);
    assert!(!stale.await.unwrap(), "only as the caller read it");
    let current = store.reopen_for_resend(seeded.bulk.id, update_id, 1, now);
    assert!(current.await.unwrap());
    let again = store.reopen_for_resend(seeded.bulk.id, update_id, 1, now);
    assert!(
        again.await.unwrap(),
        "a resend whose attempt has not begun can be made again"
    );
}

#[tokio::test]
async fn bulk_completed_is_resent_only_once_its_bulk_is_complete() {
    let (env, deps) = deps().await;
    let (account_id, _) = account(&deps).await;
    let seeded = seed(&deps, account_id, "https://example.com/hooks", 1, false).await;
    let (store, now, update_id) = (&deps.store, Utc::now(), Uuid::new_v4());
    let key = seeded.key(None, update_id);
    let lease = Duration::from_secs(60);
    let Claimed::Now(claim) = store.claim_attempt(&key, 1, now, lease).await.unwrap() else {
        panic!("claimed");
    };
    let given_up = attempt(1, Some(500), None);
    assert!(store.mark_given_up(&claim, &given_up).await.unwrap());

    let one = radarctl(
        &deps,
        &[
            "delivery",
            "resend",
            &seeded.id(),
            "--update-id",
            &update_id.to_string(),
        ],
    )
    .await;
    let failed = radarctl(&deps, &["delivery", "resend", &seeded.id(), "--failed"])
        .await
        .unwrap();

    let refusal = "bulk_completed can be resent only once the bulk is complete";
    assert!(
        matches!(&one, Err(Error::Usage(why)) if why.contains(refusal)),
        "{one:?}"
    );
    assert!(entries(&failed, "resent").is_empty());
    assert_eq!(entries(&failed, "skipped")[0]["reason"], refusal);
    assert!(queued_tasks(&env).await.is_empty());
    let delivery = store.get_delivery(seeded.bulk.id, update_id).await.unwrap();
    assert_eq!(delivery.unwrap().state, DeliveryState::Failed);
}

#[tokio::test]
async fn resend_names_what_it_resends() {
    use clap::Parser;
    let bulk = Uuid::new_v4().to_string();
    let update = Uuid::new_v4().to_string();

    for args in [
        vec!["radarctl", "delivery", "resend", &bulk],
        vec![
            "radarctl",
            "delivery",
            "resend",
            &bulk,
            "--failed",
            "--update-id",
            &update,
        ],
    ] {
        assert!(radarctl::Cli::try_parse_from(&args).is_err(), "{args:?}");
    }
}
