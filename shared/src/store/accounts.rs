//! Accounts and their API keys. An account's webhook signing secrets are a record of their own
//! ([`super::secrets`]), written here only once, with the account.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Fields, Item, NEW_RECORD, Read, Store, b,
    bulks::RESERVED,
    key, n, s,
    secrets::{AccountSecrets, Secrets},
};
use crate::{
    Error, Result, clock,
    credentials::{KeyDigest, WebhookSecret},
    rate_limit::LimitOverrides,
};

/// A customer account: its credits, its limit overrides, whether it is active. Submit and poll
/// read this record on every request, so it holds no secret: the account's webhook signing
/// secrets are a record of their own ([`Store::get_secrets`]) that only the dispatcher and
/// radarctl read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub credits: i64,
    /// Credits taken by the account's prepaid bulks that are not settled yet: what their
    /// completions may give back ([`super::credits`]).
    pub reserved: i64,
    pub limits: LimitOverrides,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// Tries again at an update that met a transaction, pausing 100 ms more each time.
const CONFLICT_TRIES: u32 = 5;
const CONFLICT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

pub(super) fn account_key(id: Uuid) -> Item {
    key(format!("ACCOUNT#{id}"), "ACCOUNT")
}

fn api_key_key(digest: &KeyDigest) -> Item {
    key(format!("KEY#{}", digest.as_str()), "KEY")
}

impl From<&Account> for Item {
    fn from(account: &Account) -> Self {
        let mut item = account_key(account.id);
        item.insert("account_id".into(), s(account.id.to_string()));
        item.insert("credits".into(), n(account.credits));
        if account.reserved != 0 {
            item.insert(RESERVED.into(), n(account.reserved));
        }
        item.insert("active".into(), b(account.active));
        item.insert("created_at".into(), s(clock::rfc3339(account.created_at)));
        let limits = &account.limits;
        for (name, value) in [
            ("bulk_per_minute", limits.bulk_per_minute),
            ("read_per_minute", limits.read_per_minute),
            ("read_per_second", limits.read_per_second),
            ("write_per_minute", limits.write_per_minute),
            ("write_per_second", limits.write_per_second),
        ] {
            if let Some(value) = value {
                item.insert(name.into(), n(value));
            }
        }
        item
    }
}

impl TryFrom<&Item> for Account {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        Ok(Self {
            id: fields.parsed("account_id")?,
            credits: fields.number("credits")?,
            reserved: fields.optional_number(RESERVED)?.unwrap_or(0),
            limits: LimitOverrides {
                bulk_per_minute: fields.optional_number("bulk_per_minute")?,
                read_per_minute: fields.optional_number("read_per_minute")?,
                read_per_second: fields.optional_number("read_per_second")?,
                write_per_minute: fields.optional_number("write_per_minute")?,
                write_per_second: fields.optional_number("write_per_second")?,
            },
            active: fields.boolean("active")?,
            created_at: fields.parsed("created_at")?,
        })
    }
}

impl Store {
    /// Stores a new account, its first API key and its webhook signing secret: all three
    /// records or none. Each must be new; an existing one cancels the whole transaction.
    pub async fn create_account(
        &self,
        account: &Account,
        key: &KeyDigest,
        secret: &WebhookSecret,
    ) -> Result<()> {
        let mut key_item = api_key_key(key);
        key_item.insert("account_id".into(), s(account.id.to_string()));
        key_item.insert("active".into(), b(true));
        let put = |item: Item| -> Result<TransactWriteItem> {
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression(NEW_RECORD)
                .build()
                .map_err(Error::dynamo)?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        self.client()
            .transact_write_items()
            .transact_items(put(Item::from(account))?)
            .transact_items(put(key_item)?)
            .transact_items(put(Item::from(AccountSecrets {
                account_id: account.id,
                secrets: &Secrets::new(secret.clone()),
            }))?)
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(())
    }

    pub async fn get_account(&self, id: Uuid) -> Result<Option<Account>> {
        let item = self.get(account_key(id), Read::Eventual).await?;
        item.as_ref().map(Account::try_from).transpose()
    }

    /// The active account that owns an active key, if any. Eventually consistent reads: a
    /// revoked key stops working within a second or so, which is what revocation promises.
    pub async fn account_for_key(&self, key: &KeyDigest) -> Result<Option<Account>> {
        let Some(item) = self.get(api_key_key(key), Read::Eventual).await? else {
            return Ok(None);
        };
        let fields = Fields(&item);
        if !fields.boolean("active")? {
            return Ok(None);
        }
        let account = self.get_account(fields.parsed("account_id")?).await?;
        Ok(account.filter(|account| account.active))
    }

    /// Another API key for an existing account. False when the account does not exist.
    pub async fn add_api_key(&self, account_id: Uuid, key: &KeyDigest) -> Result<bool> {
        if self.get_account(account_id).await?.is_none() {
            return Ok(false);
        }
        let mut key_item = api_key_key(key);
        key_item.insert("account_id".into(), s(account_id.to_string()));
        key_item.insert("active".into(), b(true));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(key_item))
            .condition_expression(NEW_RECORD)
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(true)
    }

    /// Stops a key from authenticating. False when there is no such key.
    pub async fn revoke_api_key(&self, key: &KeyDigest) -> Result<bool> {
        self.update_existing(
            api_key_key(key),
            "SET active = :false",
            &[],
            &[(":false", b(false))],
        )
        .await
    }

    /// Sets an account's balance. False when there is no such account. The account record is
    /// the one every creating transaction of the account writes, so on DynamoDB a plain update
    /// of it can meet one (`TransactionConflictException`): it is tried again a few times.
    pub async fn set_credits(&self, account_id: Uuid, credits: i64) -> Result<bool> {
        let mut tries = 0;
        loop {
            let set = self
                .update_existing(
                    account_key(account_id),
                    "SET credits = :credits",
                    &[],
                    &[(":credits", n(credits))],
                )
                .await;
            match set {
                Err(error) if error.is_transaction_conflict() && tries < CONFLICT_TRIES => {
                    tries += 1;
                    tokio::time::sleep(CONFLICT_PAUSE * tries).await;
                }
                answer => return answer,
            }
        }
    }

    /// Sets the given rate-limit overrides of an account, leaving the others as they are.
    /// False when there is no such account.
    pub async fn set_limits(&self, account_id: Uuid, limits: &LimitOverrides) -> Result<bool> {
        let given: Vec<(&str, &str, u32)> = [
            (
                "bulk_per_minute",
                ":bulk_per_minute",
                limits.bulk_per_minute,
            ),
            (
                "read_per_minute",
                ":read_per_minute",
                limits.read_per_minute,
            ),
            (
                "read_per_second",
                ":read_per_second",
                limits.read_per_second,
            ),
            (
                "write_per_minute",
                ":write_per_minute",
                limits.write_per_minute,
            ),
            (
                "write_per_second",
                ":write_per_second",
                limits.write_per_second,
            ),
        ]
        .into_iter()
        .filter_map(|(name, placeholder, value)| value.map(|value| (name, placeholder, value)))
        .collect();
        if given.is_empty() {
            return Ok(self.get_account(account_id).await?.is_some());
        }
        let sets: Vec<String> = given
            .iter()
            .map(|(name, placeholder, _)| format!("{name} = {placeholder}"))
            .collect();
        let values: Vec<_> = given
            .iter()
            .map(|(_, placeholder, value)| (*placeholder, n(value)))
            .collect();
        self.update_existing(
            account_key(account_id),
            &format!("SET {}", sets.join(", ")),
            &[],
            &values,
        )
        .await
    }
}
