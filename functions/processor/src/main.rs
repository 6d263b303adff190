use lambda_runtime::{Error, LambdaEvent};
use processor::Deps;
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let metrics = shared::metrics::collector("processor")?;
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(
        config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    deps.store.connect().await;
    metrics_cloudwatch_embedded::lambda::handler::run(metrics, |event: LambdaEvent<_>| async {
        Ok::<_, Error>(processor::handle(&deps, event).await?)
    })
    .await
}
