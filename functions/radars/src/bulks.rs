//! `GET /v1/radars/bulk`: the account's bulks, newest first, each with its counts (see
//! [`shared::store::bulk_list`] for what a page reads). One read token.

use lambda_http::{Body, Response};
use shared::{
    Result,
    api::{BulkListed, Listed, PollSummary, Status},
    clock,
    rate_limit::Bucket,
    store::{bulk_list::ListedBulk, index::Cursor},
};

use crate::{Caller, Deps, query::Query, respond};

pub(crate) async fn list(deps: &Deps, caller: &Caller, query: &Query) -> Result<Response<Body>> {
    let page = query.page()?;
    let admission = caller.spend(deps, Bucket::Read).await?;
    let listed = deps
        .store
        .list_bulks(caller.account.id, page, clock::epoch_seconds(caller.now))
        .await?;
    let bulks = listed.bulks.into_iter().map(entry).collect();
    let body = Listed::new(
        "Bulk submissions retrieved successfully",
        bulks,
        listed.next.map(Cursor::encode),
        caller.now,
    );
    Ok(respond(200, &body, &admission))
}

fn entry(ListedBulk { bulk, totals }: ListedBulk) -> BulkListed {
    let completed_at = bulk
        .completion
        .map(|completion| clock::rfc3339(completion.completed_at));
    BulkListed {
        bulk_id: bulk.id,
        status: if completed_at.is_some() {
            Status::Completed
        } else {
            Status::Processing
        },
        summary: PollSummary {
            total: bulk.total,
            processing: bulk.total.saturating_sub(totals.tallied),
            created: totals.created,
            failed: totals.failed(),
        },
        created_at: clock::rfc3339(bulk.created_at),
        completed_at,
    }
}
