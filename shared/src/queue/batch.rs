//! The receiving end of a queue: an SQS event's records read into typed messages, the part both
//! SQS-triggered functions share. What each does with its messages, and which it asks SQS to
//! redeliver (a partial batch response), stays with the function.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsMessage};
use serde::de::DeserializeOwned;

/// One message of a batch, its body read.
#[derive(Debug)]
pub struct Received<T> {
    pub message_id: String,
    /// What this delivery of the message is known by, to change its visibility.
    pub receipt_handle: Option<String>,
    /// 1 on the first delivery.
    pub receive_count: u32,
    pub body: T,
}

/// What to do with a message whose body is not what the queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Report it as failed, so that SQS moves it to the dead-letter queue for someone to look at.
    Fail,
    /// Let it go: it is read from the dead-letter queue already.
    Drop,
}

/// Reads every message of a batch as a `T` (`what` names it in the log line of one that is not).
pub fn read_batch<T: DeserializeOwned>(
    messages: Vec<SqsMessage>,
    what: &str,
    unreadable: Unreadable,
    response: &mut SqsBatchResponse,
) -> Vec<Received<T>> {
    messages
        .into_iter()
        .filter_map(|message| {
            let message_id = message.message_id?;
            let receive_count = message
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            match serde_json::from_str(message.body.as_deref().unwrap_or_default()) {
                Ok(body) => Some(Received {
                    message_id,
                    receipt_handle: message.receipt_handle,
                    receive_count,
                    body,
                }),
                Err(error) => {
                    tracing::error!(%message_id, %error, ?unreadable, "message is not {what}");
                    if unreadable == Unreadable::Fail {
                        response.add_failure(message_id);
                    }
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn message(id: &str, body: &str, receive_count: Option<&str>) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message.attributes = receive_count
            .map(|count| HashMap::from([("ApproximateReceiveCount".into(), count.into())]))
            .unwrap_or_default();
        message
    }

    #[test]
    fn readable_messages_keep_their_id_and_receive_count() {
        let mut response = SqsBatchResponse::default();
        let read: Vec<Received<u32>> = read_batch(
            vec![message("a", "7", Some("3")), message("b", "8", None)],
            "a number",
            Unreadable::Fail,
            &mut response,
        );
        let read: Vec<_> = read
            .iter()
            .map(|r| (r.message_id.as_str(), r.receive_count, r.body))
            .collect();
        assert_eq!(read, [("a", 3, 7), ("b", 1, 8)]);
        assert!(response.batch_item_failures.is_empty());
    }

    #[test]
    fn an_unreadable_message_fails_unless_it_is_a_dead_letter_already() {
        for (unreadable, failed) in [(Unreadable::Fail, vec!["x"]), (Unreadable::Drop, vec![])] {
            let mut response = SqsBatchResponse::default();
            let read: Vec<Received<u32>> = read_batch(
                vec![message("x", "not json", None), message("y", "1", None)],
                "a number",
                unreadable,
                &mut response,
            );
            assert_eq!(read.len(), 1);
            let ids: Vec<_> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            assert_eq!(ids, failed);
        }
    }
}
