//! The `radar` command line: the customer's side of a bulk, on [`radar_client`].
//!
//! - [`cli`]: the commands and flags (clap), configuration from `RADAR_API` and
//!   `RADAR_API_KEY`, flags overriding.
//! - [`submit`]: `bulk submit` and `bulk retry`: input rows into bulks, sent with their
//!   idempotency keys and recorded in the state file one by one.
//! - [`watch`]: `bulk watch`, and `--wait`: polls every bulk until it is completed, with a
//!   progress bar each and one in total (plain lines when stdout is not a terminal).
//! - [`results`]: `bulk results`: one CSV row per item.
//! - [`listen`]: `webhook listen`.
//! - [`output`]: where lines and progress go.

pub mod cli;
pub mod listen;
pub mod output;
pub mod results;
pub mod submit;
pub mod watch;

use std::{path::PathBuf, time::Duration};

pub use cli::Cli;
use cli::{BulkCommand, Command, RadarCommand, WebhookCommand};
pub use output::Output;
use radar_client::Client;

/// Why a command did not do all it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Client(#[from] radar_client::Error),
    #[error("{0}")]
    Usage(String),
    /// Stopped part way; what was and was not done is already printed.
    #[error("{0}")]
    Stopped(String),
}

/// Runs one command.
pub async fn run(cli: Cli, output: &Output) -> Result<(), Failure> {
    let client = || -> Result<Client, Failure> {
        let api = cli
            .api
            .as_deref()
            .ok_or_else(|| Failure::Usage("no API URL: set RADAR_API or pass --api".into()))?;
        Ok(Client::new(
            api,
            cli.api_key.as_deref().unwrap_or_default(),
        )?)
    };
    match &cli.command {
        Command::Bulk { command } => match command {
            BulkCommand::Submit(args) => submit::submit(&client()?, args, output).await,
            BulkCommand::Retry(args) => submit::retry(&client()?, args, output).await,
            BulkCommand::Watch(args) => {
                let ids = watch::bulk_ids(&args.bulk_ids, args.state.as_deref())?;
                let polled =
                    watch::watch(&client()?, &ids, interval(args.interval), output).await?;
                watch::summarise(&polled, output)
            }
            BulkCommand::Results(args) => results::results(&client()?, args, output).await,
        },
        Command::Webhook { command } => match command {
            WebhookCommand::Listen(args) => listen::listen(args, output).await,
        },
        Command::Radar { command } => match command {
            RadarCommand::Get { radar_id } => {
                let radar = client()?.radar(radar_id).await?;
                output.json(&radar)
            }
        },
        Command::Account => {
            let account = client()?.account().await?;
            output.json(&account)
        }
    }
}

/// A `--interval` in seconds, at least a tenth of one.
fn interval(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.1))
}

/// The state file a command uses: the one named, or the one beside its results.
fn state_path(named: Option<&std::path::Path>, results: Option<&std::path::Path>) -> PathBuf {
    named.map_or_else(|| radar_client::state::beside(results), PathBuf::from)
}
