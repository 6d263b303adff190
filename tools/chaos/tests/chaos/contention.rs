//! The proxy's contention model as the AWS SDK and the store meet it, against DynamoDB Local:
//! every refusal has the shape the SDK parses, and a refused write leaves nothing behind.
//! Windows are long (far longer than a call takes) and assertions count, so that no outcome
//! depends on the machine's speed.

use std::time::Duration;

use aws_config::{Region, retry::RetryConfig};
use aws_sdk_dynamodb::{
    config::Credentials,
    error::SdkError,
    operation::{
        delete_item::DeleteItemError, put_item::PutItemError,
        transact_write_items::TransactWriteItemsError, update_item::UpdateItemError,
    },
    types::{AttributeValue, Put, TransactWriteItem},
};
use chaos::{
    contention::Contention,
    proxy::{Plan, Proxy},
};
use futures::{StreamExt, stream::FuturesUnordered};
use shared::{
    radar::Identity,
    store::{
        Store,
        items::{ItemState, Outcome},
        radars::{CONTENDED_TRIES, Creation, NewRadar},
    },
};
use test_support::{Endpoints, TestEnv};
use uuid::Uuid;

/// How long a committed transaction holds its items here.
const HOLD: Duration = Duration::from_millis(500);
/// A record of 350 KB: 350 write units, 700 in a transaction.
const BYTES: usize = 350 * 1024;

/// A proxy with no faults and the contention model, transactions holding for `hold`.
async fn contended(hold: Duration) -> Proxy {
    Proxy::start_with(
        &Endpoints::from_env().dynamodb,
        Plan::every_fault(0.0, Duration::ZERO),
        Some(Contention::holding(hold)),
    )
    .await
    .unwrap()
}

/// A client through `proxy` that tries each call once: every refusal reaches the test as the
/// SDK parsed it, none retried away.
async fn through(proxy: &Proxy) -> aws_sdk_dynamodb::Client {
    let sdk = shared::config::aws_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "test"))
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&proxy.url)
            .build(),
    )
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// A put of the record `pk`/`sk`, with a `v` of `bytes` bytes, as one action of a transaction.
fn put(table: &str, pk: &str, sk: &str, bytes: usize) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(pk))
        .item("sk", s(sk))
        .item("v", s("x".repeat(bytes)))
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

/// The cancellation reasons' codes and messages of a refused transaction.
fn reasons<R: std::fmt::Debug>(
    error: &SdkError<TransactWriteItemsError, R>,
) -> Vec<(String, Option<String>)> {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        panic!("a TransactionCanceledException: {error:?}");
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .map(|reason| {
            (
                reason.code().unwrap_or_default().to_owned(),
                reason.message().map(str::to_owned),
            )
        })
        .collect()
}

fn codes(reasons: &[(String, Option<String>)]) -> Vec<&str> {
    reasons.iter().map(|(code, _)| code.as_str()).collect()
}

#[tokio::test]
async fn of_two_transactions_on_one_item_one_commits_and_the_other_is_cancelled_at_that_item() {
    let env = TestEnv::new().await;
    let table = env.config().table_name;
    let proxy = contended(HOLD).await;
    let client = through(&proxy).await;
    let account = format!("ACCOUNT#{}", Uuid::new_v4());
    let (one, two) = (
        format!("BULK#{}", Uuid::new_v4()),
        format!("BULK#{}", Uuid::new_v4()),
    );
    // The item both write is second in the first transaction and first in the other.
    let first = client
        .transact_write_items()
        .transact_items(put(&table, &one, "ITEM#0001", 10))
        .transact_items(put(&table, &account, "ACCOUNT", 10));
    let second = client
        .transact_write_items()
        .transact_items(put(&table, &account, "ACCOUNT", 10))
        .transact_items(put(&table, &two, "ITEM#0001", 10))
        .transact_items(put(&table, &two, "ITEM#0002", 10));

    let (first, second) = tokio::join!(first.send(), second.send());

    let (refused, expected, winner, loser) = match (first, second) {
        (Ok(_), Err(error)) => (error, vec!["TransactionConflict", "None", "None"], one, two),
        (Err(error), Ok(_)) => (error, vec!["None", "TransactionConflict"], two, one),
        (first, second) => panic!("exactly one commits: {first:?} {second:?}"),
    };
    let reasons = reasons(&refused);
    assert_eq!(codes(&reasons), expected);
    for (code, message) in &reasons {
        let expected =
            (code == "TransactionConflict").then_some("Transaction is ongoing for the item");
        assert_eq!(message.as_deref(), expected, "{code}");
    }
    assert!(
        env.partition(&loser).await.is_empty(),
        "the cancelled one wrote nothing"
    );
    assert!(!env.partition(&winner).await.is_empty());
    let tally = proxy.tally();
    let counts = tally.contention.expect("the model's counts");
    assert_eq!((counts.transactions, counts.cancelled), (2, 1));
    assert_eq!(counts.by_kind["ACCOUNT"].transaction_conflicts, 1);
    assert_eq!(counts.by_kind["ACCOUNT"].held, 1);
    assert_eq!(tally.refused["DynamoDB_20120810.TransactWriteItems"], 1);
}

