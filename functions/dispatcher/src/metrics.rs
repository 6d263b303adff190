//! The dispatcher's CloudWatch metrics, as Embedded Metric Format lines flushed after each
//! invocation (namespace `RadarBulk`). Tests install no collector, so counting is a no-op
//! there.
//!
//! | metric | counts |
//! |---|---|
//! | `WebhookAttempts` | HTTP attempts made, by `Outcome` (`2xx`, `3xx`, `4xx`, `5xx`, `timeout`, `connection`, `refused`) |
//! | `WebhookDeliveries` | deliveries acknowledged |
//! | `WebhookExhaustions` | deliveries given up and parked, by `Reason` (`gone`, `refused`, `exhausted`, `circuit_open`) |
//! | `WebhookWaits` | messages that waited for their destination, by `Reason` (`circuit_open`, `probing`, `in_flight`, `paced`) |
//! | `WebhookCircuitsOpened` | destinations whose circuit opened (a closed circuit tripped) |

use metrics_cloudwatch_embedded::Collector;
use shared::destination::WaitReason;

use crate::sender::Reply;

/// Installs the collector; call once, before the runtime starts.
pub fn collector() -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    shared::metrics::collector("dispatcher")
}

pub(crate) fn attempt(reply: &Reply) {
    let outcome = match reply {
        Reply::Status { status, .. } => match status / 100 {
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
        Reply::Timeout => "timeout",
        Reply::Connection(_) => "connection",
        Reply::Refused(_) => "refused",
    };
    metrics::counter!("WebhookAttempts", "Outcome" => outcome).increment(1);
}

pub(crate) fn delivered() {
    metrics::counter!("WebhookDeliveries").increment(1);
}

pub(crate) fn waited(reason: WaitReason) {
    metrics::counter!("WebhookWaits", "Reason" => reason.as_str()).increment(1);
}

pub(crate) fn circuit_opened() {
    metrics::counter!("WebhookCircuitsOpened").increment(1);
}

pub(crate) fn given_up(reason: &'static str) {
    metrics::counter!("WebhookExhaustions", "Reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_installs_and_writes_embedded_metric_lines() {
        let collector = collector().expect("a valid collector configuration");
        delivered();
        given_up("gone");
        let mut out = Vec::new();
        collector.flush(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""Namespace":"RadarBulk""#), "{text}");
        assert!(text.contains(r#""WebhookDeliveries":1"#), "{text}");
        assert!(text.contains(r#""Reason":"gone""#), "{text}");
    }
}
