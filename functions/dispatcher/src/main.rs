use std::sync::Arc;

use dispatcher::{Deps, resolver::SystemLookup};
use lambda_runtime::{Error, run, service_fn};
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(
        config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
        Arc::new(SystemLookup),
    )?;
    run(service_fn(|event| dispatcher::handle(&deps, event))).await
}
