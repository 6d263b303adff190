//! What travels on the two queues.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// A queued item, for the processor. It carries the radar itself so that the processor needs
/// no read to start.
#[derive(Debug, Serialize, Deserialize)]
pub struct ItemMessage {
    pub bulk_id: Uuid,
    pub item_index: u32,
    pub account_id: Uuid,
    pub radar: Box<RawValue>,
}

/// An event to deliver, for the dispatcher. Only a reference travels: the event itself is
/// stored (on its item record, or assembled from them for `bulk_completed`), so every attempt
/// sends the very same bytes and no message ever nears SQS's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WebhookMessage {
    /// One item's `radar_created` or `radar_failure`.
    Item {
        bulk_id: Uuid,
        item_index: u32,
        update_id: Uuid,
    },
    /// The bulk's one `bulk_completed`.
    BulkCompleted { bulk_id: Uuid, update_id: Uuid },
}

impl WebhookMessage {
    pub fn bulk_id(&self) -> Uuid {
        match self {
            Self::Item { bulk_id, .. } | Self::BulkCompleted { bulk_id, .. } => *bulk_id,
        }
    }

    /// The event's `update_id`, which is also its `webhook-id`.
    pub fn update_id(&self) -> Uuid {
        match self {
            Self::Item { update_id, .. } | Self::BulkCompleted { update_id, .. } => *update_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_messages_name_their_event() {
        let id = Uuid::nil();
        let item = WebhookMessage::Item {
            bulk_id: id,
            item_index: 7,
            update_id: id,
        };
        let text = serde_json::to_string(&item).unwrap();
        assert!(text.starts_with(r#"{"event":"item","bulk_id":"#), "{text}");
        assert_eq!(serde_json::from_str::<WebhookMessage>(&text).unwrap(), item);
        let done = WebhookMessage::BulkCompleted {
            bulk_id: id,
            update_id: id,
        };
        let text = serde_json::to_string(&done).unwrap();
        assert!(text.starts_with(r#"{"event":"bulk_completed""#), "{text}");
    }
}
