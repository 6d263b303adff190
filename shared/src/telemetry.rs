//! Tracing set-up shared by every function.
//!
//! `RUST_LOG` sets the level of our own crates, and nothing else: every other crate is held at
//! `info` whatever it says. Below `info`, libraries log what they handle whole: the Lambda
//! runtime the raw invocation event (the caller's `x-api-key`), the AWS SDK its requests and
//! responses (an account's webhook secret, the session token it signs with), HTTP clients their
//! headers. Holding them at `info` makes a trace-level run as safe to log as an `info` one.

pub use tracing_subscriber::EnvFilter;
use tracing_subscriber::{
    Layer,
    filter::{LevelFilter, Targets},
    fmt::{self, MakeWriter},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

/// The crates whose own events `RUST_LOG` may lower below `info`: ours, which never log a key,
/// a secret or a body (`tools/devstack/tests/hostile/leaks.rs` checks at `trace`).
const OURS: [&str; 8] = [
    "shared",
    "submit",
    "poll",
    "processor",
    "dispatcher",
    "radarctl",
    "devstack",
    "chaos",
];

/// JSON logs on Lambda (where `AWS_LAMBDA_LOG_FORMAT=JSON` or a log group reads them), plain
/// text elsewhere. `RUST_LOG` sets the level; default `info`. No ANSI colours: CloudWatch shows
/// them as noise.
pub fn init() {
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    if on_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f == "JSON") {
        json_logs(std::io::stdout, env_filter()).init();
    } else {
        let text = fmt::layer().with_ansi(false).with_target(false);
        tracing_subscriber::registry()
            .with(text.with_filter(env_filter()).with_filter(pinned()))
            .init();
    }
}

/// The JSON log lines of the functions on Lambda, written to `writer`: one object per event,
/// with its span's fields, at the levels `filter` lets through (and never below `info` for
/// other crates). Tests capture them to check what the logs give away.
pub fn json_logs<W>(
    writer: W,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .with_writer(writer)
        .json()
        .with_current_span(true);
    tracing_subscriber::registry().with(json.with_filter(filter).with_filter(pinned()))
}

/// `RUST_LOG`, or `info`.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Every crate but ours at `info` at most.
fn pinned() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_targets(OURS.map(|name| (name, LevelFilter::TRACE)))
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn at_trace_other_crates_stay_at_info_and_ours_do_not() {
        let sink = Sink::default();
        let writer = sink.clone();
        let logs = json_logs(move || writer.clone(), EnvFilter::new("trace"));

        tracing::subscriber::with_default(logs, || {
            tracing::trace!(target: "lambda_runtime::layers::trace", "event x-api-key=rbk_leak");
            tracing::debug!(target: "aws_smithy_runtime::client", "body whsec_leak");
            tracing::info!(target: "lambda_runtime", "runtime info line");
            tracing::trace!(target: "shared::store", "our trace line");
            tracing::debug!(target: "dispatcher::task", "our debug line");
        });

        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("rbk_leak"), "{text}");
        assert!(!text.contains("whsec_leak"), "{text}");
        for kept in ["runtime info line", "our trace line", "our debug line"] {
            assert!(text.contains(kept), "{kept} is missing:\n{text}");
        }
    }
}
