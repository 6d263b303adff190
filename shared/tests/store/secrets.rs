//! The `SECRET#<account_id>` record: read back as written, rotated and retired.

use shared::credentials::WebhookSecret;
use test_support::TestEnv;
use uuid::Uuid;

fn secret() -> WebhookSecret {
    WebhookSecret::generate().unwrap()
}

/// An account's secrets as `(current, previous)`, in their `whsec_` form.
async fn secrets_of(env: &TestEnv, account_id: Uuid) -> (String, Option<String>) {
    let secrets = env
        .store()
        .get_secrets(account_id)
        .await
        .unwrap()
        .expect("the account's secrets");
    (
        secrets.current.expose().to_owned(),
        secrets
            .previous
            .map(|previous| previous.expose().to_owned()),
    )
}

#[tokio::test]
async fn a_rotation_keeps_the_previous_secret_until_it_is_retired() {
    let env = TestEnv::new().await;
    let store = env.store();
    let account = env.account().await;
    let (first, _) = secrets_of(&env, account.id).await;
    let before = store.get_account(account.id).await.unwrap();
    let (second, third) = (secret(), secret());

    assert!(
        store
            .rotate_webhook_secret(account.id, &second)
            .await
            .unwrap()
    );
    let rotated = secrets_of(&env, account.id).await;
    assert!(
        store
            .rotate_webhook_secret(account.id, &third)
            .await
            .unwrap()
    );
    let rotated_again = secrets_of(&env, account.id).await;
    assert!(store.retire_previous_secret(account.id).await.unwrap());
    let retired = secrets_of(&env, account.id).await;
    assert!(store.retire_previous_secret(account.id).await.unwrap());
    let retired_again = secrets_of(&env, account.id).await;

    assert_eq!(rotated, (second.expose().to_owned(), Some(first)));
    assert_eq!(
        rotated_again,
        (third.expose().to_owned(), Some(second.expose().to_owned())),
        "a second rotation drops the oldest secret"
    );
    assert_eq!(retired, (third.expose().to_owned(), None));
    assert_eq!(retired_again, retired, "retiring twice changes nothing");
    assert_eq!(
        store.get_account(account.id).await.unwrap(),
        before,
        "the account record is not touched"
    );
}

#[tokio::test]
async fn the_secrets_of_no_account_are_none_and_are_not_made_by_a_rotation() {
    let env = TestEnv::new().await;
    let store = env.store();
    let nobody = Uuid::new_v4();

    assert_eq!(store.get_secrets(nobody).await.unwrap(), None);
    assert!(
        !store
            .rotate_webhook_secret(nobody, &secret())
            .await
            .unwrap()
    );
    assert!(!store.retire_previous_secret(nobody).await.unwrap());
    assert!(env.partition(&format!("SECRET#{nobody}")).await.is_empty());
}
