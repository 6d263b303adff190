//! An account's bulks, newest first (`GET /v1/radars/bulk`): a page of bulk records from the
//! account index ([`super::index`]), each with its counts from its tally records
//! ([`super::completion`]), one small `Query` a bulk, read side by side.
//!
//! The counts are the tally's, which follows each item's outcome by one write: for a moment a
//! bulk's listing may trail its poll. A bulk is `completed` here once its `bulk_completed` is
//! fixed, which happens when its tally is full.

use futures::{StreamExt, TryStreamExt, stream};
use uuid::Uuid;

use super::{
    EXPIRES_AT, Fields, Store,
    bulks::Bulk,
    completion::Totals,
    index::{Cursor, Page, PageRequest},
};
use crate::Result;

/// Tally reads in flight at once while listing.
const READS_AT_ONCE: usize = 16;

/// A bulk as an account's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBulk {
    pub bulk: Bulk,
    pub totals: Totals,
}

/// A page of bulks, and the cursor of the next.
#[derive(Debug)]
pub struct BulkPage {
    pub bulks: Vec<ListedBulk>,
    pub next: Option<Cursor>,
}

impl Store {
    /// A page of the account's accepted bulks still within their retention (`expires_at` after
    /// `now_epoch`), newest first.
    pub async fn list_bulks(
        &self,
        account_id: Uuid,
        page: PageRequest,
        now_epoch: i64,
    ) -> Result<BulkPage> {
        let Page { records, next } = self
            .index_page(("BULKS", account_id), page, |record| {
                Fields(record)
                    .number::<i64>(EXPIRES_AT)
                    .is_ok_and(|expires_at| now_epoch < expires_at)
            })
            .await?;
        let bulks: Vec<Bulk> = records.iter().map(Bulk::try_from).collect::<Result<_>>()?;
        let bulks = stream::iter(bulks)
            .map(|bulk| async move {
                let totals = self.tally_totals(bulk.id).await?;
                Ok::<_, crate::Error>(ListedBulk { bulk, totals })
            })
            .buffered(READS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(BulkPage { bulks, next })
    }
}
