//! `make bench`: see the crate documentation. Runs under `infra/local/services.sh run`.

use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use bench::{
    deliveries, functions, lean, noisy,
    report::{self, Figures},
    scenarios,
    stats::Samples,
};
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Where the report goes.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    out: PathBuf,
    /// The functions' release binaries for this machine.
    #[arg(long, required_unless_present_any = ["contention_only", "noisy_only"])]
    binaries: Option<PathBuf>,
    /// cargo lambda's output: `<dir>/<function>/bootstrap` for arm64.
    #[arg(long, required_unless_present_any = ["contention_only", "noisy_only"])]
    lambda: Option<PathBuf>,
    /// Only the contention table (no release build needed), merged into `out` beside the
    /// other figures.
    #[arg(long)]
    contention_only: bool,
    /// Bulks of 1000 items of each contention run.
    #[arg(long, default_value_t = 10)]
    contention_bulks: usize,
    /// The processor's concurrency of each contention run.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 5, 20, 50])]
    processors: Vec<usize>,
    /// What code the contention table measured (its heading, and its markers in `out`).
    #[arg(long, default_value = "this code")]
    contention_label: String,
    /// Only the noisy-neighbour runs (no release build needed), merged into `out` beside the
    /// other figures.
    #[arg(long, conflicts_with = "contention_only")]
    noisy_only: bool,
    /// What code the noisy-neighbour runs measured (their heading, and their markers in `out`).
    #[arg(long, default_value = "this code")]
    noisy_label: String,
    /// Seconds B's bulk may take in each noisy-neighbour run before it counts as not completed.
    #[arg(long, default_value_t = 600)]
    noisy_deadline: u64,
    /// Items of A's bulk, beside which B's runs.
    #[arg(long, default_value_t = 1000)]
    noisy_a_items: usize,
    /// Items of B's bulk.
    #[arg(long, default_value_t = 100)]
    noisy_b_items: usize,
    /// Runs of each noisy-neighbour case: the report gives their medians.
    #[arg(long, default_value_t = 3)]
    noisy_repeats: usize,
    /// `NAME=VALUE`: a variable of the functions' environment beyond the template's, in the
    /// noisy-neighbour runs (repeat for more): a dispatcher setting the template gives that
    /// function alone, or one to try.
    #[arg(long = "function-env", value_parser = name_value)]
    function_env: Vec<(String, String)>,
    /// Timed submissions.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Bulks of the second end-to-end run.
    #[arg(long, default_value_t = 10)]
    bulks: usize,
    /// Event source mapping workers on each queue.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Deliveries of the dispatcher run.
    #[arg(long, default_value_t = 20_000)]
    deliveries: usize,
    /// Fresh processes that time the SDK's set-up.
    #[arg(long, default_value_t = 20)]
    sdk_runs: usize,
    /// Internal: time the SDK's set-up in this fresh process and print microseconds.
    #[arg(long, hide = true)]
    sdk_init: bool,
}

