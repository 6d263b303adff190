//! The `processing` and `completed` bodies, built from one read of the whole bulk.

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use shared::{
    Error, Result,
    api::{InFlightItem, PollEntry, PollResponse, PollSummary, Status},
    store::{items::ItemRecord, snapshot::BulkSnapshot},
};

/// The poll answer for `snapshot`: `completed` once every item is terminal, else `processing`.
/// Terminal items are their stored event text, unparsed and unchanged.
pub(crate) fn poll_response(snapshot: BulkSnapshot, now: DateTime<Utc>) -> Result<PollResponse> {
    let counts = snapshot.counts();
    let bulk_id = snapshot.bulk.id;
    if snapshot.items.len() != usize::try_from(counts.total).unwrap_or(usize::MAX) {
        // An accepted bulk has every item stored; say so loudly, but still show what there is.
        tracing::error!(
            total = counts.total,
            stored = snapshot.items.len(),
            "an accepted bulk is missing items"
        );
    }
    let radars = snapshot
        .items
        .into_iter()
        .map(entry)
        .collect::<Result<Vec<_>>>()?;
    let summary = PollSummary {
        total: counts.total,
        processing: counts.processing,
        created: counts.created,
        failed: counts.failed,
    };
    Ok(PollResponse::new(bulk_id, summary, radars, now))
}

/// One item: `{item_index, status: "processing", custom_fields}` while in flight, else its event.
fn entry(item: ItemRecord) -> Result<PollEntry> {
    let corrupt = |what: &str, error: serde_json::Error| Error::CorruptRecord {
        key: format!("item {}", item.index),
        problem: format!("its {what} is not JSON: {error}"),
    };
    match item.outcome {
        None => Ok(PollEntry::InFlight(InFlightItem {
            item_index: item.index,
            status: Status::Processing,
            custom_fields: serde_json::from_str(&item.custom_fields)
                .map_err(|e| corrupt("custom_fields", e))?,
        })),
        // `from_string` checks the text is JSON and keeps it as it is.
        Some(outcome) => RawValue::from_string(outcome.event)
            .map(PollEntry::Terminal)
            .map_err(|e| corrupt("event", e)),
    }
}

#[cfg(test)]
mod tests {
    use shared::store::{
        bulks::{Bulk, BulkState},
        items::{ItemState, Outcome},
    };
    use uuid::Uuid;

    use super::*;

    fn snapshot(items: Vec<ItemRecord>) -> BulkSnapshot {
        BulkSnapshot {
            bulk: Bulk {
                id: Uuid::new_v4(),
                account_id: Uuid::new_v4(),
                webhook_url: shared::webhook_url::WebhookUrl::from_stored(
                    "https://example.com/hook",
                )
                .unwrap(),
                total: u32::try_from(items.len()).unwrap(),
                state: BulkState::Accepted,
                created_at: Utc::now(),
                expires_at: i64::MAX,
                completion: None,
                funding: shared::store::bulks::Funding::Metered,
            },
            items,
        }
    }

    fn terminal(index: u32, event: &str) -> ItemRecord {
        ItemRecord {
            index,
            custom_fields: "{}".into(),
            outcome: Some(Outcome {
                state: ItemState::Failed,
                update_id: Uuid::new_v4(),
                event: event.into(),
            }),
        }
    }

    #[test]
    fn a_stored_event_is_served_without_reformatting() {
        let event = r#"{ "item_index" : 0,  "z": 1, "a": "\u00e9" }"#;

        let body = poll_response(snapshot(vec![terminal(0, event)]), Utc::now()).unwrap();

        let text = serde_json::to_string(&body).unwrap();
        assert!(
            text.ends_with(&format!(r#""radars":[{event}]}}"#)),
            "{text}"
        );
        assert_eq!(body.status, Status::Completed);
    }

    #[test]
    fn an_event_that_is_not_json_is_an_internal_error_not_a_panic() {
        let error = poll_response(snapshot(vec![terminal(3, "{not json")]), Utc::now())
            .expect_err("a corrupt event");

        assert_eq!(error.status_code(), 500);
        assert!(matches!(error, Error::CorruptRecord { ref key, .. } if key == "item 3"));
    }
}
