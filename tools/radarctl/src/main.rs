use std::process::ExitCode;

use clap::Parser;
use radarctl::{Cli, Deps};
use shared::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("radarctl: {error} (locally: source .local/dev.env)");
            return ExitCode::FAILURE;
        }
    };
    let aws = shared::config::load_aws().await;
    let deps = Deps::new(
        config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    match radarctl::run(&deps, cli.command).await {
        Ok(answer) => {
            println!("{answer:#}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("radarctl: {}", shared::error::Chain(&error));
            ExitCode::FAILURE
        }
    }
}