#[tokio::test]
async fn a_single_write_on_a_held_item_meets_a_transaction_conflict_and_a_read_does_not() {
    let env = TestEnv::new().await;
    let table = env.config().table_name;
    let proxy = contended(HOLD).await;
    let client = through(&proxy).await;
    let account = format!("ACCOUNT#{}", Uuid::new_v4());
    client
        .transact_write_items()
        .transact_items(put(&table, &account, "ACCOUNT", 10))
        .send()
        .await
        .unwrap();
    let update = || {
        client
            .update_item()
            .table_name(&table)
            .key("pk", s(&account))
            .key("sk", s("ACCOUNT"))
            .update_expression("SET credits = :c")
            .expression_attribute_values(":c", AttributeValue::N("1".into()))
            .send()
    };

    let updated = update().await.unwrap_err();
    let replaced = client
        .put_item()
        .table_name(&table)
        .item("pk", s(&account))
        .item("sk", s("ACCOUNT"))
        .send()
        .await
        .unwrap_err();
    let deleted = client
        .delete_item()
        .table_name(&table)
        .key("pk", s(&account))
        .key("sk", s("ACCOUNT"))
        .send()
        .await
        .unwrap_err();
    let read = client
        .get_item()
        .table_name(&table)
        .key("pk", s(&account))
        .key("sk", s("ACCOUNT"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();

    assert!(
        matches!(
            updated.as_service_error(),
            Some(UpdateItemError::TransactionConflictException(_))
        ),
        "{updated:?}"
    );
    assert!(
        matches!(
            replaced.as_service_error(),
            Some(PutItemError::TransactionConflictException(_))
        ),
        "{replaced:?}"
    );
    assert!(
        matches!(
            deleted.as_service_error(),
            Some(DeleteItemError::TransactionConflictException(_))
        ),
        "{deleted:?}"
    );
    assert!(read.item.is_some(), "reads never conflict");
    let counts = proxy.tally().contention.unwrap();
    assert_eq!(counts.by_kind["ACCOUNT"].write_conflicts, 3);
    // Once the window has passed, the item is free.
    tokio::time::sleep(HOLD * 2).await;
    update().await.unwrap();
}

#[tokio::test]
async fn create_radars_answers_contended_for_what_another_transaction_holds_and_writes_none_of_it()
{
    let env = TestEnv::new().await;
    let account = env.account().await;
    // Longer than every try of the loser together (CONTENDED_TRIES, with backoff pauses of
    // 3.1 s at most in all).
    let proxy = contended(Duration::from_secs(5)).await;
    let store = Store::new(through(&proxy).await, env.config().table_name);
    let identities: Vec<Identity> = (0..6)
        .map(|i| Identity {
            field: "domain",
            key: format!("company_mentions#contended{i}.example.com"),
        })
        .collect();
    // Each its own update id: a round's request token is made of them.
    let outcomes: Vec<Outcome> = (0..6)
        .map(|_| Outcome {
            state: ItemState::Created,
            update_id: Uuid::new_v4(),
            event: "{}".into(),
        })
        .collect();
    let (bulk_a, bulk_b) = (Uuid::new_v4(), Uuid::new_v4());
    let radar = |i: usize, bulk_id| NewRadar {
        radar_id: Uuid::new_v4(),
        identity: &identities[i],
        cost: 1,
        data: "{}",
        bulk_id,
        item_index: u32::try_from(i).unwrap(),
        webhook_url: "https://example.com/hook",
        expires_at: 0,
        outcome: &outcomes[i],
    };
    let a: Vec<NewRadar> = (0..3).map(|i| radar(i, bulk_a)).collect();
    let b: Vec<NewRadar> = (3..6).map(|i| radar(i, bulk_b)).collect();

    // Both charge the one account: whichever commits first holds it.
    let (a_answers, b_answers) = tokio::join!(
        store.create_radars(account.id, &a),
        store.create_radars(account.id, &b)
    );

    let (a_answers, b_answers) = (a_answers.unwrap(), b_answers.unwrap());
    let (created, contended) = (vec![Creation::Created; 3], vec![Creation::Contended; 3]);
    let (winner, loser) = if a_answers == created {
        assert_eq!(b_answers, contended);
        (bulk_a, bulk_b)
    } else {
        assert_eq!((&a_answers, &b_answers), (&contended, &created));
        (bulk_b, bulk_a)
    };
    let balance = env
        .store()
        .get_account(account.id)
        .await
        .unwrap()
        .unwrap()
        .credits;
    assert_eq!(balance, 100 - 3, "only the winner paid");
    assert_eq!(env.partition(&format!("BULK#{winner}")).await.len(), 3);
    assert!(env.partition(&format!("BULK#{loser}")).await.is_empty());
    // Every try of the loser met the account held, and nothing else.
    let tries = u64::from(CONTENDED_TRIES);
    let counts = proxy.tally().contention.unwrap();
    assert_eq!(counts.cancelled, tries);
    assert_eq!(counts.by_kind["ACCOUNT"].transaction_conflicts, tries);
    assert_eq!(counts.total().transaction_conflicts, tries);
}

#[tokio::test]
async fn a_partition_past_its_write_units_is_throttled_and_so_is_a_transaction_writing_to_it() {
    let env = TestEnv::new().await;
    let table = env.config().table_name;
    let proxy = contended(HOLD).await;
    let client = through(&proxy).await;
    let (hot, cold) = (
        format!("HOT#{}", Uuid::new_v4()),
        format!("COLD#{}", Uuid::new_v4()),
    );
    // Three of these are past the partition's second.
    let mut puts: FuturesUnordered<_> = (0..12)
        .map(|i| {
            let put = client
                .put_item()
                .table_name(&table)
                .item("pk", s(&hot))
                .item("sk", s(format!("ITEM#{i}")))
                .item("v", s("x".repeat(BYTES)));
            tokio::spawn(put.send())
        })
        .collect();
    let mut results = Vec::new();
    while let Some(result) = puts.next().await {
        let refused = result.as_ref().unwrap().is_err();
        results.push(result.unwrap());
        if refused {
            break;
        }
    }

    // Sent on the first refusal, while the partition is still spent: it writes two more
    // records there, twice 700 units as a transaction, and one elsewhere.
    let transaction = client
        .transact_write_items()
        .transact_items(put(&table, &hot, "TX#1", BYTES))
        .transact_items(put(&table, &cold, "TX#2", 10))
        .transact_items(put(&table, &hot, "TX#3", BYTES))
        .send()
        .await;

    while let Some(result) = puts.next().await {
        results.push(result.unwrap());
    }
    let throttled = results
        .iter()
        .filter(|result| {
            result.as_ref().is_err_and(|error| {
                matches!(
                    error.as_service_error(),
                    Some(PutItemError::ProvisionedThroughputExceededException(e))
                        if e.throttling_reasons()[0].reason() == Some("TableWriteKeyRangeThroughputExceeded")
                )
            })
        })
        .count();
    let written = results.iter().filter(|result| result.is_ok()).count();
    assert!(throttled > 0 && written > 0, "{results:?}");
    assert_eq!(throttled + written, 12, "{results:?}");
    let reasons = reasons(&transaction.unwrap_err());
    assert_eq!(
        codes(&reasons),
        ["ThrottlingError", "None", "ThrottlingError"]
    );
    assert!(
        reasons[0]
            .1
            .as_deref()
            .is_some_and(|m| m
                .starts_with("Throughput exceeds the current capacity of your table or index.")),
        "{reasons:?}"
    );
    assert!(env.partition(&cold).await.is_empty());
    let counts = proxy.tally().contention.unwrap();
    let hot_counts = counts.by_kind["HOT"];
    assert_eq!(
        hot_counts.write_throttles,
        u64::try_from(throttled).unwrap()
    );
    assert_eq!(hot_counts.transaction_throttles, 2);
    assert_eq!(counts.cancelled, 1);
}
