//! `make chaos`: one full-size run (by default 4 accounts, 10 bulks of 1000 items, and two noisy
//! accounts with a bulk each, one whose endpoint never answers and one whose endpoint flaps;
//! 15 % of AWS calls faulted, 10 % of invocations killed) against the emulators
//! `infra/local/services.sh` started. Prints the report and exits non-zero on any violation.

use std::{process::ExitCode, time::Duration};

use chaos::{
    run::{self, Emulators, Settings},
    workload::Shape,
};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "The whole API under injected faults; checks the invariants when it settles")]
struct Args {
    #[arg(long, default_value_t = 4)]
    accounts: usize,
    #[arg(long, default_value_t = 10)]
    bulks: usize,
    #[arg(long, default_value_t = 1000)]
    items: usize,
    /// Bulks of each noisy account (of `--items` items each, submitted first).
    #[arg(long, default_value_t = 1)]
    noisy_bulks: usize,
    /// Leave the noisy accounts out: the well-behaved accounts' load alone, to compare their
    /// bulks' times with.
    #[arg(long)]
    no_noisy: bool,
    /// The share of AWS calls that meet a fault.
    #[arg(long, default_value_t = 0.15)]
    fault_rate: f64,
    /// The share of invocations killed.
    #[arg(long, default_value_t = 0.10)]
    kill_rate: f64,
    /// Deliver as a standard SQS queue does, not as moto does: batches shuffled, messages
    /// held back into later batches, 1 % of them delivered twice, and fair between accounts
    /// (the template's queues are fair queues).
    #[arg(long)]
    shuffle: bool,
    /// Event source concurrency of the processor and of the dispatcher.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Submit a bulk only while fewer items than this wait on the item queue.
    #[arg(long, default_value_t = 1500)]
    backlog: u64,
    /// Seconds the run may take to settle.
    #[arg(long, default_value_t = 1800)]
    patience: u64,
    /// Hold DynamoDB to its real contention, which DynamoDB Local lacks: transactions conflict
    /// on items others hold, and each partition key has 1,000 write and 3,000 read units a second.
    #[arg(long)]
    contention: bool,
    /// Draws the same load again (the faults and kills stay random).
    #[arg(long)]
    seed: Option<u64>,
    /// Also write the report here.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Write the functions' JSON log lines here (a full run writes a few hundred MB).
    #[arg(long)]
    log: Option<std::path::PathBuf>,
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb: String,
    #[arg(long, env = "AWS_ENDPOINT_URL_SQS")]
    sqs: String,
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Some(path) = &args.log {
        let file = std::sync::Mutex::new(std::fs::File::create(path)?);
        tracing::subscriber::set_global_default(shared::telemetry::json_logs(
            file,
            shared::telemetry::env_filter(),
        ))?;
    }
    let settings = Settings {
        shape: Shape {
            accounts: args.accounts,
            bulks: args.bulks,
            items: args.items,
            noisy_bulks: if args.no_noisy { 0 } else { args.noisy_bulks },
        },
        fault_rate: args.fault_rate,
        kill_rate: args.kill_rate,
        shuffle: args.shuffle,
        concurrency: args.concurrency,
        patience: Duration::from_secs(args.patience),
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
        backlog: args.backlog,
        progress: true,
        contention: args.contention,
    };
    let emulators = Emulators {
        dynamodb: args.dynamodb,
        sqs: args.sqs,
    };
    let report = run::run(settings, &emulators).await?;
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = args.out {
        std::fs::write(path, &markdown)?;
    }
    Ok(if report.held() {
        ExitCode::SUCCESS
    } else {
        eprintln!("chaos: an invariant was violated");
        ExitCode::FAILURE
    })
}
