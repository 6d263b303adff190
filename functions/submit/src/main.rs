use lambda_http::Error;
use shared::{config::Config, queue::Queue, store::Store};
use submit::Deps;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let metrics = shared::metrics::collector("submit")?;
    let aws = shared::config::load_aws().await;
    let deps = Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        queue: Queue::new(aws_sdk_sqs::Client::new(&aws), &config.item_queue_url),
        config,
    };
    deps.store.connect().await;
    metrics_cloudwatch_embedded::lambda::handler::run_http(metrics, |request| async {
        Ok::<_, Error>(submit::handle(&deps, request).await)
    })
    .await
}