fn name_value(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// What a function's `main` does before it serves: the SDK configuration and its clients.
async fn sdk_init() -> Duration {
    let started = Instant::now();
    let aws = shared::config::load_aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let took = started.elapsed();
    drop((dynamodb, sqs));
    took
}

/// Where a timing run's SDK reads its trusted root certificates, which it does while it builds
/// its HTTPS client.
#[derive(Debug, Clone, Copy)]
enum Roots {
    /// One bundle file, as on Lambda's `provided.al2023` (`/etc/pki/tls/certs/ca-bundle.crt`).
    Bundle(&'static str),
    /// As this machine's environment says: here `SSL_CERT_DIR` names a directory of one file
    /// per certificate, each opened and parsed.
    Inherited,
}

/// The first of the usual bundle files that this machine has.
fn bundle() -> Option<&'static str> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).is_file())
}

fn sdk_init_runs(runs: usize, roots: Roots) -> bench::Result<Samples> {
    let me = std::env::current_exe()?;
    let mut samples = Samples::default();
    for _ in 0..runs {
        let mut command = Command::new(&me);
        command
            .arg("--sdk-init")
            .args(["--binaries", ".", "--lambda", "."]);
        if let Roots::Bundle(path) = roots {
            command
                .env_remove("SSL_CERT_DIR")
                .env("SSL_CERT_FILE", path);
        }
        let output = command.output()?;
        let micros: u64 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| bench::Error::Failed("the SDK timing run printed no number".into()))?;
        samples.push(Duration::from_micros(micros));
    }
    Ok(samples)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|line| {
                line.strip_prefix("model name")
                    .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    format!("{cores} cores of {cpu}, {}", std::env::consts::ARCH)
}

fn note<T>(figures: &mut Figures, section: &str, result: bench::Result<T>) -> Option<T> {
    match result {
        Ok(value) => {
            eprintln!("bench: {section} done");
            Some(value)
        }
        Err(error) => {
            eprintln!("bench: {section} failed: {error}");
            figures.failures.push(format!("{section}: {error}"));
            None
        }
    }
}

#[tokio::main]
async fn main() -> bench::Result<()> {
    let args = Args::parse();
    if args.sdk_init {
        println!("{}", sdk_init().await.as_micros());
        return Ok(());
    }
    if args.contention_only {
        return contention(&args).await;
    }
    if args.noisy_only {
        let noisy = noisy::measure(noisy_settings(&args)).await?;
        return write_noisy(&args, &noisy);
    }
    let (Some(binaries), Some(lambda)) = (&args.binaries, &args.lambda) else {
        return Err(bench::Error::Setup(
            "--binaries and --lambda are needed".into(),
        ));
    };
    let mut figures = Figures {
        when: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        machine: machine(),
        concurrency: args.concurrency,
        ..Figures::default()
    };
    if let Some(path) = bundle() {
        let runs = sdk_init_runs(args.sdk_runs, Roots::Bundle(path));
        figures.sdk_init = note(&mut figures, "SDK init", runs);
        figures.sdk_init_bundle = Some(path);
    }
    let inherited = sdk_init_runs(args.sdk_runs, Roots::Inherited);
    figures.sdk_init_inherited = note(&mut figures, "SDK init (environment's roots)", inherited);
    for name in functions::DEPLOYED {
        let stacks = note(
            &mut figures,
            &format!("cargo tree -p {name}"),
            lean::stacks(name),
        );
        figures.stacks.push((name, stacks));
        let size = std::fs::metadata(lambda.join(name).join("bootstrap"))
            .ok()
            .map(|m| m.len());
        figures.sizes.push((name, size));
    }
    figures.submit = note(&mut figures, "submit", scenarios::submit(args.runs).await);
    figures.one_bulk = note(
        &mut figures,
        "one bulk",
        scenarios::end_to_end(1, args.concurrency).await,
    );
    figures.many_bulks = note(
        &mut figures,
        "many bulks",
        scenarios::end_to_end(args.bulks, args.concurrency).await,
    );
    figures.per_item = note(
        &mut figures,
        "per item",
        scenarios::per_item(args.concurrency).await,
    );
    figures.functions = note(
        &mut figures,
        "functions",
        functions::run_all(binaries).await,
    );
    let deliveries = args.deliveries;
    let dispatch = tokio::task::spawn_blocking(move || deliveries::measure(deliveries))
        .await
        .map_err(|error| bench::Error::Failed(error.to_string()))
        .and_then(|result| result);
    figures.dispatch = note(&mut figures, "dispatcher", dispatch);
    let noisy = noisy::measure(noisy_settings(&args)).await;
    figures.noisy = note(&mut figures, "noisy neighbour", noisy);
    let contention = bench::contention::table(args.contention_bulks, &args.processors).await;
    figures.contention = note(&mut figures, "contention", contention);

    let text = report::render(&figures);
    println!("{text}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let existing = std::fs::read_to_string(&args.out).ok();
    std::fs::write(&args.out, report::merge(existing.as_deref(), &text))?;
    eprintln!("bench: wrote {}", args.out.display());
    if let Some(noisy) = &figures.noisy {
        write_noisy(&args, noisy)?;
    }
    if let Some(rows) = &figures.contention {
        write_contention(&args, rows)?;
    }
    Ok(())
}

fn noisy_settings(args: &Args) -> noisy::Settings {
    noisy::Settings {
        a_items: args.noisy_a_items,
        b_items: args.noisy_b_items,
        deadline: Duration::from_secs(args.noisy_deadline),
        environment: args.function_env.clone(),
        repeats: args.noisy_repeats,
    }
}

/// The noisy-neighbour section, printed and merged into `out` under its label.
fn write_noisy(args: &Args, noisy: &noisy::Noisy) -> bench::Result<()> {
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let section = report::render_noisy(&args.noisy_label, &when, noisy);
    println!("{section}");
    let existing = std::fs::read_to_string(&args.out).ok();
    let text = report::merge_noisy(existing.as_deref(), &args.noisy_label, &section);
    std::fs::write(&args.out, text)?;
    eprintln!(
        "bench: wrote the noisy-neighbour section to {}",
        args.out.display()
    );
    Ok(())
}

/// The contention table, measured and merged into `out` under its label.
async fn contention(args: &Args) -> bench::Result<()> {
    let rows = bench::contention::table(args.contention_bulks, &args.processors).await?;
    write_contention(args, &rows)
}

fn write_contention(args: &Args, rows: &[bench::contention::ContentionRun]) -> bench::Result<()> {
    let table = report::render_contention(&args.contention_label, args.contention_bulks, rows);
    println!("{table}");
    let existing = std::fs::read_to_string(&args.out).ok();
    let text = report::merge_contention(existing.as_deref(), &args.contention_label, &table);
    std::fs::write(&args.out, text)?;
    eprintln!(
        "bench: wrote the contention table to {}",
        args.out.display()
    );
    Ok(())
}
