//! A webhook destination's record (`DEST#<host>:<port>`): changed under its version, and left
//! alone by a change that changes nothing.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use test_support::TestEnv;

const DESTINATION: &str = "hooks.example.com:443";

async fn version(env: &TestEnv) -> String {
    let record = env
        .dynamodb
        .get_item()
        .table_name(env.store().table())
        .key("pk", AttributeValue::S(format!("DEST#{DESTINATION}")))
        .key("sk", AttributeValue::S("DEST".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the destination's record");
    record["version"].as_n().unwrap().clone()
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_nothing() {
    let env = TestEnv::new().await;
    let store = env.store();
    let now = Utc::now();
    store
        .change_destination(DESTINATION, now, |state| state.failures = 2)
        .await
        .unwrap();
    let stored = version(&env).await;

    // An invocation whose messages all wait for a slot asks again and again.
    for _ in 0..3 {
        let (answer, state) = store
            .change_destination(DESTINATION, now, |state| state.failures)
            .await
            .unwrap();
        assert_eq!((answer, state.failures), (2, 2));
    }

    assert_eq!(version(&env).await, stored, "not written");
    store
        .change_destination(DESTINATION, now, |state| state.failures = 0)
        .await
        .unwrap();
    assert_ne!(version(&env).await, stored, "a real change is written");
    assert_eq!(
        store.get_destination(DESTINATION).await.unwrap().failures,
        0
    );
}
