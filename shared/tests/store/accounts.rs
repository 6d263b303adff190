//! `Store::create_account`: the account, its first API key and its signing secrets, written in
//! one transaction, all three or none.

use chrono::{SubsecRound, Utc};
use shared::{
    credentials::{ApiKey, WebhookSecret},
    rate_limit::LimitOverrides,
    store::{
        Item,
        accounts::Account,
        secrets::{AccountSecrets, Secrets},
    },
};
use test_support::TestEnv;
use uuid::Uuid;

/// A new account, made at a whole second (the record keeps seconds).
fn new_account() -> Account {
    Account {
        id: Uuid::new_v4(),
        credits: 100,
        reserved: 0,
        limits: LimitOverrides::default(),
        active: true,
        created_at: Utc::now().trunc_subsecs(0),
    }
}

/// Whether the table holds a record under `pk`.
async fn exists(env: &TestEnv, pk: &str) -> bool {
    !env.partition(pk).await.is_empty()
}

#[tokio::test]
async fn creating_an_account_writes_its_record_its_key_and_its_secrets() {
    let env = TestEnv::new().await;
    let store = env.store();
    let (account, key, secret) = (
        new_account(),
        ApiKey::generate().unwrap(),
        WebhookSecret::generate().unwrap(),
    );

    store
        .create_account(&account, &key.digest(), &secret)
        .await
        .unwrap();

    assert_eq!(
        store.account_for_key(&key.digest()).await.unwrap(),
        Some(account.clone())
    );
    assert_eq!(
        store.get_secrets(account.id).await.unwrap(),
        Some(Secrets::new(secret.clone()))
    );
    let record = env.partition(&format!("ACCOUNT#{}", account.id)).await;
    assert_eq!(record.len(), 1);
    assert!(
        record[0].1.values().all(|value| value
            .as_s()
            .map_or(true, |text| !text.contains(secret.expose()))),
        "the account record holds no secret"
    );
}

#[tokio::test]
async fn an_account_whose_key_is_taken_is_not_created_nor_are_its_secrets() {
    let env = TestEnv::new().await;
    let store = env.store();
    let key = ApiKey::generate().unwrap();
    let first = new_account();
    store
        .create_account(&first, &key.digest(), &WebhookSecret::generate().unwrap())
        .await
        .unwrap();
    let second = new_account();

    let created = store
        .create_account(&second, &key.digest(), &WebhookSecret::generate().unwrap())
        .await;

    assert!(created.is_err(), "the key record exists already");
    assert!(!exists(&env, &format!("ACCOUNT#{}", second.id)).await);
    assert!(!exists(&env, &format!("SECRET#{}", second.id)).await);
    assert_eq!(
        store.account_for_key(&key.digest()).await.unwrap(),
        Some(first),
        "the key still opens the first account"
    );
}

#[tokio::test]
async fn an_account_whose_secrets_record_exists_is_not_created_nor_is_its_key() {
    let env = TestEnv::new().await;
    let store = env.store();
    let account = new_account();
    let existing = Secrets::new(WebhookSecret::generate().unwrap());
    env.dynamodb
        .put_item()
        .table_name(store.table())
        .set_item(Some(Item::from(AccountSecrets {
            account_id: account.id,
            secrets: &existing,
        })))
        .send()
        .await
        .unwrap();
    let key = ApiKey::generate().unwrap();

    let created = store
        .create_account(&account, &key.digest(), &WebhookSecret::generate().unwrap())
        .await;

    assert!(created.is_err(), "the secrets record exists already");
    assert_eq!(store.get_account(account.id).await.unwrap(), None);
    assert_eq!(store.account_for_key(&key.digest()).await.unwrap(), None);
    assert!(!exists(&env, &format!("KEY#{}", key.digest().as_str())).await);
    assert_eq!(
        store.get_secrets(account.id).await.unwrap(),
        Some(existing),
        "the secrets are not overwritten"
    );
}
