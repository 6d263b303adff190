//! make dev's moving parts against the SQS emulator, DynamoDB Local and real local HTTP servers.

mod delivery;
mod fair;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use devstack::{
    bridge::{self, Delivery, HttpInvoker, Invoke, Pumped, Source},
    local::{self, Functions},
    receiver::{self, Received},
    stack,
};
use http_body_util::{BodyExt, Full};
use hyper::{Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use provision::Template;
use test_support::TestEnv;
use tokio::net::TcpListener;

/// A function that fails the messages whose body is in `failing`, and remembers every event.
#[derive(Default)]
struct Scripted {
    failing: HashSet<String>,
    crash: bool,
    events: Mutex<Vec<SqsEvent>>,
}

impl Invoke for Scripted {
    async fn invoke(&self, _function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        self.events.lock().unwrap().push(event.clone());
        if self.crash {
            return Err("the function panicked".into());
        }
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            if self
                .failing
                .contains(record.body.as_deref().unwrap_or_default())
            {
                response.add_failure(record.message_id.clone().unwrap());
            }
        }
        Ok(response)
    }
}

/// A queue that hides a received message for 1 s and dead-letters it on its 3rd receive.
async fn queue_pair(env: &TestEnv) -> (Source, String) {
    let name = format!("bridge-{}", uuid::Uuid::new_v4().simple());
    let dead = env
        .sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dead_arn = arn(env, &dead).await;
    let url = env
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dead_arn}","maxReceiveCount":"2"}}"#),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let source = Source {
        function: "processor".into(),
        queue_arn: arn(env, &url).await,
        queue_url: url,
        batch_size: 10,
        concurrency: 1,
        partial_batch_responses: true,
    };
    (source, dead)
}

