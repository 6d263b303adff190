//! DynamoDB access: one module per record kind, each owning its keys and its conversions.
//!
//! # Layout
//!
//! One table, string keys `pk` and `sk`, and `expires_at` (epoch seconds) as its TTL attribute.
//!
//! | record | `pk` | `sk` | module |
//! |---|---|---|---|
//! | API key | `KEY#<sha256 of key>` | `KEY` | [`accounts`] |
//! | account | `ACCOUNT#<account_id>` | `ACCOUNT` | [`accounts`] |
//! | webhook signing secrets | `SECRET#<account_id>` | `SECRET` | [`secrets`] |
//! | rate window | `RATE#<account_id>#<bucket>#<seconds>#<window start>` | `RATE` | [`rate`] |
//! | idempotency claim | `IDEMPOTENCY#<account_id>#<sha256 of key>` | `IDEMPOTENCY` | [`idempotency`] |
//! | bulk | `BULK#<bulk_id>` | `BULK` | [`bulks`] |
//! | completion tally | `BULK#<bulk_id>` | `TALLY#<shard, 2 digits>` | [`completion`] |
//! | items' `custom_fields`, packed | `BULK#<bulk_id>` | `FIELDS#<first item_index, 4 digits>` | [`items`] |
//! | bulk item, once decided | `BULK#<bulk_id>` | `ITEM#<item_index, 4 digits>` | [`items`] |
//! | webhook delivery | `BULK#<bulk_id>` | `WEBHOOK#<update_id>` | [`deliveries`] |
//! | radar (and its identity claim) | `RADAR#<account_id>#<sha256 of identity>` | `RADAR` | [`radars`] |
//! | deactivated radar | `RADAR#<account_id>#<sha256 of identity>` | `INACTIVE#<radar_id>` | [`catalog`] |
//! | an account's usage in a month | `USAGE#<account_id>` | `MONTH#<YYYY-MM>` | [`usage`] |
//! | webhook destination (slots, pace, circuit) | `DEST#<host>:<port>` | `DEST` | [`destinations`] |
//!
//! The bulk record also holds how it is paid for (`reserved`: the credits taken when it was
//! accepted, absent on a metered bulk; `refunded`: what its completion gave back, written once,
//! [`credits`]). A bulk and its items share a partition, with the bulk sorting first, so that one `Query`
//! reads a whole bulk in `item_index` order ([`snapshot`]). A submitted item itself travels in
//! its queue message; the table keeps what a poll shows of it until it has an outcome (its
//! `custom_fields`, many items to a record), then its outcome. The deliveries of the bulk's
//! events sort after its items: that `Query` stops before them, and another, small one reads
//! the state of every delivery without the events ([`deliveries`]). Each radar has a partition
//! of its own: its key is its identity, which makes a 409 a conditional put. An account's
//! webhook signing secrets are a record apart from the account, which submit and poll read on
//! every request: only the dispatcher, which signs, and radarctl read `SECRET#` keys, and an IAM
//! policy can say so by key prefix ([`secrets`]).
//!
//! One global secondary index, `by-account` (`apk`, `ask`), lists an account's radars and its
//! accepted bulks newest first, and finds a radar by its id: the key design and what it costs
//! are in [`index`]. Nothing is ever read with a `Scan`: an account's counts and monthly usage
//! are a few records of its own ([`usage`]).

pub mod accounts;
mod backoff;
pub mod bulk_list;
pub mod bulks;
pub mod catalog;
pub mod completion;
pub mod credits;
pub mod deliveries;
pub mod destinations;
pub mod idempotency;
pub mod index;
pub mod items;
pub mod radars;
pub mod rate;
pub mod secrets;
pub mod single;
pub mod snapshot;
pub mod usage;

use std::{collections::HashMap, str::FromStr};

use aws_sdk_dynamodb::{
    Client,
    error::SdkError,
    operation::{
        transact_write_items::TransactWriteItemsError,
        update_item::{UpdateItemError, UpdateItemOutput},
    },
    types::AttributeValue,
};

use crate::{Error, Result, credentials::WebhookSecret, webhook_url::WebhookUrl};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The table and the client that reaches it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the client's connection (TCP and TLS) while the function initialises, so that
    /// its first request does not wait for the handshake: one `GetItem` of a key that never
    /// exists, half a read unit a cold start. Whatever it meets is left for the first request
    /// to meet and report. The key is in a bulk's partition because every function may read
    /// bulk records, and no other record kind (`dynamodb:LeadingKeys` in the template).
    pub async fn connect(&self) {
        let probe = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("BULK#connect".into(), "CONNECT")))
            .send()
            .await;
        if let Err(error) = probe {
            tracing::debug!(error = %Error::dynamo(error), "no connection to DynamoDB at init");
        }
    }
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// Half the cost; may miss a write of the last second or so.
    Eventual,
    /// Sees every write acknowledged before it.
    Strong,
}

