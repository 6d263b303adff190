//! `AWS::SQS::Queue` → CreateQueue, dead-letter queues first so redrive policies can name them.

use aws_sdk_sqs::{Client, types::QueueAttributeName};
use serde_yaml::Value;

use crate::{Error, Provisioned, Queue, Result, Template, yaml};

/// Queue properties that are SQS attributes of the same name.
const PLAIN_ATTRIBUTES: [&str; 6] = [
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
];

pub(crate) async fn create_all(
    template: &Template,
    client: &Client,
    prefix: &str,
    made: &mut Provisioned,
) -> Result<()> {
    let queues = template.resources("AWS::SQS::Queue");
    let (with_redrive, plain): (Vec<_>, Vec<_>) = queues
        .into_iter()
        .partition(|(_, properties)| properties.get("RedrivePolicy").is_some());
    for (id, properties) in plain.into_iter().chain(with_redrive) {
        let queue = create(
            template,
            client,
            &format!("{prefix}-{id}"),
            properties,
            made,
        )
        .await?;
        made.queues.insert(id.to_owned(), queue);
    }
    Ok(())
}

async fn create(
    template: &Template,
    client: &Client,
    name: &str,
    properties: &Value,
    made: &Provisioned,
) -> Result<Queue> {
    let mut request = client.create_queue().queue_name(name);
    for attribute in PLAIN_ATTRIBUTES {
        if let Some(value) = properties.get(attribute) {
            request = request.attributes(
                QueueAttributeName::from(attribute),
                yaml::resolve(template, made, value)?,
            );
        }
    }
    if let Some(policy) = properties.get("RedrivePolicy") {
        let target = policy
            .get("deadLetterTargetArn")
            .ok_or_else(|| Error::Template(format!("{name}: redrive policy without a target")))?;
        let count = policy
            .get("maxReceiveCount")
            .ok_or_else(|| Error::Template(format!("{name}: redrive policy without a count")))?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": yaml::resolve(template, made, target)?,
            "maxReceiveCount": yaml::resolve(template, made, count)?.parse::<u32>().map_err(|_| {
                Error::Template(format!("{name}: maxReceiveCount is not a number"))
            })?,
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
    }
    let url = request
        .send()
        .await
        .map_err(sqs)?
        .queue_url
        .unwrap_or_default();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sqs)?;
    let arn = attributes
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::Template(format!("{name}: the emulator gave no queue ARN")))?;
    Ok(Queue { url, arn })
}

fn sqs<E>(error: E) -> Error
where
    aws_sdk_sqs::Error: From<E>,
{
    Error::Sqs(Box::new(error.into()))
}
