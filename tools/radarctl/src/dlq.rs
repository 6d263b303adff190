//! Dead-letter redrive: messages move back to the queue they came from, to be processed again.
//!
//! Each message is sent to the source queue before it is deleted from the dead-letter queue,
//! so a failure part-way leaves a message in both places at worst, never in neither. The
//! processor handles a message seen twice as one item (its outcome is decided once).

use serde_json::{Value, json};

use crate::{DeadLetters, Deps, Error, Result};

pub(crate) async fn redrive(deps: &Deps, queue: DeadLetters, max: Option<usize>) -> Result<Value> {
    let config = &deps.config;
    let (from, to) = match queue {
        DeadLetters::Items => {
            let arn = config
                .item_dead_letter_queue_arn
                .as_deref()
                .ok_or_else(|| {
                    Error::Usage("RADAR_ITEM_DEAD_LETTER_QUEUE_ARN is not set".into())
                })?;
            (queue_url(deps, arn).await?, &config.item_queue_url)
        }
        DeadLetters::Webhooks => {
            let url = config
                .dispatch
                .dead_letter_queue_url
                .clone()
                .ok_or_else(|| {
                    Error::Usage("RADAR_WEBHOOK_DEAD_LETTER_QUEUE_URL is not set".into())
                })?;
            (url, &config.webhook_queue_url)
        }
    };
    let max = max.unwrap_or(usize::MAX);
    let mut moved = 0;
    while moved < max {
        let received = deps
            .sqs
            .receive_message()
            .queue_url(&from)
            .max_number_of_messages(i32::try_from((max - moved).min(10)).unwrap_or(10))
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let (Some(body), Some(receipt)) = (message.body, message.receipt_handle) else {
                continue;
            };
            deps.sqs
                .send_message()
                .queue_url(to)
                .message_body(body)
                .send()
                .await
                .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
            deps.sqs
                .delete_message()
                .queue_url(&from)
                .receipt_handle(receipt)
                .send()
                .await
                .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?;
            moved += 1;
        }
    }
    Ok(json!({"from": from, "to": to, "moved": moved}))
}

/// A queue's URL from its ARN (`arn:aws:sqs:<region>:<account>:<name>`).
async fn queue_url(deps: &Deps, arn: &str) -> Result<String> {
    let mut parts = arn.rsplitn(2, ':');
    let (Some(name), Some(_)) = (parts.next(), parts.next()) else {
        return Err(Error::Usage(format!("{arn} is not a queue ARN")));
    };
    let owner = arn.split(':').nth(4).filter(|owner| !owner.is_empty());
    deps.sqs
        .get_queue_url()
        .queue_name(name)
        .set_queue_owner_aws_account_id(owner.map(str::to_owned))
        .send()
        .await
        .map_err(|e| Error::Sqs(aws_sdk_sqs::Error::from(e).to_string()))?
        .queue_url
        .ok_or_else(|| Error::NotFound(format!("queue {name}")))
}
