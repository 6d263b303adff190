//! `radar`: see `radar --help`, and the README's quick start.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = radar::Cli::parse();
    let output = radar::Output::for_stdout();
    match radar::run(cli, &output).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("radar: {failure}");
            ExitCode::FAILURE
        }
    }
}