async fn arn(env: &TestEnv, url: &str) -> String {
    env.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

async fn send(env: &TestEnv, url: &str, bodies: &[&str]) {
    for body in bodies {
        env.sqs
            .send_message()
            .queue_url(url)
            .message_body(*body)
            .send()
            .await
            .unwrap();
    }
}

/// Messages on the queue at `url`: visible, in flight or delayed.
async fn depth(env: &TestEnv, url: &str) -> usize {
    let attributes = env
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes
        .values()
        .map(|n| n.parse::<usize>().unwrap())
        .sum()
}

/// Pumps until a batch arrives (a hidden message comes back after its visibility timeout).
async fn pump_next(
    env: &TestEnv,
    source: &Source,
    function: &Scripted,
    delivery: &Delivery,
) -> Pumped {
    for _ in 0..40 {
        let pumped = bridge::pump_with(&env.sqs, source, function, delivery)
            .await
            .unwrap();
        if pumped.received > 0 {
            return pumped;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no message came back");
}

#[tokio::test]
async fn the_bridge_deletes_what_succeeded_and_redrives_what_keeps_failing() {
    let env = TestEnv::new().await;
    let (source, dead_letters) = queue_pair(&env).await;
    send(&env, &source.queue_url, &["good", "bad"]).await;
    let function = Scripted {
        failing: HashSet::from(["bad".to_owned()]),
        ..Scripted::default()
    };

    let mut first = bridge::pump(&env.sqs, &source, &function).await.unwrap();
    if first.received == 1 {
        // moto may hand the two messages over in two receives.
        let rest = pump_next(&env, &source, &function, &Delivery::exact()).await;
        first.received += rest.received;
        first.deleted += rest.deleted;
        first.retried += rest.retried;
    }
    assert_eq!((first.received, first.deleted, first.retried), (2, 1, 1));
    let second = pump_next(&env, &source, &function, &Delivery::exact()).await;
    assert_eq!((second.received, second.retried), (1, 1));

    // Its third receive is past maxReceiveCount: SQS moves it to the dead-letter queue.
    for _ in 0..40 {
        if depth(&env, &dead_letters).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        bridge::pump(&env.sqs, &source, &function).await.unwrap();
    }
    assert_eq!(depth(&env, &dead_letters).await, 1);
    assert_eq!(depth(&env, &source.queue_url).await, 0);
    let events = function.events.lock().unwrap();
    let counts: Vec<&str> = events
        .iter()
        .flat_map(|event| &event.records)
        .filter(|record| record.body.as_deref() == Some("bad"))
        .map(|record| record.attributes["ApproximateReceiveCount"].as_str())
        .collect();
    assert_eq!(counts, ["1", "2"]);
    let record = &events[0].records[0];
    assert_eq!(
        record.event_source_arn.as_deref(),
        Some(source.queue_arn.as_str())
    );
    assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
}

#[tokio::test]
async fn a_failed_invocation_deletes_nothing() {
    let env = TestEnv::new().await;
    let (source, _) = queue_pair(&env).await;
    send(&env, &source.queue_url, &["one"]).await;
    let function = Scripted {
        crash: true,
        ..Scripted::default()
    };

    let pumped = bridge::pump(&env.sqs, &source, &function).await.unwrap();

    assert_eq!((pumped.received, pumped.deleted), (1, 0));
    assert_eq!(depth(&env, &source.queue_url).await, 1);
}

/// A stand-in for `cargo lambda watch`'s Invoke API: answers `answer` and records each path.
async fn invoke_api(status: u16, answer: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        seen.lock().unwrap().push(request.uri().path().to_owned());
                        let _ = request.into_body().collect().await;
                        let mut response =
                            Response::new(Full::new(Bytes::from_static(answer.as_bytes())));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, paths)
}

#[tokio::test]
async fn the_http_invoker_calls_the_lambda_invoke_api_and_reads_the_partial_response() {
    let (base, paths) =
        invoke_api(200, r#"{"batchItemFailures":[{"itemIdentifier":"m-2"}]}"#).await;

    let response = HttpInvoker::new(&base)
        .invoke("processor", &SqsEvent::default())
        .await
        .unwrap();

    assert_eq!(response.batch_item_failures[0].item_identifier, "m-2");
    assert_eq!(
        paths.lock().unwrap().as_slice(),
        ["/2015-03-31/functions/processor/invocations"]
    );
    let (failing, _) = invoke_api(500, r#"{"errorType":"Panic"}"#).await;
    assert!(
        HttpInvoker::new(&failing)
            .invoke("processor", &SqsEvent::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_receiver_tells_signed_deliveries_from_forged_ones() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let secret = shared::credentials::WebhookSecret::generate().unwrap();
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = Arc::clone(&received);
    let key = secret.expose().to_owned();
    tokio::spawn(async move {
        receiver::serve(listener, Some(&key), move |r| seen.lock().unwrap().push(r)).await
    });
    let body = r#"{"update_type":"radar_created","bulk_id":"b","item_index":0}"#;
    let now = chrono::Utc::now().timestamp();
    let signature = standardwebhooks::Webhook::new(secret.expose())
        .unwrap()
        .sign("evt_1", now, body.as_bytes())
        .unwrap();
    let client = reqwest::Client::new();
    for signature in [signature.as_str(), "v1,Zm9yZ2Vk"] {
        let status = client
            .post(&url)
            .header("webhook-id", "evt_1")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    let received = received.lock().unwrap();
    assert_eq!(
        received.iter().map(|r| r.verified).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(received[0].id, "evt_1");
    assert_eq!(received[0].body["update_type"], "radar_created");
}

#[tokio::test]
async fn up_makes_the_stack_a_working_dev_account_and_the_env_files() {
    let env = TestEnv::new().await;
    let template = Template::load(&Template::default_path()).unwrap();

    let prefix = format!("dev{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let settings = stack::Settings {
        prefix: prefix.clone(),
        api_key: Some("rbk_dev_key_for_tests_0001".into()),
        credits: 42,
    };

    let stack = stack::up(&template, &env.dynamodb, &env.sqs, settings)
        .await
        .unwrap();

    assert_eq!(stack.account["api_key"], "rbk_dev_key_for_tests_0001");
    assert_eq!(stack.account["credits"], 42);
    let table = &stack.environment["RADAR_TABLE_NAME"];
    assert_eq!(*table, format!("{prefix}-RadarTable"));
    let store = shared::store::Store::new(env.dynamodb.clone(), table);
    let key = shared::credentials::ApiKey::new("rbk_dev_key_for_tests_0001").digest();
    assert_eq!(
        store.account_for_key(&key).await.unwrap().unwrap().credits,
        42
    );
    assert_eq!(stack.environment["RADAR_ALLOW_INSECURE_WEBHOOKS"], "true");
    let dev_env = stack.dev_env("http://127.0.0.1:9000", "http://127.0.0.1:9999/");
    assert!(dev_env.contains("export RADAR_DEV_API_KEY='rbk_dev_key_for_tests_0001'\n"));
    assert!(dev_env.contains("export RADAR_API_KEY='rbk_dev_key_for_tests_0001'\n"));
    assert!(dev_env.contains(&format!("export RADAR_TABLE_NAME='{prefix}-RadarTable'\n")));
    assert!(
        stack
            .functions_env()
            .contains(&format!("RADAR_TABLE_NAME={prefix}-RadarTable\n"))
    );
    let sources = stack.sources(&template).unwrap();
    let processor = sources.iter().find(|s| s.function == "processor").unwrap();
    assert_eq!(
        processor.queue_url,
        stack.provisioned.queues["ItemQueue"].url
    );
    assert!(processor.partial_batch_responses);
}

#[tokio::test]
async fn the_functions_in_process_carry_a_bulk_from_the_api_to_a_receiver() {
    let env = TestEnv::new().await;
    let template = Template::load(&Template::default_path()).unwrap();
    let settings = stack::Settings {
        prefix: format!("loc{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        api_key: None,
        credits: 100,
    };
    let stack = stack::up(&template, &env.dynamodb, &env.sqs, settings)
        .await
        .unwrap();
    let config =
        shared::config::Config::from_lookup(|name| stack.environment.get(name).cloned()).unwrap();
    let functions = Arc::new(Functions::new(&config, &env.dynamodb, &env.sqs).unwrap());
    let (base, _) = local::serve_api_on_loopback(Arc::clone(&functions))
        .await
        .unwrap();
    let hooks = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!("http://{}/", hooks.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let seen = Arc::clone(&received);
    let secret = stack.account["webhook_secret"].as_str().unwrap().to_owned();
    tokio::spawn(async move {
        receiver::serve(hooks, Some(&secret), move |r| seen.lock().unwrap().push(r)).await
    });
    bridge::spawn(
        env.sqs.clone(),
        stack.sources(&template).unwrap(),
        functions,
    );

    let client = reqwest::Client::new();
    let api_key = stack.account["api_key"].as_str().unwrap();
    let body = serde_json::json!({
        "webhook_url": webhook_url,
        "radars": [
            {"radar_type": "company_job_openings", "domain": "example.com"},
            {"radar_type": "company_job_openings", "domain": "not a domain"},
        ],
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
    let accepted: serde_json::Value =
        serde_json::from_str(&accepted.text().await.unwrap()).unwrap();
    let bulk_id = accepted["bulk_id"].as_str().expect("a 202 with a bulk_id");

    let completed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(r) = received
                .lock()
                .unwrap()
                .iter()
                .find(|r| r.body["update_type"] == "bulk_completed")
            {
                return r.body.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("bulk_completed reached the receiver");
    assert_eq!(completed["bulk_id"], bulk_id);
    assert_eq!(completed["summary"]["created"], 1);
    assert_eq!(completed["summary"]["failed"], 1);
    assert!(received.lock().unwrap().iter().all(|r| r.verified));
    let polled = client
        .get(format!("{base}/v1/radars/bulk/{bulk_id}"))
        .header("x-api-key", api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(polled.status(), 200);
    let polled: serde_json::Value = serde_json::from_str(&polled.text().await.unwrap()).unwrap();
    assert_eq!(polled["radars"], completed["radars"]);
    // A path the template routes nowhere (the monitoring product's) is API Gateway's own 404.
    let elsewhere = client
        .get(format!("{base}/v1/updates"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}
