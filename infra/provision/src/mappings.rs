//! The template's SQS event sources: which function reads which queue, how many messages at a
//! time, how many at once, and whether it answers with partial batch responses. `make dev`
//! runs them locally as Lambda's event source mappings would.

use serde_yaml::Value;

use crate::Template;

/// One `Type: SQS` event of an `AWS::Serverless::Function`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// The function, by its binary name (`Metadata.BuildProperties.Binary`).
    pub function: String,
    /// The queue, by logical id (from `Queue: !GetAtt <Queue>.Arn`).
    pub queue: String,
    /// `BatchSize`; Lambda's default is 10.
    pub batch_size: usize,
    /// `ScalingConfig.MaximumConcurrency`; Lambda's minimum is 2.
    pub max_concurrency: usize,
    /// `FunctionResponseTypes` holds `ReportBatchItemFailures`.
    pub partial_batch_responses: bool,
}

impl Template {
    /// Every SQS event source of every function, in template order.
    pub fn event_sources(&self) -> Vec<EventSource> {
        self.resources("AWS::Serverless::Function")
            .into_iter()
            .filter_map(|(id, properties)| {
                let function = self
                    .metadata(id)?
                    .get("BuildProperties")?
                    .get("Binary")?
                    .as_str()?
                    .to_owned();
                let events = properties.get("Events")?.as_mapping()?;
                Some(
                    events
                        .values()
                        .filter(|event| event.get("Type").and_then(Value::as_str) == Some("SQS"))
                        .filter_map(|event| event_source(&function, event.get("Properties")?))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect()
    }
}

fn event_source(function: &str, properties: &Value) -> Option<EventSource> {
    let Value::Tagged(queue) = properties.get("Queue")? else {
        return None;
    };
    let queue = queue.value.as_str()?.strip_suffix(".Arn")?.to_owned();
    let number = |value: Option<&Value>, default: usize| {
        value
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    Some(EventSource {
        function: function.to_owned(),
        queue,
        batch_size: number(properties.get("BatchSize"), 10),
        max_concurrency: number(
            properties
                .get("ScalingConfig")
                .and_then(|scaling| scaling.get("MaximumConcurrency")),
            2,
        ),
        partial_batch_responses: properties
            .get("FunctionResponseTypes")
            .and_then(Value::as_sequence)
            .is_some_and(|types| {
                types
                    .iter()
                    .any(|kind| kind.as_str() == Some("ReportBatchItemFailures"))
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sqs_events_with_their_settings_and_skips_the_rest() {
        let template = Template::parse(
            "Resources:
  Worker:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: worker}}
    Properties:
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt JobQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 7}
        Api: {Type: HttpApi, Properties: {Path: /x, Method: GET}}
        Plain: {Type: SQS, Properties: {Queue: !GetAtt Other.Arn}}
  JobQueue: {Type: AWS::SQS::Queue}
",
        )
        .unwrap();

        assert_eq!(
            template.event_sources(),
            [
                EventSource {
                    function: "worker".into(),
                    queue: "JobQueue".into(),
                    batch_size: 5,
                    max_concurrency: 7,
                    partial_batch_responses: true,
                },
                EventSource {
                    function: "worker".into(),
                    queue: "Other".into(),
                    batch_size: 10,
                    max_concurrency: 2,
                    partial_batch_responses: false,
                },
            ]
        );
    }

    #[test]
    fn the_repository_template_feeds_the_processor_from_both_item_queues() {
        let template = Template::load(&Template::default_path()).unwrap();
        let processor: Vec<String> = template
            .event_sources()
            .into_iter()
            .filter(|source| source.function == "processor")
            .map(|source| source.queue)
            .collect();
        assert_eq!(processor, ["ItemQueue", "ItemDeadLetterQueue"]);
    }
}
