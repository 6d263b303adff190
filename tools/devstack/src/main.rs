//! `devstack`: run by `make dev` once the emulators are up. Makes the stack, writes the
//! environment files, then runs the webhook receiver and the event source mapping until
//! interrupted.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use devstack::{
    bridge::{self, HttpInvoker},
    receiver, stack,
};
use provision::Template;

#[derive(Debug, Parser)]
#[command(about = "The local radar-bulk stack for make dev")]
struct Args {
    /// Where `cargo lambda watch` serves the API and the Lambda Invoke API.
    #[arg(long, env = "RADAR_API_PORT", default_value_t = 9000)]
    api_port: u16,
    /// Where the webhook receiver listens.
    #[arg(long, env = "RADAR_RECEIVER_PORT", default_value_t = 9999)]
    receiver_port: u16,
    /// The development account's API key (default: a new one).
    #[arg(long, env = "RADAR_DEV_API_KEY")]
    api_key: Option<String>,
    /// The development account's balance.
    #[arg(long, env = "RADAR_DEV_CREDITS", default_value_t = 1000)]
    credits: i64,
    /// Where to write dev.env and functions.env.
    #[arg(long, default_value = ".local")]
    dir: PathBuf,
    /// Tables and queues are named `<prefix>-<LogicalId>`.
    #[arg(long, env = "RADAR_DEV_PREFIX", default_value = "dev")]
    prefix: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let args = Args::parse();
    let aws = shared::config::load_aws().await;
    let (dynamodb, sqs) = (
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    let template = Template::load(&Template::default_path())?;
    let settings = stack::Settings {
        prefix: args.prefix,
        api_key: args.api_key,
        credits: args.credits,
    };
    let stack = stack::up(&template, &dynamodb, &sqs, settings).await?;
    let api = format!("http://127.0.0.1:{}", args.api_port);
    let webhook = format!("http://127.0.0.1:{}/", args.receiver_port);
    stack.write(&args.dir, &api, &webhook)?;
    let sources = stack.sources(&template)?;
    println!(
        "\nradar-bulk is starting on {api}\n  API key:        {}\n  webhook secret: {}\n  \
         webhook URL:    {webhook}\n  credits:        {}\n  instances:      up to {} of each \
         function\n  in another terminal: source {}\n",
        stack.account["api_key"].as_str().unwrap_or_default(),
        stack.account["webhook_secret"].as_str().unwrap_or_default(),
        stack.account["credits"],
        stack.instances,
        args.dir.join("dev.env").display(),
    );

    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.receiver_port)))
            .await?;
    let secret = stack.account["webhook_secret"].as_str().map(str::to_owned);
    let receiving = async move {
        receiver::serve(listener, secret.as_deref(), |received| {
            println!("webhook: {}", receiver::describe(&received));
        })
        .await
    };
    let invoker = HttpInvoker::new(api.clone());
    // The template's queues are fair queues: every message carries its account's group.
    let delivery = bridge::Delivery::exact().with_fair_queues();
    let bridging = async {
        wait_for(args.api_port).await;
        bridge::run_with(&sqs, &sources, &invoker, &delivery).await;
    };
    tokio::select! {
        served = receiving => served?,
        () = bridging => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Waits until `cargo lambda watch` accepts connections, so that no message is received (and
/// hidden for its visibility timeout) before a function can take it.
async fn wait_for(port: u16) {
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
