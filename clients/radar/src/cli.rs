//! The commands and their flags. Every flag that names the API or its key can come from the
//! environment instead (`RADAR_API`, `RADAR_API_KEY`); a flag wins over the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "radar",
    version,
    about = "The radar API from the command line: bulk submissions, their results, and webhooks."
)]
pub struct Cli {
    /// The API's base URL, for example https://api.example.com.
    #[arg(long, env = "RADAR_API", global = true)]
    pub api: Option<String>,
    /// The API key.
    #[arg(long, env = "RADAR_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit radars in bulk, follow bulks, read their results, retry what failed.
    Bulk {
        #[command(subcommand)]
        command: BulkCommand,
    },
    /// Receive webhooks locally.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Read one radar.
    Radar {
        #[command(subcommand)]
        command: RadarCommand,
    },
    /// Show the account: its balance, its radars, this month's usage.
    Account,
}

#[derive(Debug, Subcommand)]
pub enum BulkCommand {
    /// Submit a .csv, .jsonl or .json file as bulks of at most 1000 items and 1 MB.
    Submit(SubmitArgs),
    /// Follow bulks already submitted until every one is completed.
    Watch(WatchArgs),
    /// Write one CSV row per item of the bulks.
    Results(ResultsArgs),
    /// Submit again, in new bulks, the items that failed with the given codes.
    Retry(RetryArgs),
}

/// How bulks are sent and followed: shared by `submit` and `retry`.
#[derive(Debug, Clone, Args)]
pub struct Sending {
    /// Wait until every bulk is completed, showing progress, then summarise.
    #[arg(long)]
    pub wait: bool,
    /// Write one CSV row per item here once the bulks are completed (implies --wait).
    #[arg(long, value_name = "OUT.csv")]
    pub results: Option<PathBuf>,
    /// The state file (default: beside --results as OUT.state.json, else radar-state.json).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Items a bulk, at most 1000.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub bulk_size: u16,
    /// Seconds between polls of a bulk while waiting.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// The input: .csv (a header row; list cells separated by ;), .jsonl, or .json.
    pub file: PathBuf,
    /// Where the API sends each item's webhook.
    #[arg(long, env = "RADAR_WEBHOOK_URL")]
    pub webhook_url: String,
    #[command(flatten)]
    pub sending: Sending,
}

#[derive(Debug, Clone, Args)]
pub struct RetryArgs {
    /// The bulks whose failed items to submit again; they must be in the state file.
    #[arg(required = true)]
    pub bulk_ids: Vec<Uuid>,
    /// The failure codes to retry.
    #[arg(long, value_delimiter = ',', default_value = "500")]
    pub codes: Vec<u16>,
    /// Where the API sends the new bulks' webhooks (default: the original bulks').
    #[arg(long, env = "RADAR_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    #[command(flatten)]
    pub sending: Sending,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The bulks to follow (default: every bulk in the state file).
    pub bulk_ids: Vec<Uuid>,
    /// The state file to read bulk ids from when none are given.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Seconds between polls of a bulk.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
}

#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    /// The bulks (default: every bulk in the state file).
    pub bulk_ids: Vec<Uuid>,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE.csv")]
    pub out: PathBuf,
    /// Only the items that failed.
    #[arg(long)]
    pub failed: bool,
    /// The state file that names each item's input row (default: beside --out).
    #[arg(long)]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Receive webhooks on 127.0.0.1, verify their signatures, and print one line per event.
    Listen(ListenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    #[arg(long, default_value_t = 9999)]
    pub port: u16,
    /// The account's webhook signing secret (whsec_...).
    #[arg(long, env = "RADAR_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Append each verified event's body, one a line, to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub jsonl: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RadarCommand {
    /// Show one radar.
    Get { radar_id: String },
}
