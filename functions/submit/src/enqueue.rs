//! Storing and queueing a bulk's items, all or nothing.

use shared::{
    Error, Result,
    error::Chain,
    queue::ItemMessage,
    store::bulks::{Bulk, BulkState},
    submission::SubmittedItem,
};

use crate::Deps;

/// Stores every item and queues one message per item, concurrently, then marks the bulk
/// `accepted`, reserving `price` from the account if its balance covers it. If anything fails the bulk is marked `aborted`, so that the processor drops
/// whatever was queued, and the caller gets [`Error::QueueingFailed`].
pub(crate) async fn store_and_queue(
    deps: &Deps,
    bulk: &Bulk,
    items: &[SubmittedItem],
    price: i64,
) -> Result<()> {
    let messages: Vec<ItemMessage> = items
        .iter()
        .map(|item| ItemMessage {
            bulk_id: bulk.id,
            item_index: item.index,
            account_id: bulk.account_id,
            radar: item.radar.clone(),
        })
        .collect();
    let attempt = async {
        let (stored, queued) = tokio::join!(
            deps.store.put_items(bulk.id, items, bulk.expires_at),
            deps.queue.send_all(&messages),
        );
        stored.and(queued)?;
        let funding = deps.store.accept_bulk(bulk, price).await?;
        tracing::info!(?funding, "bulk funded");
        Ok::<_, Error>(())
    };
    let Err(cause) = attempt.await else {
        return Ok(());
    };
    match deps.store.abort_bulk(bulk.id).await {
        Ok(true) => {}
        // Not `submitting` any more: if the accept went through despite the error we saw,
        // every item is queued and the submission stands.
        Ok(false) => {
            if deps
                .store
                .get_bulk(bulk.id)
                .await?
                .is_some_and(|b| b.state == BulkState::Accepted)
            {
                tracing::warn!(error = %Chain(&cause), "accept reported a failure but took effect");
                return Ok(());
            }
        }
        Err(abort_error) => tracing::error!(
            error = %Chain(&abort_error),
            "could not mark the bulk aborted; it stays submitting and is dropped once stale"
        ),
    }
    Err(Error::QueueingFailed(Box::new(cause)))
}
