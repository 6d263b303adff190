//! radarctl's commands against DynamoDB Local and the SQS emulator.

mod deliveries;
mod destinations;

use clap::Parser;
use radarctl::{Cli, Deps, Error, run};
use serde_json::Value;
use shared::{
    credentials::ApiKey,
    store::bulks::{Bulk, BulkState},
    submission::SubmittedItem,
};
use test_support::TestEnv;
use uuid::Uuid;

async fn deps() -> (TestEnv, Deps) {
    let env = TestEnv::new().await;
    let deps = Deps::new(env.config(), env.dynamodb.clone(), env.sqs.clone());
    (env, deps)
}

async fn radarctl(deps: &Deps, args: &[&str]) -> Result<Value, Error> {
    let cli = Cli::try_parse_from(std::iter::once("radarctl").chain(args.iter().copied()))
        .expect("valid arguments");
    run(deps, cli.command).await
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

#[tokio::test]
async fn account_create_prints_a_working_key_and_the_signing_secret() {
    let (_env, deps) = deps().await;

    let created = radarctl(&deps, &["account", "create", "--credits", "250"])
        .await
        .unwrap();

    assert_eq!(created["credits"], 250);
    assert!(text(&created["api_key"]).starts_with("rbk_"));
    assert!(text(&created["webhook_secret"]).starts_with("whsec_"));
    let key = ApiKey::new(text(&created["api_key"]));
    let account = deps
        .store
        .account_for_key(&key.digest())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.id.to_string(), text(&created["account_id"]));
    assert_eq!(account.credits, 250);
    let shown = radarctl(&deps, &["account", "show", text(&created["account_id"])])
        .await
        .unwrap();
    assert_eq!(shown["credits"], 250);
    assert!(
        shown.get("webhook_secret").is_none(),
        "shown only at creation"
    );
}

#[tokio::test]
async fn a_chosen_key_is_used_and_a_short_one_refused() {
    let (_env, deps) = deps().await;

    let created = radarctl(
        &deps,
        &["account", "create", "--api-key", "rbk_dev_0123456789abcdef"],
    )
    .await
    .unwrap();
    assert_eq!(created["api_key"], "rbk_dev_0123456789abcdef");
    assert_eq!(created["credits"], 1000);

    let refused = radarctl(&deps, &["account", "create", "--api-key", "short"]).await;
    assert!(matches!(refused, Err(Error::Usage(_))));
}

#[tokio::test]
async fn credits_limits_and_keys_change_what_the_account_can_do() {
    let (_env, deps) = deps().await;
    let created = radarctl(&deps, &["account", "create"]).await.unwrap();
    let id = text(&created["account_id"]).to_owned();

    let credited = radarctl(&deps, &["credits", "set", &id, "7"])
        .await
        .unwrap();
    let limited = radarctl(&deps, &["limits", "set", &id, "--read-per-second", "3"])
        .await
        .unwrap();
    let second = radarctl(&deps, &["key", "create", &id]).await.unwrap();
    let revoked = radarctl(&deps, &["key", "revoke", text(&created["api_key"])])
        .await
        .unwrap();

    assert_eq!(credited["credits"], 7);
    assert_eq!(limited["limits"]["read_per_second"], 3);
    assert_eq!(
        limited["limits"]["read_per_minute"], 200,
        "others keep their defaults"
    );
    assert_eq!(revoked["revoked"], true);
    let first = ApiKey::new(text(&created["api_key"])).digest();
    assert!(deps.store.account_for_key(&first).await.unwrap().is_none());
    let other = ApiKey::new(text(&second["api_key"])).digest();
    assert_eq!(
        deps.store
            .account_for_key(&other)
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string(),
        id
    );
}

