use lambda_runtime::{Error, LambdaEvent};
use processor::{Deps, Faults};
use shared::{config::Config, queue::Queue, store::Store};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let metrics = shared::metrics::collector("processor")?;
    let aws = shared::config::load_aws().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let deps = Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        items: Queue::new(sqs.clone(), &config.item_queue_url),
        webhooks: Queue::new(sqs, &config.webhook_queue_url),
        config,
        faults: Faults::default(),
    };
    deps.store.connect().await;
    metrics_cloudwatch_embedded::lambda::handler::run(metrics, |event: LambdaEvent<_>| async {
        Ok::<_, Error>(processor::handle(&deps, event).await?)
    })
    .await
}
