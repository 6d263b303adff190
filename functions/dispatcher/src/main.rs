use std::sync::Arc;

use dispatcher::{Deps, resolver::SystemLookup};
use lambda_runtime::{Error, LambdaEvent};
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let metrics = dispatcher::metrics::collector()?;
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(
        config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
        Arc::new(SystemLookup),
    )?;
    deps.store.connect().await;
    metrics_cloudwatch_embedded::lambda::handler::run(metrics, |event: LambdaEvent<_>| async {
        Ok::<_, Error>(dispatcher::handle(&deps, event).await?)
    })
    .await
}
