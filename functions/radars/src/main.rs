use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use radars::Deps;
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(config, aws_sdk_dynamodb::Client::new(&aws));
    deps.store.connect().await;
    run(service_fn(|request| async {
        Ok::<_, Infallible>(radars::handle(&deps, request).await)
    }))
    .await
}
