//! What a full run gives away. The JSON log lines of all five functions (happy paths and
//! error paths), captured at `trace` (see `local::logs`), carry no API key, webhook secret,
//! idempotency key or submitted radar value; the table holds API keys and idempotency keys only
//! as digests, and the webhook secret only on the account's `SECRET#` record, where signing
//! needs it and which only the dispatcher and radarctl read (DESIGN.md, State and invariant 10):
//! not on the account record, which submit and poll read on every request.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use shared::rate_limit::LimitOverrides;
use uuid::Uuid;

use crate::local::{LocalApi, logs};

/// Every item of the table, as `(pk, text of the whole item)`.
async fn table_items(api: &LocalApi) -> Vec<(String, String)> {
    let pages = api
        .env
        .dynamodb
        .scan()
        .table_name(api.env.config().table_name)
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan DynamoDB Local");
    pages
        .into_iter()
        .map(|item| {
            let pk = item
                .get("pk")
                .and_then(|pk| pk.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let text = item.values().map(text_of).collect::<Vec<_>>().join("\n");
            (pk, text)
        })
        .collect()
}

/// Every string, number and binary value inside an attribute, as text.
fn text_of(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
        AttributeValue::B(b) => String::from_utf8_lossy(b.as_ref()).into_owned(),
        AttributeValue::Ss(list) | AttributeValue::Ns(list) => list.join("\n"),
        AttributeValue::L(list) => list.iter().map(text_of).collect::<Vec<_>>().join("\n"),
        AttributeValue::M(map) => map.values().map(text_of).collect::<Vec<_>>().join("\n"),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn no_secret_or_submitted_value_reaches_a_log_line_or_the_table_in_clear() {
    let api = LocalApi::start(&[]).await;
    let other = api.env.account_with(10, LimitOverrides::default()).await;
    let m = &Uuid::new_v4().simple().to_string()[..12];
    let wrong_key = format!("rbk_wrong{m}");
    let idempotency_key = format!("idem-{m}");
    let webhook_url = format!("{}?token=tok{m}", api.webhook_url);
    let submitted = [
        format!("leak{m}.com"),
        format!("jane.{m}@leak.org"),
        format!("https://linkedin.com/in/p{m}"),
        format!("Jane Q{m}"),
        format!("kw{m}"),
        format!("cf{m}"),
        format!("tok{m}"),
        format!("bad domain {m}"),
        format!("not-an-email-{m}"),
    ];
    let body = json!({
        "webhook_url": webhook_url,
        "radars": [
            {"radar_type": "company_job_openings", "domain": submitted[0],
             "custom_fields": {"crm": submitted[5]}},
            {"radar_type": "contact_job_changes", "domain": "leak.org", "email": submitted[1],
             "profile_url": submitted[2], "full_name": submitted[3]},
            {"radar_type": "industry_mentions", "keyword": submitted[4]},
            {"radar_type": "company_job_openings", "domain": submitted[7]},
            {"radar_type": "contact_job_changes", "domain": "leak.org", "email": submitted[8]},
            {"radar_type": "company_job_openings", "domain": submitted[0]},
        ],
    })
    .to_string();

    // Error paths first: a wrong key, a bad envelope, invalid JSON quoting a value.
    assert_eq!(api.submit_as(&wrong_key, body.clone(), &[]).await.0, 401);
    let bad_envelope =
        json!({"webhook_url": format!("ftp://tok{m}"), "radars": [{"domain": submitted[0]}]});
    assert_eq!(api.submit(bad_envelope.to_string()).await.0, 400);
    assert_eq!(
        api.submit(format!(r#"{{"webhook_url": "tok{m}"#)).await.0,
        400
    );
    // The bulk, and a replay of it.
    let headers = [("idempotency-key", idempotency_key.as_str())];
    let (status, accepted) = api
        .submit_as(&api.account.api_key, body.clone(), &headers)
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(
        api.submit_as(&api.account.api_key, body, &headers).await.0,
        202
    );
    let bulk_id = accepted["bulk_id"].as_str().unwrap().to_owned();
    let received = api.deliveries_until_completed(&bulk_id).await;
    assert!(received.iter().all(|r| r.verified));
    assert_eq!(api.poll_as(&wrong_key, &bulk_id).await.0, 401);
    assert_eq!(api.poll_as(&other.api_key, &bulk_id).await.0, 404);
    assert_eq!(api.poll_as(&api.account.api_key, &bulk_id).await.0, 200);

    // Every test of this binary logs here; the markers are this test's own.
    let logs = logs().text();
    // The capture saw all four functions, so finding nothing below means something.
    for needle in ["bulk accepted", "bulk polled", "request refused", &bulk_id] {
        assert!(logs.contains(needle), "no log line has {needle:?}:\n{logs}");
    }
    assert!(logs.lines().count() > 10);
    let secrets = [
        api.account.api_key.as_str(),
        other.api_key.as_str(),
        wrong_key.as_str(),
        api.webhook_secret.as_str(),
        idempotency_key.as_str(),
    ];
    for needle in secrets
        .iter()
        .copied()
        .chain(submitted.iter().map(String::as_str))
    {
        let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(needle)).collect();
        assert!(
            leaks.is_empty(),
            "{needle:?} is logged:\n{}",
            leaks.join("\n")
        );
    }

    let items = table_items(&api).await;
    assert!(items.iter().any(|(pk, _)| pk.starts_with("KEY#")));
    assert_only_on_its_secrets_record(&items, api.account.id, &api.webhook_secret);
    for (pk, text) in &items {
        for needle in [
            &api.account.api_key,
            &other.api_key,
            &wrong_key,
            &idempotency_key,
        ] {
            assert!(
                !text.contains(needle.as_str()),
                "{pk} holds {needle:?} in clear"
            );
        }
    }
}

/// `secret` is on the `SECRET#` record of `account_id` and on no other, the account record
/// included.
fn assert_only_on_its_secrets_record(items: &[(String, String)], account_id: Uuid, secret: &str) {
    let secrets_pk = format!("SECRET#{account_id}");
    for pk in [format!("ACCOUNT#{account_id}"), secrets_pk.clone()] {
        assert!(
            items.iter().any(|(stored, _)| *stored == pk),
            "{pk} is in the table"
        );
    }
    for (pk, text) in items {
        assert_eq!(
            text.contains(secret),
            *pk == secrets_pk,
            "the webhook secret belongs on the account's SECRET record only ({pk})"
        );
    }
}
