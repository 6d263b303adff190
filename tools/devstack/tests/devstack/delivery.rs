//! The bridge delivering as a standard SQS queue does (shuffled batches, held-back messages,
//! second copies), against moto, and the five functions keeping every invariant under it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use devstack::{
    bridge::{self, Delivery, Invoke, Pumped, Shuffle, Source},
    local::{self, Functions},
    receiver::{self, Received},
    stack,
};
use provision::Template;
use serde_json::Value;
use test_support::TestEnv;
use tokio::net::TcpListener;

use super::{arn, depth, send};

/// Every message delivered twice, never held back.
fn always_twice() -> Delivery {
    Delivery::shuffled(Shuffle {
        seed: Some(11),
        hold: 0.0,
        duplicate: 1.0,
    })
}

/// A queue whose received messages stay hidden for `visibility` seconds, read by `function`.
async fn queue(env: &TestEnv, visibility: u32, concurrency: usize) -> Source {
    let url = env
        .sqs
        .create_queue()
        .queue_name(format!("twice-{}", uuid::Uuid::new_v4().simple()))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    Source {
        function: "processor".into(),
        queue_arn: arn(env, &url).await,
        queue_url: url,
        batch_size: 10,
        concurrency,
        partial_batch_responses: true,
    }
}

fn receive_count(event: &SqsEvent) -> u32 {
    event.records[0].attributes["ApproximateReceiveCount"]
        .parse()
        .unwrap()
}

/// Holds a message's first copy until its second copy has started, then acknowledges both.
#[derive(Default)]
struct Rendezvous {
    started: Mutex<Vec<u32>>,
}