#[tokio::test]
async fn unknown_accounts_keys_and_bulks_are_not_found() {
    let (_env, deps) = deps().await;
    let nobody = Uuid::new_v4().to_string();

    for args in [
        vec!["account", "show", &nobody],
        vec!["credits", "set", &nobody, "5"],
        vec!["limits", "set", &nobody, "--bulk-per-minute", "5"],
        vec!["key", "create", &nobody],
        vec!["key", "revoke", "rbk_not_a_key_anyone_has"],
        vec!["bulk", "show", &nobody],
        vec!["secret", "rotate", &nobody],
        vec!["secret", "retire", &nobody],
        vec!["delivery", "list", &nobody],
        vec!["delivery", "resend", &nobody, "--failed"],
    ] {
        let answer = radarctl(&deps, &args).await;
        assert!(
            matches!(answer, Err(Error::NotFound(_))),
            "{args:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn bulk_show_reports_the_state_of_every_item() {
    let (env, deps) = deps().await;
    let account = env.account().await;
    let bulk = Bulk {
        id: Uuid::new_v4(),
        account_id: account.id,
        webhook_url: shared::webhook_url::WebhookUrl::from_stored("https://example.com/hooks")
            .unwrap(),
        total: 3,
        state: BulkState::Submitting,
        created_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now().timestamp() + 3600,
        completion: None,
        funding: shared::store::bulks::Funding::Metered,
    };
    // One valid item, which its account pays for when the bulk is accepted.
    let items: Vec<SubmittedItem> = (0..3)
        .map(|index| SubmittedItem {
            index,
            radar: serde_json::value::to_raw_value(&if index == 0 {
                serde_json::json!({"radar_type": "company_reviews", "domain": "a.com"})
            } else {
                serde_json::json!({})
            })
            .unwrap(),
            custom_fields: "{}".into(),
        })
        .collect();
    test_support::store_bulk(&deps.store, &bulk, &items, BulkState::Accepted).await;
    let bulk = bulk.id;

    let shown = radarctl(&deps, &["bulk", "show", &bulk.to_string()])
        .await
        .unwrap();

    assert_eq!(shown["state"], "accepted");
    assert_eq!(shown["reserved_credits"], 1);
    assert_eq!(shown["summary"]["total"], 3);
    assert_eq!(shown["summary"]["processing"], 3);
    let items = shown["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|item| item["state"] == "queued"));
}

#[tokio::test]
async fn bulk_list_finds_an_accounts_bulks_newest_first_and_radar_show_a_radar() {
    let (env, deps) = deps().await;
    let account = env.account().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let bulk = Bulk {
            id: Uuid::now_v7(),
            account_id: account.id,
            webhook_url: shared::webhook_url::WebhookUrl::from_stored("https://example.com/h")
                .unwrap(),
            total: 1,
            state: BulkState::Submitting,
            created_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now().timestamp() + 3600,
            completion: None,
            funding: shared::store::bulks::Funding::Metered,
        };
        let item = SubmittedItem {
            index: 0,
            radar: serde_json::value::to_raw_value(&serde_json::json!({})).unwrap(),
            custom_fields: "{}".into(),
        };
        test_support::store_bulk(&deps.store, &bulk, &[item], BulkState::Accepted).await;
        ids.push(bulk.id.to_string());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    ids.reverse();
    let account_id = account.id.to_string();

    let first = radarctl(&deps, &["bulk", "list", &account_id, "--limit", "2"])
        .await
        .unwrap();
    let listed = |page: &Value| -> Vec<String> {
        page["bulks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|bulk| text(&bulk["bulk_id"]).to_owned())
            .collect()
    };
    assert_eq!(listed(&first), ids[..2]);
    assert_eq!(first["bulks"][0]["summary"]["processing"], 1);
    let cursor = text(&first["next_cursor"]).to_owned();
    let second = radarctl(&deps, &["bulk", "list", &account_id, "--cursor", &cursor])
        .await
        .unwrap();
    assert_eq!(listed(&second), ids[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert!(matches!(
        radarctl(&deps, &["bulk", "list", &account_id, "--cursor", "nope"]).await,
        Err(Error::Usage(_))
    ));

    // A radar, as a 409 names it: shown as its customer sees it; another account's is not found.
    let radar = shared::radar::Radar::parse(&serde_json::json!({
        "radar_type": "company_reviews", "domain": "shown.example"
    }))
    .unwrap();
    let radar_id = Uuid::now_v7();
    let data = radar.data(
        radar_id,
        "2026-12-02T00:00:00Z".into(),
        serde_json::json!({}),
    );
    let data = serde_json::to_string(&data).unwrap();
    let created = deps
        .store
        .create_single(
            account.id,
            &shared::store::single::SingleRadar {
                radar_id,
                identity: &radar.identity(),
                cost: 1,
                data: &data,
                webhook_url: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(created, shared::store::single::Single::Created);
    let shown = radarctl(
        &deps,
        &["radar", "show", &account_id, &radar_id.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(shown["radar_id"], radar_id.to_string());
    assert_eq!(shown["domain"], "shown.example");
    assert_eq!(shown["radar_status"], "active");
    let other = env.account().await.id.to_string();
    assert!(matches!(
        radarctl(&deps, &["radar", "show", &other, &radar_id.to_string()]).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn dlq_redrive_moves_dead_letters_back_to_the_item_queue() {
    let (env, deps) = deps().await;
    let dead_letters = env.queue_url("ItemDeadLetterQueue");
    for n in 0..3 {
        env.sqs
            .send_message()
            .queue_url(&dead_letters)
            .message_body(format!("{{\"n\":{n}}}"))
            .send()
            .await
            .unwrap();
    }

    let moved = radarctl(&deps, &["dlq", "redrive"]).await.unwrap();

    assert_eq!(moved["moved"], 3);
    assert_eq!(env.queue_depth("ItemDeadLetterQueue").await, 0);
    assert_eq!(env.queue_depth("ItemQueue").await, 3);
}

#[tokio::test]
async fn a_secret_rotation_keeps_the_old_secret_signing_until_it_is_retired() {
    let (_env, deps) = deps().await;
    let created = radarctl(&deps, &["account", "create"]).await.unwrap();
    let id = text(&created["account_id"]).to_owned();
    let secrets = |deps: &Deps| {
        let store = deps.store.clone();
        let id: Uuid = id.parse().unwrap();
        async move { store.get_secrets(id).await.unwrap().unwrap() }
    };

    let rotated = radarctl(&deps, &["secret", "rotate", &id]).await.unwrap();
    let during = secrets(&deps).await;
    let shown = radarctl(&deps, &["account", "show", &id]).await.unwrap();
    radarctl(&deps, &["secret", "retire", &id]).await.unwrap();
    let after = secrets(&deps).await;

    assert_eq!(during.current.expose(), text(&rotated["webhook_secret"]));
    assert_eq!(
        during.previous.as_ref().map(|s| s.expose().to_owned()),
        Some(text(&created["webhook_secret"]).to_owned())
    );
    assert_eq!(after.current.expose(), text(&rotated["webhook_secret"]));
    assert!(after.previous.is_none());
    for secret in [&created["webhook_secret"], &rotated["webhook_secret"]] {
        assert!(
            !shown.to_string().contains(text(secret)),
            "account show prints no secret, current or previous"
        );
    }
}

#[tokio::test]
async fn dlq_redrive_of_webhooks_moves_them_back_to_the_webhook_queue() {
    let (env, deps) = deps().await;
    env.sqs
        .send_message()
        .queue_url(env.queue_url("WebhookDeadLetterQueue"))
        .message_body("{}")
        .send()
        .await
        .unwrap();

    let moved = radarctl(&deps, &["dlq", "redrive", "--queue", "webhooks"])
        .await
        .unwrap();

    assert_eq!(moved["moved"], 1);
    assert_eq!(env.queue_depth("WebhookQueue").await, 1);
    assert_eq!(env.queue_depth("WebhookDeadLetterQueue").await, 0);
}
