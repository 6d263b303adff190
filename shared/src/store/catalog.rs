//! An account's radars as its customer sees them: one by id, a page of them, and deactivation.
//!
//! An active radar's record is its identity claim (`RADAR#<account>#<digest>` / `RADAR`,
//! [`super::radars`]). Deactivating moves it, in one transaction, to a record of its own in the
//! same partition (`INACTIVE#<radar_id>`), which frees the identity for a new radar of the
//! same target while the old one stays readable and listed, and counts the deactivation in the
//! account's usage. Both records carry the radar's account index entry ([`super::index`]),
//! which is how they are found by id.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Cancelled, Fields, Item, NEW_RECORD, Read, SK, Store, backoff,
    index::{Page, PageRequest},
    key, s,
    usage::{self, Counted},
};
use crate::{
    Error, Result,
    api::{RadarData, RadarObject},
    clock,
    radar::RadarType,
};

const ACTIVE_SK: &str = "RADAR";
const INACTIVE_PREFIX: &str = "INACTIVE#";
const DEACTIVATED_AT: &str = "deactivated_at";
/// Tries at a deactivation whose records another transaction holds.
const DEACTIVATE_TRIES: u32 = 5;

/// Which of an account's radars a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RadarFilter {
    /// Only these types; every type when empty.
    pub types: Vec<&'static RadarType>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) radars.
    pub active: Option<bool>,
}

impl RadarFilter {
    fn keeps(&self, record: &Item) -> bool {
        let active = record
            .get(SK)
            .and_then(|sk| sk.as_s().ok())
            .map(String::as_str)
            == Some(ACTIVE_SK);
        let radar_type = record
            .get("data")
            .and_then(|data| data.as_s().ok())
            .and_then(|data| serde_json::from_str::<TypeOnly>(data).ok());
        self.active.is_none_or(|wanted| wanted == active)
            && (self.types.is_empty()
                || radar_type.is_some_and(|found| {
                    self.types.iter().any(|kind| kind.name == found.radar_type)
                }))
    }
}

#[derive(serde::Deserialize)]
struct TypeOnly {
    radar_type: String,
}

/// A page of radars, and the cursor of the next.
#[derive(Debug)]
pub struct RadarPage {
    pub radars: Vec<RadarObject>,
    pub next: Option<super::index::Cursor>,
}

/// The radar a record holds, as the API shows it.
fn radar_object(record: &Item) -> Result<RadarObject> {
    let fields = Fields(record);
    let data: RadarData = serde_json::from_str(fields.string("data")?)
        .map_err(|_| fields.corrupt("data is not a radar".into()))?;
    let webhook_url = record
        .get("webhook_url")
        .and_then(|url| url.as_s().ok())
        .cloned();
    let deactivated_at = match record.get(DEACTIVATED_AT) {
        None => None,
        Some(_) => Some(fields.parsed::<DateTime<Utc>>(DEACTIVATED_AT)?),
    };
    Ok(RadarObject::new(data, webhook_url, deactivated_at))
}

fn is_inactive(record: &Item) -> bool {
    record.contains_key(DEACTIVATED_AT)
}

impl Store {
    /// The account's radar `radar_id`, if the account has one by that id.
    pub async fn get_radar(&self, account_id: Uuid, radar_id: Uuid) -> Result<Option<RadarObject>> {
        self.find_radar(account_id, radar_id)
            .await?
            .as_ref()
            .map(radar_object)
            .transpose()
    }

    /// A page of the account's radars, newest first.
    pub async fn list_radars(
        &self,
        account_id: Uuid,
        filter: &RadarFilter,
        page: PageRequest,
    ) -> Result<RadarPage> {
        let Page { records, next } = self
            .index_page(("RADARS", account_id), page, |record| filter.keeps(record))
            .await?;
        let radars = records
            .iter()
            .map(radar_object)
            .collect::<Result<Vec<_>>>()?;
        Ok(RadarPage { radars, next })
    }

