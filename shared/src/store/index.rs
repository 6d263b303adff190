//! The account index: a global secondary index (`by-account`) that lists an account's radars
//! and its bulks, newest first, with one `Query` a page.
//!
//! A record is in it when it has both index attributes: `apk`, the account's list
//! (`RADARS#<account_id>` or `BULKS#<account_id>`), and `ask`, the record's id. Radar and bulk
//! ids are UUIDv7, whose leading bits are the creation time in milliseconds, so sorting by id is
//! sorting by age, and one radar is found by its id alone (`apk = … AND ask = <id>`). The index
//! projects what a list shows (a radar's data, URL and deactivation; a bulk's fields), so a
//! page is read from the index without going back to the table, and the bulk record's own
//! bookkeeping (full shards, completion looks, refund) never rewrites its entry.
//! A radar's record joins the index when it is written, so the index costs each created radar
//! one write of its own (documented in the README's cost table); a bulk joins when it is
//! accepted, so submissions that never were are never listed.
//!
//! A page's cursor is the id of the last record it returned, encoded so that clients treat
//! it as opaque. It only ever positions a query inside the caller's own list (the partition is
//! always the authenticated account's), so no cursor, forged or not, reads another account's
//! records. Index reads are eventually consistent: a radar created a moment ago may take a
//! moment to be listed.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use super::{Item, Store, s};
use crate::{Error, FieldError, Result};

/// The index's name, as `infra/template.yaml` declares it.
pub const INDEX: &str = "by-account";
const APK: &str = "apk";
const ASK: &str = "ask";

/// Default and largest page size.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The index attributes of an account's radar.
pub(super) fn radar_entry(account_id: Uuid, radar_id: Uuid) -> [(String, AttributeValue); 2] {
    [
        (APK.to_owned(), s(format!("RADARS#{account_id}"))),
        (ASK.to_owned(), s(radar_id.to_string())),
    ]
}

/// The index attributes of an account's bulk.
pub(super) fn bulk_entry(account_id: Uuid, bulk_id: Uuid) -> [(String, AttributeValue); 2] {
    [
        (APK.to_owned(), s(format!("BULKS#{account_id}"))),
        (ASK.to_owned(), s(bulk_id.to_string())),
    ]
}

/// Where a page starts: after the record with this id. Opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Uuid);

/// The version tag a cursor's text starts with, so that its form may change later.
const CURSOR_TAG: &str = "c1:";

impl Cursor {
    pub fn after(id: Uuid) -> Self {
        Self(id)
    }

    /// A `?cursor=` value; anything this API did not hand out is a 400 naming `cursor`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::InvalidQuery(FieldError::new(
                "cursor",
                "Must be a next_cursor value returned by this endpoint",
            ))
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let decoded = String::from_utf8(bytes).map_err(|_| invalid())?;
        let id = decoded.strip_prefix(CURSOR_TAG).ok_or_else(invalid)?;
        if id.len() != 36 {
            return Err(invalid());
        }
        Uuid::try_parse(id).map(Self).map_err(|_| invalid())
    }

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{}", self.0))
    }
}

/// One page of a list: up to `limit` records, starting after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// The records of a page, and the cursor of the next one if there is one.
#[derive(Debug)]
pub(super) struct Page {
    pub(super) records: Vec<Item>,
    pub(super) next: Option<Cursor>,
}

impl Store {
    /// Records of the list `apk` that `keep` accepts, newest first, a page of them. Reads past
    /// the page by one record, so that `next` is set only when there is more.
    pub(super) async fn index_page(
        &self,
        apk: (&str, Uuid),
        page: PageRequest,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Page> {
        let want = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(INDEX)
                .scan_index_forward(false)
                .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
                .expression_attribute_names("#apk", APK)
                .expression_attribute_values(":apk", s(format!("{}#{}", apk.0, apk.1)))
                .set_exclusive_start_key(start);
            query = match page.after {
                Some(Cursor(after)) => query
                    .key_condition_expression("#apk = :apk AND #ask < :after")
                    .expression_attribute_names("#ask", ASK)
                    .expression_attribute_values(":after", s(after.to_string())),
                None => query.key_condition_expression("#apk = :apk"),
            };
            let answer = query.send().await.map_err(Error::dynamo)?;
            records.extend(answer.items.unwrap_or_default().into_iter().filter(&keep));
            start = answer.last_evaluated_key;
            if records.len() > want
                || start
                    .as_ref()
                    .is_none_or(std::collections::HashMap::is_empty)
            {
                break;
            }
        }
        let more = records.len() > want;
        records.truncate(want);
        let next = if more {
            let last = records
                .last()
                .map(|record| super::Fields(record).parsed(ASK));
            Some(Cursor(last.transpose()?.unwrap_or_default()))
        } else {
            None
        };
        Ok(Page { records, next })
    }

    /// Records of the list `apk` whose id is `id`: one, or for a moment two (a radar being
    /// deactivated is moved to another record, and the index follows a little later).
    pub(super) async fn index_entries(&self, apk: (&str, Uuid), id: Uuid) -> Result<Vec<Item>> {
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(INDEX)
            .key_condition_expression("#apk = :apk AND #ask = :id")
            .expression_attribute_names("#apk", APK)
            .expression_attribute_names("#ask", ASK)
            .expression_attribute_values(":apk", s(format!("{}#{}", apk.0, apk.1)))
            .expression_attribute_values(":id", s(id.to_string()))
            .send()
            .await
            .map_err(Error::dynamo)?;
        Ok(answer.items.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let id = Uuid::now_v7();
        let cursor = Cursor::after(id);
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        for forged in [
            "",
            "not base64!",
            &URL_SAFE_NO_PAD.encode(id.to_string()),
            &URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}{}", id.simple())),
            &URL_SAFE_NO_PAD.encode(format!("{CURSOR_TAG}x")),
        ] {
            let error = Cursor::parse(forged).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidQuery(field) if field.field == "cursor"),
                "{forged:?}: {error:?}"
            );
        }
    }

    #[test]
    fn v7_ids_sort_by_creation_time() {
        let older = Uuid::now_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let newer = Uuid::now_v7();
        assert!(older.to_string() < newer.to_string());
    }
}
