//! What travels on the two queues.

use chrono::{DateTime, Utc};
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

/// What the webhook queue carries: an event to deliver, and where its delivery stands. The
/// processor queues bare [`WebhookMessage`]s, which read as a first attempt due now; the
/// dispatcher queues the same event again, with these fields, to retry it later or to wait
/// for something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTask {
    #[serde(flatten)]
    pub event: WebhookMessage,
    /// The attempt this message is for, from 1. An attempt is made by one message only: the
    /// delivery record counts attempts, and a message whose attempt is already counted is
    /// spent.
    #[serde(default = "first_attempt", skip_serializing_if = "is_first")]
    pub attempt: u32,
    /// Not to be acted on before this instant. SQS delays a message by at most 15 minutes, so
    /// a longer pause is a chain of messages that each wait at most that long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// For `bulk_completed`: how often it has already waited for its items' deliveries.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waits: u32,
    /// It waited for its destination's pace and has its place there: when it is due, it
    /// needs only a free slot ([`crate::destination`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paced: bool,
    /// For `bulk_completed`: another copy took its last look, and it waits to see whether
    /// that copy lives (see `Store::take_completion_look`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// The account whose event it is: its message group, so that the queue shares the
    /// dispatcher between accounts ([`crate::queue::Grouped`]). Every message queued again for
    /// the same event keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Uuid>,
}

fn first_attempt() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_first(value: &u32) -> bool {
    *value == 1
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl From<WebhookMessage> for WebhookTask {
    fn from(event: WebhookMessage) -> Self {
        Self {
            event,
            attempt: first_attempt(),
            not_before: None,
            waits: 0,
            paced: false,
            standby: false,
            account_id: None,
        }
    }
}

impl WebhookTask {
    /// A first attempt at `event`, queued in `account_id`'s message group.
    pub fn of_account(event: WebhookMessage, account_id: Uuid) -> Self {
        Self {
            account_id: Some(account_id),
            ..Self::from(event)
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

    #[test]
    fn the_processors_messages_read_as_first_attempts_due_now() {
        let event = WebhookMessage::Item {
            bulk_id: Uuid::new_v4(),
            item_index: 3,
            update_id: Uuid::new_v4(),
        };
        let text = serde_json::to_string(&event).unwrap();
        let task: WebhookTask = serde_json::from_str(&text).unwrap();
        assert_eq!(task, WebhookTask::from(event));
        assert_eq!(
            serde_json::to_string(&task).unwrap(),
            text,
            "same bytes back"
        );
    }

    #[test]
    fn retries_carry_their_attempt_and_their_time() {
        let task = WebhookTask {
            event: WebhookMessage::BulkCompleted {
                bulk_id: Uuid::nil(),
                update_id: Uuid::nil(),
            },
            attempt: 4,
            not_before: Some("2026-05-25T11:17:12Z".parse().unwrap()),
            waits: 2,
            paced: true,
            standby: false,
            account_id: Some(Uuid::nil()),
        };
        let text = serde_json::to_string(&task).unwrap();
        assert!(text.contains(r#""paced":true"#), "{text}");
        assert!(text.contains(r#""account_id":"00000000-"#), "{text}");
        assert!(text.contains(r#""attempt":4"#), "{text}");
        assert!(
            text.contains(r#""not_before":"2026-05-25T11:17:12Z""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<WebhookTask>(&text).unwrap(), task);
    }
}
