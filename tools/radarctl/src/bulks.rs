//! A bulk as an operator wants to see it: its state, its counts, where each item stands; and an
//! account's bulks, newest first.

use serde_json::{Value, json};
use shared::store::{
    bulks::Funding,
    index::{Cursor, MAX_LIMIT, PageRequest},
    items::ItemState,
};
use uuid::Uuid;

use crate::{Deps, Error, Result};

pub(crate) async fn show(deps: &Deps, bulk_id: Uuid) -> Result<Value> {
    let snapshot = deps
        .store
        .read_bulk(bulk_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("bulk {bulk_id}")))?;
    let counts = snapshot.counts();
    let bulk = &snapshot.bulk;
    let items: Vec<Value> = snapshot
        .items
        .iter()
        .map(|item| match &item.outcome {
            None => json!({"item_index": item.index, "state": "queued"}),
            Some(outcome) => json!({
                "item_index": item.index,
                "state": match outcome.state {
                    ItemState::Created => "created",
                    ItemState::Failed => "failed",
                },
                "update_id": outcome.update_id,
            }),
        })
        .collect();
    // Credits taken when the bulk was accepted; null for a bulk that pays per batch.
    let reserved = match bulk.funding {
        Funding::Reserved(credits) => Some(credits),
        Funding::Metered => None,
    };
    Ok(json!({
        "bulk_id": bulk.id,
        "account_id": bulk.account_id,
        "state": bulk.state.to_string(),
        "webhook_url": bulk.webhook_url.as_str(),
        "created_at": shared::clock::rfc3339(bulk.created_at),
        "reserved_credits": reserved,
        "summary": {
            "total": counts.total,
            "processing": counts.processing,
            "created": counts.created,
            "failed": counts.failed,
        },
        "completion": bulk.completion.as_ref().map(|completion| json!({
            "update_id": completion.update_id,
            "completed_at": shared::clock::rfc3339(completion.completed_at),
        })),
        "items": items,
    }))
}

/// A page of an account's bulks still within their retention, newest first, with the counts
/// their tally records hold.
pub(crate) async fn list(
    deps: &Deps,
    account_id: Uuid,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Value> {
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::Usage(format!(
            "--limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    let after = cursor
        .map(Cursor::parse)
        .transpose()
        .map_err(|_| Error::Usage("--cursor must be a next_cursor this command printed".into()))?;
    let now = shared::clock::epoch_seconds(chrono::Utc::now());
    let page = deps
        .store
        .list_bulks(account_id, PageRequest { limit, after }, now)
        .await?;
    let bulks: Vec<Value> = page
        .bulks
        .iter()
        .map(|listed| {
            let bulk = &listed.bulk;
            json!({
                "bulk_id": bulk.id,
                "created_at": shared::clock::rfc3339(bulk.created_at),
                "completed_at": bulk.completion.as_ref().map(|c| shared::clock::rfc3339(c.completed_at)),
                "summary": {
                    "total": bulk.total,
                    "processing": bulk.total.saturating_sub(listed.totals.tallied),
                    "created": listed.totals.created,
                    "failed": listed.totals.failed(),
                },
            })
        })
        .collect();
    Ok(json!({
        "account_id": account_id,
        "bulks": bulks,
        "next_cursor": page.next.map(Cursor::encode),
    }))
}
