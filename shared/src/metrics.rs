//! CloudWatch metrics as Embedded Metric Format log lines (namespace `RadarBulk`), flushed after
//! each invocation by `metrics_cloudwatch_embedded`'s Lambda layer. Counters are recorded with
//! the `metrics` crate's macros where things happen; without a collector installed (tests,
//! local tools) recording them does nothing.
//!
//! | function | metric | dimensions |
//! |---|---|---|
//! | submit | `BulksAccepted`, `ItemsAccepted`; `SubmitRejections` | `Code` on rejections |
//! | processor | `ItemsCreated`; `ItemsFailed`; `DeadLettersFinalised` | `Code` on failures |
//! | dispatcher | `WebhookAttempts`, `WebhookDeliveries`, `WebhookExhaustions` | see the dispatcher |
//!
//! Every metric also carries `Function`: the Lambda function's name, which the template's
//! alarms name with `!Ref`.

use metrics_cloudwatch_embedded::{Builder, Collector};

/// Installs the collector; call once, before the runtime starts. `local_name` stands in for
/// the function's name outside Lambda.
pub fn collector(
    local_name: &str,
) -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| local_name.to_owned());
    Builder::new()
        .cloudwatch_namespace("RadarBulk")
        .with_dimension("Function", function)
        .lambda_cold_start_metric("ColdStart")
        .init()
}