    /// Deactivates the account's radar `radar_id` as of `now`, and answers it as it stands
    /// after: deactivated now, or earlier (deactivating twice changes nothing). `None` when the
    /// account has no radar by that id.
    pub async fn deactivate_radar(
        &self,
        account_id: Uuid,
        radar_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<RadarObject>> {
        let Some(found) = self.find_radar(account_id, radar_id).await? else {
            return Ok(None);
        };
        if is_inactive(&found) {
            return radar_object(&found).map(Some);
        }
        // The index projects what a list shows; the inactive record copies the whole one, read
        // fresh from the table.
        let pk = Fields(&found).string(super::PK)?.to_owned();
        let active = self
            .get(key(pk.clone(), ACTIVE_SK), Read::Strong)
            .await?
            .filter(|record| Fields(record).string("radar_id").ok() == Some(&radar_id.to_string()));
        let Some(active) = active else {
            // Moved since the index was written (deactivated), or deleted (an orphan radar).
            let moved = self
                .get(key(pk, &inactive_sk(radar_id)), Read::Strong)
                .await?;
            return moved.as_ref().map(radar_object).transpose();
        };
        let mut tries = 0;
        loop {
            match self.move_to_inactive(&active, &pk, account_id, now).await? {
                Ok(record) => {
                    tracing::info!(%radar_id, "radar deactivated");
                    return radar_object(&record).map(Some);
                }
                // Moved already (a concurrent deactivation), or deleted (an orphan of a bulk
                // item that ended otherwise): the table says which.
                Err(Cancelled::Condition(_)) => {
                    let moved = self
                        .get(key(pk.clone(), &inactive_sk(radar_id)), Read::Strong)
                        .await?;
                    return moved.as_ref().map(radar_object).transpose();
                }
                Err(Cancelled::Contended) if tries < DEACTIVATE_TRIES => {
                    tries += 1;
                    tokio::time::sleep(backoff::pause(tries)).await;
                }
                Err(_) => {
                    return Err(Error::Contended {
                        what: "deactivating a radar",
                        tries: tries + 1,
                    });
                }
            }
        }
    }

    /// The index entry of the account's radar `radar_id`, the inactive one if it shows both.
    async fn find_radar(&self, account_id: Uuid, radar_id: Uuid) -> Result<Option<Item>> {
        let mut entries = self.index_entries(("RADARS", account_id), radar_id).await?;
        entries.sort_by_key(|record| !is_inactive(record));
        Ok(entries.into_iter().next())
    }

    /// One transaction: the active record goes (only if it is still this radar), the inactive
    /// one comes, and the month counts a deactivation. Answers the inactive record, or why the
    /// transaction was cancelled ([`Cancelled::Other`] never: that is an error).
    async fn move_to_inactive(
        &self,
        active: &Item,
        pk: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Item, Cancelled>> {
        let radar_id = Fields(active).string("radar_id")?.to_owned();
        let mut inactive = active.clone();
        inactive.insert(SK.into(), s(inactive_sk_text(&radar_id)));
        inactive.insert(DEACTIVATED_AT.into(), s(clock::rfc3339(now)));
        // Only the identity claim names the bulk item that made it.
        inactive.remove("bulk_id");
        inactive.remove("item_index");
        let remove = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(pk.to_owned(), ACTIVE_SK)))
            .condition_expression("radar_id = :radar")
            .expression_attribute_values(":radar", s(radar_id))
            .build()
            .map_err(Error::dynamo)?;
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(inactive.clone()))
            .condition_expression(NEW_RECORD)
            .build()
            .map_err(Error::dynamo)?;
        let count = usage::count(
            self.table(),
            account_id,
            now,
            Counted {
                deactivated: 1,
                ..Counted::default()
            },
        )?;
        let result = self
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(remove).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(inactive)),
            Err(error) => match Cancelled::of(&error) {
                Cancelled::Other => Err(Error::dynamo(error)),
                cancelled => Ok(Err(cancelled)),
            },
        }
    }
}

fn inactive_sk(radar_id: Uuid) -> String {
    inactive_sk_text(&radar_id.to_string())
}

fn inactive_sk_text(radar_id: &str) -> String {
    format!("{INACTIVE_PREFIX}{radar_id}")
}
