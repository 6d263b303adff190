use lambda_http::Error;
use shared::config::Config;
use submit::Deps;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let config = Config::from_env()?;
    let metrics = shared::metrics::collector("submit")?;
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(
        config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    deps.store.connect().await;
    metrics_cloudwatch_embedded::lambda::handler::run_http(metrics, |request| async {
        Ok::<_, Error>(submit::handle(&deps, request).await)
    })
    .await
}
