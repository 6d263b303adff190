//! `radarctl`: what an operator does by hand. Accounts, their API keys and webhook signing
//! secrets, credits and rate limits, an account's radars and bulks, a bulk's state and its
//! webhook deliveries (and resending them), moving dead letters back to their queues, and
//! webhook destinations' circuits.
//!
//! It reads the same environment as the functions (`RADAR_TABLE_NAME`, the queue URLs, and
//! `AWS_*`), so it works the same against the local emulators (`source .local/dev.env`) and
//! against a deployed stack. Every command prints one JSON document on stdout.

mod accounts;
mod bulks;
mod deliveries;
mod destinations;
mod dlq;
mod radars;

use clap::{Parser, Subcommand};
use serde_json::Value;
use shared::{config::Config, store::Store};
use uuid::Uuid;

/// What a command needs.
#[derive(Debug, Clone)]
pub struct Deps {
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub config: Config,
}

impl Deps {
    /// The one place radarctl's dependencies are wired (its `main`, `make dev`, the tests).
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        Self {
            store: Store::new(dynamodb, &config.table_name),
            sqs,
            config,
        }
    }
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] shared::Error),
    #[error("SQS request failed: {0}")]
    Sqs(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Parser)]
#[command(
    name = "radarctl",
    version,
    about = "Administer a radar-bulk deployment"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Accounts: create one, or show one.
    #[command(subcommand)]
    Account(AccountCommand),
    /// API keys: add one to an account, or revoke one.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Webhook signing secrets: rotate one, then retire the old one.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Credits: set an account's balance.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Rate limits: set an account's overrides.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// Bulks: show one's state and every item's, or list an account's.
    #[command(subcommand)]
    Bulk(BulkCommand),
    /// Radars: show one of an account's, as the API shows it.
    #[command(subcommand)]
    Radar(RadarCommand),
    /// Webhook deliveries: list a bulk's, resend them.
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// Dead-letter queues: move their messages back to be processed again.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Webhook destinations: a host's circuit, slots in flight and recent failures.
    #[command(subcommand)]
    Destination(DestinationCommand),
}

