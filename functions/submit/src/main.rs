use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use shared::{config::Config, queue::Queue, store::Store};
use submit::Deps;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let aws = shared::config::load_aws().await;
    let deps = Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        queue: Queue::new(aws_sdk_sqs::Client::new(&aws), &config.item_queue_url),
        config,
    };
    run(service_fn(|request| async {
        Ok::<_, Infallible>(submit::handle(&deps, request).await)
    }))
    .await
}