impl Invoke for Rendezvous {
    async fn invoke(&self, _function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let count = receive_count(event);
        self.started.lock().unwrap().push(count);
        if count == 1 {
            for _ in 0..200 {
                if self.started.lock().unwrap().contains(&2) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(SqsBatchResponse::default())
    }
}

#[tokio::test]
async fn a_second_copy_runs_beside_the_first_and_the_message_is_deleted_once() {
    let env = TestEnv::new().await;
    let source = queue(&env, 30, 2).await;
    send(&env, &source.queue_url, &["one"]).await;
    let function = Arc::new(Rendezvous::default());
    let delivery = Arc::new(always_twice());

    let bridging = bridge::spawn_with(
        env.sqs.clone(),
        vec![source.clone()],
        Arc::clone(&function),
        Arc::clone(&delivery),
    );
    for _ in 0..200 {
        if delivery.total().deleted + delivery.total().acknowledged_again == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bridging.abort();

    let total = delivery.total();
    assert_eq!(*function.started.lock().unwrap(), [1, 2]);
    assert_eq!((total.batches, total.duplicates), (2, 1));
    assert_eq!(total.concurrent, 1, "the copy ran while the first did");
    assert_eq!((total.deleted, total.acknowledged_again), (1, 1));
    assert_eq!(depth(&env, &source.queue_url).await, 0);
}

/// Fails every message on its first receive.
struct FirstFails;

impl Invoke for FirstFails {
    async fn invoke(&self, _function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            if record.attributes["ApproximateReceiveCount"] == "1" {
                response.add_failure(record.message_id.clone().unwrap());
            }
        }
        Ok(response)
    }
}

#[tokio::test]
async fn a_copy_that_succeeds_deletes_the_message_its_failed_twin_left() {
    let env = TestEnv::new().await;
    let source = queue(&env, 1, 1).await;
    send(&env, &source.queue_url, &["one"]).await;
    let delivery = always_twice();

    let first = bridge::pump_with(&env.sqs, &source, &FirstFails, &delivery)
        .await
        .unwrap();
    let copy = bridge::pump_with(&env.sqs, &source, &FirstFails, &delivery)
        .await
        .unwrap();

    assert_eq!((first.received, first.retried, first.deleted), (1, 1, 0));
    assert_eq!((copy.received, copy.duplicates, copy.deleted), (0, 1, 1));
    // Deleting the copy's receipt deleted the message: past the visibility timeout, nothing
    // comes back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut later = Pumped::default();
    for _ in 0..3 {
        later += bridge::pump_with(&env.sqs, &source, &FirstFails, &delivery)
            .await
            .unwrap();
    }
    assert_eq!(later.received, 0);
    assert_eq!(depth(&env, &source.queue_url).await, 0);
}

const BULKS: usize = 3;
/// A multiple of ten: a tenth of each bulk is invalid (400), a tenth conflicts (409).
const ITEMS: usize = 30;
const REFUSED: usize = ITEMS / 10;
const CREATED: usize = ITEMS - 2 * REFUSED;
const CREDITS: i64 = 1_000;

/// Item `i` of bulk `b`: an invalid domain when `i % 10 == 7`, and the domain of item `i - 1`
/// when `i % 10 == 9`, so that one of that pair is created and the other is a 409.
fn radar(bulk: usize, item: usize) -> Value {
    let domain = match item % 10 {
        7 => "not a domain".to_owned(),
        9 => format!("b{bulk}-i{}.example.com", item - 1),
        _ => format!("b{bulk}-i{item}.example.com"),
    };
    serde_json::json!({
        "radar_type": "company_job_openings",
        "domain": domain,
        "custom_fields": {"bulk": bulk, "item": item},
    })
}

/// What the receiver got, in the order it got it.
type Seen = Arc<Mutex<Vec<Received>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulks_keep_every_invariant_when_sqs_shuffles_holds_back_and_duplicates() {
    let env = TestEnv::new().await;
    let template = Template::load(&Template::default_path()).unwrap();
    let settings = stack::Settings {
        prefix: format!("shf{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        api_key: None,
        credits: CREDITS,
    };
    let stack = stack::up(&template, &env.dynamodb, &env.sqs, settings)
        .await
        .unwrap();
    let mut environment = stack.environment.clone();
    // A lease held by a copy's twin lapses in 34 s rather than 60: the run settles sooner.
    environment.insert("RADAR_WEBHOOK_TIMEOUT_SECONDS".into(), "2".into());
    let config = shared::config::Config::from_lookup(|name| environment.get(name).cloned())
        .expect("the stack's configuration");
    let functions = Arc::new(Functions::new(&config, &env.dynamodb, &env.sqs).unwrap());
    let (base, _) = local::serve_api_on_loopback(Arc::clone(&functions))
        .await
        .unwrap();
    let hooks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/", hooks.local_addr().unwrap());
    let received: Seen = Arc::default();
    let seen = Arc::clone(&received);
    let secret = stack.account["webhook_secret"].as_str().unwrap().to_owned();
    tokio::spawn(async move {
        receiver::serve(hooks, Some(&secret), move |r| seen.lock().unwrap().push(r)).await
    });
    let sources: Vec<Source> = stack
        .sources(&template)
        .unwrap()
        .into_iter()
        .map(|mut source| {
            source.concurrency = source.concurrency.min(4);
            source
        })
        .collect();
    let delivery = Arc::new(Delivery::shuffled(Shuffle {
        seed: None,
        hold: 0.3,
        duplicate: 0.1,
    }));
    let bridging = bridge::spawn_with(env.sqs.clone(), sources, functions, Arc::clone(&delivery));

    let client = reqwest::Client::new();
    let api_key = stack.account["api_key"].as_str().unwrap();
    let mut bulk_ids = Vec::new();
    for bulk in 0..BULKS {
        let body = serde_json::json!({
            "webhook_url": webhook_url,
            "radars": (0..ITEMS).map(|item| radar(bulk, item)).collect::<Vec<_>>(),
        });
        let accepted = client
            .post(format!("{base}/v1/radars/bulk"))
            .header("x-api-key", api_key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        let accepted: Value = serde_json::from_str(&accepted.text().await.unwrap()).unwrap();
        bulk_ids.push(accepted["bulk_id"].as_str().unwrap().to_owned());
    }
    settle(&env, &stack, &received, BULKS).await;
    bridging.abort();

    let received = received.lock().unwrap().clone();
    let pumped = delivery.pumped();
    let counts = format!("{pumped:#?}");
    let second_copies = pumped["dispatcher"].duplicates + pumped["dispatcher"].concurrent;
    check_deliveries(&received, &bulk_ids, second_copies);
    for bulk_id in &bulk_ids {
        let polled = client
            .get(format!("{base}/v1/radars/bulk/{bulk_id}"))
            .header("x-api-key", api_key)
            .send()
            .await
            .unwrap();
        let polled: Value = serde_json::from_str(&polled.text().await.unwrap()).unwrap();
        let completed = received
            .iter()
            .find(|r| r.body["update_type"] == "bulk_completed" && r.body["bulk_id"] == *bulk_id)
            .unwrap();
        assert_eq!(polled["status"], "completed");
        assert_eq!(polled["radars"], completed.body["radars"]);
    }
    let store = shared::store::Store::new(env.dynamodb.clone(), &config.table_name);
    let key = shared::credentials::ApiKey::new(api_key).digest();
    let account = store.account_for_key(&key).await.unwrap().unwrap();
    let created = i64::try_from(BULKS * CREATED).unwrap();
    assert_eq!(
        account.credits,
        CREDITS - created,
        "each radar charged once"
    );
    // SQS's behaviours really happened, to both functions.
    let processor = pumped["processor"];
    let dispatcher = pumped["dispatcher"];
    assert!(processor.shuffled > 0, "{counts}");
    assert!(processor.held > 0, "{counts}");
    assert!(processor.duplicates > 0, "{counts}");
    assert!(dispatcher.shuffled > 0, "{counts}");
    assert!(dispatcher.duplicates > 0, "{counts}");
    println!("{counts}");
}

/// Waits until `bulks` `bulk_completed` events have arrived and every queue is empty, in
/// flight and delayed messages included: nothing left that could still send an event.
async fn settle(env: &TestEnv, stack: &stack::Stack, received: &Seen, bulks: usize) {
    for _ in 0..600 {
        let completed = received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.body["update_type"] == "bulk_completed")
            .count();
        let mut queued = 0;
        for queue in stack.provisioned.queues.values() {
            queued += depth(env, &queue.url).await;
        }
        if completed >= bulks && queued == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the bulks did not settle");
}

/// Every item one event; each bulk's `bulk_completed` once, after its items, its summary the
/// count of its events and its `radars[]` those very events. An event reaches the receiver a
/// second time only as itself (same `webhook-id`, same body), and only for a second copy of a
/// message SQS handed the dispatcher: a first attempt two workers held at once is sent by
/// both (README, "Rarely twice, always the same").
fn check_deliveries(received: &[Received], bulk_ids: &[String], second_copies: usize) {
    assert!(received.iter().all(|r| r.verified));
    let mut first: HashMap<&str, &Received> = HashMap::new();
    let mut once = Vec::new();
    for r in received {
        if let Some(earlier) = first.get(r.id.as_str()) {
            assert_eq!(earlier.body, r.body, "{} sent twice, unlike", r.id);
        } else {
            first.insert(&r.id, r);
            once.push(r.clone());
        }
    }
    let again = received.len() - once.len();
    assert!(
        again <= second_copies,
        "{again} events sent again, for {second_copies} second copies of messages"
    );
    let received = &once;
    assert_eq!(received.len(), bulk_ids.len() * (ITEMS + 1));
    for bulk_id in bulk_ids {
        let of_bulk: Vec<(usize, &Received)> = received
            .iter()
            .enumerate()
            .filter(|(_, r)| r.body["bulk_id"] == *bulk_id)
            .collect();
        let (completions, items): (Vec<_>, Vec<_>) = of_bulk
            .iter()
            .partition(|(_, r)| r.body["update_type"] == "bulk_completed");
        assert_eq!(completions.len(), 1, "one bulk_completed for {bulk_id}");
        let (completed_at, completed) = completions[0];
        let by_index: BTreeMap<u64, &Value> = items
            .iter()
            .map(|(_, r)| (r.body["item_index"].as_u64().unwrap(), &r.body))
            .collect();
        assert_eq!(by_index.len(), ITEMS, "one event per item of {bulk_id}");
        assert!(
            items.iter().all(|(at, _)| *at < completed_at),
            "bulk_completed last"
        );
        let kinds: HashMap<String, usize> =
            items.iter().fold(HashMap::new(), |mut kinds, (_, r)| {
                let kind = match (r.body["update_type"].as_str(), r.body["code"].as_u64()) {
                    (Some("radar_created"), _) => "created".to_owned(),
                    (_, Some(code)) => code.to_string(),
                    (kind, _) => format!("{kind:?}"),
                };
                *kinds.entry(kind).or_default() += 1;
                kinds
            });
        assert_eq!(
            kinds,
            HashMap::from([
                ("created".to_owned(), CREATED),
                ("400".to_owned(), REFUSED),
                ("409".to_owned(), REFUSED)
            ]),
            "{bulk_id}"
        );
        let summary = &completed.body["summary"];
        assert_eq!(
            (&summary["total"], &summary["created"], &summary["failed"]),
            (
                &Value::from(ITEMS),
                &Value::from(CREATED),
                &Value::from(2 * REFUSED)
            )
        );
        let radars: Vec<&Value> = completed.body["radars"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(radars, by_index.values().copied().collect::<Vec<_>>());
    }
}