#[derive(Debug, Subcommand)]
pub enum DestinationCommand {
    /// Its circuit (closed, open until when, probing), deliveries in flight, recent failures.
    Show {
        /// A host (port 443), host:port, or a webhook URL.
        host: String,
    },
    /// Closes its circuit and frees its slots: what waits for it goes at its next look.
    Reset { host: String },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// A new account with one API key; prints the key (shown only this once) and the webhook
    /// signing secret.
    Create {
        /// Starting balance.
        #[arg(long, default_value_t = 1000)]
        credits: i64,
        /// Use this API key instead of a new random one.
        #[arg(long)]
        api_key: Option<String>,
    },
    Show {
        account_id: Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Adds a key to an account; prints it (shown only this once).
    Create {
        account_id: Uuid,
        #[arg(long)]
        api_key: Option<String>,
    },
    /// The key stops authenticating within a second or so.
    Revoke { api_key: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// A new signing secret; the old one keeps signing beside it (two signatures per
    /// delivery) until it is retired. Prints the new secret.
    Rotate { account_id: Uuid },
    /// Stops signing with the previous secret.
    Retire { account_id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    Set { account_id: Uuid, credits: i64 },
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Sets the given overrides; the others stay as they are.
    Set {
        account_id: Uuid,
        #[arg(long)]
        bulk_per_minute: Option<u32>,
        #[arg(long)]
        read_per_minute: Option<u32>,
        #[arg(long)]
        read_per_second: Option<u32>,
        #[arg(long)]
        write_per_minute: Option<u32>,
        #[arg(long)]
        write_per_second: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BulkCommand {
    Show {
        bulk_id: Uuid,
    },
    /// An account's bulks, newest first, with their counts: how a lost bulk_id is found.
    List {
        account_id: Uuid,
        #[arg(long, default_value_t = shared::store::index::DEFAULT_LIMIT)]
        limit: u32,
        /// The `next_cursor` of the page before.
        #[arg(long)]
        cursor: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RadarCommand {
    /// One radar of an account (active or deactivated), such as a 409's conflicting one.
    Show { account_id: Uuid, radar_id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum DeliveryCommand {
    /// Each delivery of a bulk's events (item index or bulk_completed, update_id, state,
    /// attempts) and each of its attempts (time, HTTP status or error, latency).
    List {
        bulk_id: Uuid,
        /// Only the failing: given up, or pending after a failed attempt.
        #[arg(long)]
        failed: bool,
    },
    /// Has the dispatcher deliver events again: the same body, the same webhook-id, signed
    /// with the account's current secrets.
    Resend {
        bulk_id: Uuid,
        /// Every delivery that was given up.
        #[arg(
            long,
            required_unless_present = "update_id",
            conflicts_with = "update_id"
        )]
        failed: bool,
        /// This delivery, delivered or given up.
        #[arg(long)]
        update_id: Option<Uuid>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Moves every message of a dead-letter queue back to the queue it came from.
    Redrive {
        /// Which dead-letter queue.
        #[arg(long, value_enum, default_value_t = DeadLetters::Items)]
        queue: DeadLetters,
        /// Stop after this many messages.
        #[arg(long)]
        max: Option<usize>,
    },
}

/// The two dead-letter queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeadLetters {
    /// Items whose every delivery failed: the processor records each as a 500.
    Items,
    /// Webhook messages SQS gave up on; deliveries the dispatcher gave up on are already
    /// settled and are acknowledged without a send.
    Webhooks,
}

/// Runs one command; its answer is the JSON to print.
pub async fn run(deps: &Deps, command: Command) -> Result<Value> {
    match command {
        Command::Account(AccountCommand::Create { credits, api_key }) => {
            accounts::create(deps, credits, api_key).await
        }
        Command::Account(AccountCommand::Show { account_id }) => {
            accounts::show(deps, account_id).await
        }
        Command::Key(KeyCommand::Create {
            account_id,
            api_key,
        }) => accounts::add_key(deps, account_id, api_key).await,
        Command::Key(KeyCommand::Revoke { api_key }) => accounts::revoke_key(deps, &api_key).await,
        Command::Secret(SecretCommand::Rotate { account_id }) => {
            accounts::rotate_secret(deps, account_id).await
        }
        Command::Secret(SecretCommand::Retire { account_id }) => {
            accounts::retire_secret(deps, account_id).await
        }
        Command::Credits(CreditsCommand::Set {
            account_id,
            credits,
        }) => accounts::set_credits(deps, account_id, credits).await,
        Command::Limits(LimitsCommand::Set {
            account_id,
            bulk_per_minute,
            read_per_minute,
            read_per_second,
            write_per_minute,
            write_per_second,
        }) => {
            let limits = shared::rate_limit::LimitOverrides {
                bulk_per_minute,
                read_per_minute,
                read_per_second,
                write_per_minute,
                write_per_second,
            };
            accounts::set_limits(deps, account_id, &limits).await
        }
        Command::Bulk(BulkCommand::Show { bulk_id }) => bulks::show(deps, bulk_id).await,
        Command::Bulk(BulkCommand::List {
            account_id,
            limit,
            cursor,
        }) => bulks::list(deps, account_id, limit, cursor.as_deref()).await,
        Command::Radar(RadarCommand::Show {
            account_id,
            radar_id,
        }) => radars::show(deps, account_id, radar_id).await,
        Command::Delivery(DeliveryCommand::List { bulk_id, failed }) => {
            deliveries::list(deps, bulk_id, failed).await
        }
        Command::Delivery(DeliveryCommand::Resend {
            bulk_id, update_id, ..
        }) => {
            let which = update_id.map_or(deliveries::Resend::Failed, deliveries::Resend::One);
            deliveries::resend(deps, bulk_id, which).await
        }
        Command::Dlq(DlqCommand::Redrive { queue, max }) => dlq::redrive(deps, queue, max).await,
        Command::Destination(DestinationCommand::Show { host }) => {
            destinations::show(deps, &host).await
        }
        Command::Destination(DestinationCommand::Reset { host }) => {
            destinations::reset(deps, &host).await
        }
    }
}
