//! Tracing set-up shared by every function.

use tracing_subscriber::EnvFilter;

/// JSON logs on Lambda (where `AWS_LAMBDA_LOG_FORMAT=JSON` or a log group reads them), plain
/// text elsewhere. `RUST_LOG` sets the level; default `info`. No ANSI colours: CloudWatch shows
/// them as noise.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    if on_lambda || std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f == "JSON") {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}