impl Store {
    /// Every item a strongly consistent `Query` matches, reading page after page (DynamoDB
    /// answers at most 1 MB at a time).
    async fn query_all(
        &self,
        key_condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let page = query.send().await.map_err(Error::dynamo)?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.as_ref().is_none_or(HashMap::is_empty) {
                return Ok(items);
            }
        }
    }

    /// Applies `expression` to the record at `key` if it exists; false when it does not.
    async fn update_existing(
        &self,
        key: Item,
        expression: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)");
        for (name, attribute) in names {
            update = update.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(*name, value.clone());
        }
        Ok(unless_condition_failed(update.send().await)?.is_some())
    }

    /// One item by key.
    async fn get(&self, key: Item, read: Read) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(read == Read::Strong)
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(output.item)
    }
}

/// A conditional update's outcome: `None` when its condition did not hold.
fn unless_condition_failed<R>(
    result: std::result::Result<UpdateItemOutput, SdkError<UpdateItemError, R>>,
) -> Result<Option<UpdateItemOutput>>
where
    aws_sdk_dynamodb::Error: From<SdkError<UpdateItemError, R>>,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(None)
        }
        Err(error) => Err(Error::dynamo(error)),
    }
}

/// Why a small transaction did not commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancelled {
    /// The condition of the write at this position failed.
    Condition(usize),
    /// Another transaction held one of its records, or a key was throttled: nothing was
    /// written, and the same transaction may go again after a pause.
    Contended,
    /// Anything else.
    Other,
}

impl Cancelled {
    fn of<R>(error: &SdkError<TransactWriteItemsError, R>) -> Self {
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let codes: Vec<Option<&str>> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code())
                    .collect();
                if let Some(at) = codes
                    .iter()
                    .position(|&code| code == Some("ConditionalCheckFailed"))
                {
                    Self::Condition(at)
                } else if codes
                    .iter()
                    .any(|&code| matches!(code, Some("TransactionConflict" | "ThrottlingError")))
                {
                    Self::Contended
                } else {
                    Self::Other
                }
            }
            Some(
                TransactWriteItemsError::TransactionInProgressException(_)
                | TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                | TransactWriteItemsError::ThrottlingException(_)
                | TransactWriteItemsError::RequestLimitExceeded(_),
            ) => Self::Contended,
            _ => Self::Other,
        }
    }
}

const PK: &str = "pk";
const SK: &str = "sk";
const EXPIRES_AT: &str = "expires_at";
/// The condition of a put that must not overwrite anything.
const NEW_RECORD: &str = "attribute_not_exists(pk)";

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Typed reads of a stored item; a missing or mistyped attribute is [`Error::CorruptRecord`].
struct Fields<'a>(&'a Item);

impl Fields<'_> {
    fn corrupt(&self, problem: String) -> Error {
        let pk = self
            .0
            .get(PK)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str);
        let sk = self
            .0
            .get(SK)
            .and_then(|v| v.as_s().ok())
            .map_or("?", String::as_str);
        Error::CorruptRecord {
            key: format!("{pk}/{sk}"),
            problem,
        }
    }

    fn string(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .ok_or_else(|| self.corrupt(format!("{name} is missing or not a string")))
    }

    fn parsed<T: FromStr>(&self, name: &str) -> Result<T> {
        self.string(name)?
            .parse()
            .map_err(|_| self.corrupt(format!("{name} does not parse")))
    }

    fn number<T: FromStr>(&self, name: &str) -> Result<T> {
        self.optional_number(name)?
            .ok_or_else(|| self.corrupt(format!("{name} is missing")))
    }

    fn optional_number<T: FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.0.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(format!("{name} is not a valid number"))),
            Some(_) => Err(self.corrupt(format!("{name} is not a number"))),
        }
    }

    fn webhook_url(&self, name: &str) -> Result<WebhookUrl> {
        WebhookUrl::from_stored(self.string(name)?)
            .ok_or_else(|| self.corrupt(format!("{name} is not a URL")))
    }

    fn secret(&self, name: &str) -> Result<WebhookSecret> {
        WebhookSecret::parse(self.string(name)?)
            .map_err(|error| self.corrupt(format!("{name}: {error}")))
    }

    fn boolean(&self, name: &str) -> Result<bool> {
        match self.0.get(name) {
            Some(AttributeValue::Bool(value)) => Ok(*value),
            _ => Err(self.corrupt(format!("{name} is missing or not a boolean"))),
        }
    }
}
