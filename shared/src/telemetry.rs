//! Tracing set-up shared by every function.

use tracing_subscriber::{EnvFilter, fmt::MakeWriter, util::SubscriberInitExt};

/// JSON logs on Lambda (where `AWS_LAMBDA_LOG_FORMAT=JSON` or a log group reads them), plain
/// text elsewhere. `RUST_LOG` sets the level; default `info`. No ANSI colours: CloudWatch shows
/// them as noise.
pub fn init() {
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    if on_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f == "JSON") {
        json_logs(std::io::stdout).init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_ansi(false)
            .with_target(false)
            .init();
    }
}

/// The JSON log lines of the functions on Lambda, written to `writer`: one object per event,
/// with its span's fields. Tests capture them to check what the logs give away.
pub fn json_logs<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_target(false)
        .with_writer(writer)
        .json()
        .with_current_span(true)
        .finish()
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}
