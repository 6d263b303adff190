//! Each fault of the proxy as the AWS SDK meets it, against the real emulators behind it: the
//! ones injected before the service leave nothing behind, the ones after it leave the write
//! done while the caller sees a failure.

use std::time::Duration;

use aws_config::{Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{config::Credentials, types::AttributeValue};
use chaos::proxy::{Fault, Plan, Proxy};
use test_support::{Endpoints, TestEnv};

/// Every call meets `fault`.
async fn proxy(upstream: &str, fault: Fault) -> Proxy {
    let plan = Plan {
        rate: 1.0,
        faults: vec![fault],
        hold: Duration::from_millis(800),
    };
    Proxy::start(upstream, plan).await.unwrap()
}

async fn sdk(attempts: u32) -> aws_config::SdkConfig {
    shared::config::aws_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .load()
        .await
}

async fn dynamodb_through(proxy: &Proxy, attempts: u32) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk(attempts).await)
            .endpoint_url(&proxy.url)
            .build(),
    )
}

/// Puts a record through `client`; whether the call succeeded, and whether the record is there.
async fn put(env: &TestEnv, client: &aws_sdk_dynamodb::Client) -> (bool, bool) {
    let pk = format!("CHAOS#{}", uuid::Uuid::new_v4());
    let table = env.config().table_name;
    let sent = client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S(pk.clone()))
        .item("sk", AttributeValue::S("x".into()))
        .send()
        .await;
    let stored = env
        .dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S("x".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .is_some();
    (sent.is_ok(), stored)
}

#[tokio::test]
async fn faults_before_the_service_leave_nothing_and_after_it_leave_the_write() {
    let env = TestEnv::new().await;
    let upstream = Endpoints::from_env().dynamodb;
    for (fault, applied) in [
        (Fault::Throttle, false),
        (Fault::ServerError, false),
        (Fault::DropBefore, false),
        (Fault::DropAfter, true),
        (Fault::Timeout, true),
    ] {
        let proxy = proxy(&upstream, fault).await;
        let client = dynamodb_through(&proxy, 1).await;
        assert_eq!(put(&env, &client).await, (false, applied), "{fault}");
        assert_eq!(proxy.tally().injected(fault), 1, "{fault}");
    }
}

#[tokio::test]
async fn the_sdk_retries_each_injected_fault() {
    let env = TestEnv::new().await;
    let upstream = Endpoints::from_env().dynamodb;
    for fault in Fault::ALL {
        let proxy = proxy(&upstream, fault).await;
        let client = dynamodb_through(&proxy, 3).await;
        put(&env, &client).await;
        assert_eq!(proxy.tally().total_calls(), 3, "{fault} was not retried");
    }
}

#[tokio::test]
async fn a_proxy_with_no_faults_passes_sqs_calls_through() {
    let env = TestEnv::new().await;
    let proxy = Proxy::start(
        &Endpoints::from_env().sqs,
        Plan::every_fault(0.0, Duration::ZERO),
    )
    .await
    .unwrap();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk(1).await)
            .endpoint_url(&proxy.url)
            .build(),
    );
    sqs.send_message()
        .queue_url(env.queue_url("ItemQueue"))
        .message_body("through the proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(env.queue_depth("ItemQueue").await, 1);
    assert_eq!(proxy.tally().calls["AmazonSQS.SendMessage"], 1);
    assert_eq!(proxy.tally().total_injected(), 0);
}
