//! Accounts, API keys, credits and limits.

use chrono::Utc;
use serde_json::{Value, json};
use shared::{
    credentials::{ApiKey, WebhookSecret},
    rate_limit::LimitOverrides,
    store::accounts::Account,
};
use uuid::Uuid;

use crate::{Deps, Error, Result};

pub(crate) async fn create(deps: &Deps, credits: i64, api_key: Option<String>) -> Result<Value> {
    let api_key = key_or_new(api_key)?;
    let secret = WebhookSecret::generate()?;
    let account = Account {
        id: Uuid::new_v4(),
        credits,
        reserved: 0,
        limits: LimitOverrides::default(),
        active: true,
        created_at: Utc::now(),
    };
    deps.store
        .create_account(&account, &api_key.digest(), &secret)
        .await?;
    Ok(json!({
        "account_id": account.id,
        "api_key": api_key.expose(),
        "webhook_secret": secret.expose(),
        "credits": account.credits,
    }))
}

/// The account. Never its webhook secrets: `account create` and `secret rotate` print each
/// once, and this reads only the account record, which holds none.
pub(crate) async fn show(deps: &Deps, account_id: Uuid) -> Result<Value> {
    let account = deps
        .store
        .get_account(account_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("account {account_id}")))?;
    let limits = deps.config.limits.with_overrides(&account.limits);
    Ok(json!({
        "account_id": account.id,
        "active": account.active,
        "credits": account.credits,
        "reserved": account.reserved,
        "created_at": shared::clock::rfc3339(account.created_at),
        "limits": {
            "bulk_per_minute": limits.bulk_per_minute,
            "read_per_minute": limits.read_per_minute,
            "read_per_second": limits.read_per_second,
            "write_per_minute": limits.write_per_minute,
            "write_per_second": limits.write_per_second,
        },
        "overrides": {
            "bulk_per_minute": account.limits.bulk_per_minute,
            "read_per_minute": account.limits.read_per_minute,
            "read_per_second": account.limits.read_per_second,
            "write_per_minute": account.limits.write_per_minute,
            "write_per_second": account.limits.write_per_second,
        },
    }))
}

pub(crate) async fn add_key(
    deps: &Deps,
    account_id: Uuid,
    api_key: Option<String>,
) -> Result<Value> {
    let api_key = key_or_new(api_key)?;
    if !deps
        .store
        .add_api_key(account_id, &api_key.digest())
        .await?
    {
        return Err(Error::NotFound(format!("account {account_id}")));
    }
    Ok(json!({"account_id": account_id, "api_key": api_key.expose()}))
}

pub(crate) async fn revoke_key(deps: &Deps, api_key: &str) -> Result<Value> {
    if !deps
        .store
        .revoke_api_key(&ApiKey::new(api_key).digest())
        .await?
    {
        return Err(Error::NotFound("API key".into()));
    }
    Ok(json!({"revoked": true}))
}

pub(crate) async fn rotate_secret(deps: &Deps, account_id: Uuid) -> Result<Value> {
    let secret = WebhookSecret::generate()?;
    if !deps
        .store
        .rotate_webhook_secret(account_id, &secret)
        .await?
    {
        return Err(Error::NotFound(format!("account {account_id}")));
    }
    Ok(
        json!({"account_id": account_id, "webhook_secret": secret.expose(), "previous_signs_too": true}),
    )
}

pub(crate) async fn retire_secret(deps: &Deps, account_id: Uuid) -> Result<Value> {
    if !deps.store.retire_previous_secret(account_id).await? {
        return Err(Error::NotFound(format!("account {account_id}")));
    }
    Ok(json!({"account_id": account_id, "previous_signs_too": false}))
}

pub(crate) async fn set_credits(deps: &Deps, account_id: Uuid, credits: i64) -> Result<Value> {
    if !deps.store.set_credits(account_id, credits).await? {
        return Err(Error::NotFound(format!("account {account_id}")));
    }
    show(deps, account_id).await
}

pub(crate) async fn set_limits(
    deps: &Deps,
    account_id: Uuid,
    limits: &LimitOverrides,
) -> Result<Value> {
    if [
        limits.bulk_per_minute,
        limits.read_per_minute,
        limits.read_per_second,
        limits.write_per_minute,
        limits.write_per_second,
    ]
    .contains(&Some(0))
    {
        return Err(Error::Usage(
            "a limit of 0 would lock the account out; use 1 or more".into(),
        ));
    }
    if !deps.store.set_limits(account_id, limits).await? {
        return Err(Error::NotFound(format!("account {account_id}")));
    }
    show(deps, account_id).await
}

/// The operator's key, or a new random one. A chosen key must look like one: long enough that
/// it cannot be guessed.
fn key_or_new(api_key: Option<String>) -> Result<ApiKey> {
    match api_key {
        None => Ok(ApiKey::generate()?),
        Some(key) if key.len() >= 16 && !key.chars().any(char::is_whitespace) => {
            Ok(ApiKey::new(key))
        }
        Some(_) => Err(Error::Usage(
            "--api-key must be at least 16 characters, without white space".into(),
        )),
    }
}
