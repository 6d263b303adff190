//! [`Config`]: everything a function reads from its environment, read once at cold start.

use std::time::Duration;

use crate::{
    Error, Result, destination,
    rate_limit::Limits,
    webhook_url::{self, WebhookPolicy},
};

/// The dispatcher's default retry schedule: the pause before each retry of a failed webhook
/// delivery, so 8 attempts over about 28 hours (before jitter).
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The functions' configuration. The SAM template sets these variables for every function;
/// `make dev` and the tests set the same ones locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RADAR_TABLE_NAME`: the one DynamoDB table (layout in [`crate::store`]).
    pub table_name: String,
    /// `RADAR_ITEM_QUEUE_URL`: the processor's queue, one message per item.
    pub item_queue_url: String,
    /// `RADAR_ITEM_MAX_RECEIVE_COUNT`: deliveries of an item before SQS dead-letters it (the
    /// template's `ItemMaxReceiveCount`). The processor records a 500 outcome on the last one.
    /// Default 5.
    pub item_max_receive_count: u32,
    /// `RADAR_ITEM_DEAD_LETTER_QUEUE_ARN`: records from this queue are items that exhausted
    /// their deliveries; the processor finalises them instead of processing them.
    pub item_dead_letter_queue_arn: Option<String>,
    /// `RADAR_WEBHOOK_QUEUE_URL`: the dispatcher's queue, one message per event to deliver.
    pub webhook_queue_url: String,
    /// `RADAR_ALLOW_INSECURE_WEBHOOKS`: accept `http://` loopback webhooks (local development).
    /// `RADAR_API_HOSTS`: the API's own hosts (`host` or `host:port`, comma-separated), which
    /// no webhook may name. Default none.
    pub webhooks: WebhookPolicy,
    /// `RADAR_BULK_PER_MINUTE`, `RADAR_READ_PER_MINUTE`, `RADAR_READ_PER_SECOND`,
    /// `RADAR_WRITE_PER_MINUTE`, `RADAR_WRITE_PER_SECOND`: the limits of accounts without
    /// overrides. Default: the spec's.
    pub limits: Limits,
    /// `RADAR_BULK_RETENTION_DAYS`: how long a bulk and its results can be polled. Default 30.
    pub bulk_retention_days: u32,
    /// Settings of the webhook dispatcher.
    pub dispatch: DispatchConfig,
}

/// How the dispatcher delivers webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// `RADAR_WEBHOOK_DEAD_LETTER_QUEUE_URL`: where exhausted deliveries are parked. The
    /// dispatcher refuses to start without it; the other functions ignore it.
    pub dead_letter_queue_url: Option<String>,
    /// `RADAR_WEBHOOK_TIMEOUT_SECONDS`: how long one attempt may take, connection included,
    /// before it counts as failed. Default 15.
    pub timeout: Duration,
    /// `RADAR_WEBHOOK_RETRY_SCHEDULE`: the pause before each retry, comma-separated, each a
    /// number and a unit (`s`, `m`, `h`). Default [`DEFAULT_RETRY_SCHEDULE`]; empty means one
    /// attempt only.
    pub retry_schedule: Vec<Duration>,
    /// `RADAR_WEBHOOK_CONCURRENCY`: deliveries of one SQS batch in flight at once. Default 10.
    pub concurrency: usize,
    /// `RADAR_WEBHOOK_CONNECT_TIMEOUT_SECONDS`: how long a connection may take to open, well
    /// below [`Self::timeout`] so that a host that does not accept connections costs little.
    /// Default 3; never more than the timeout.
    pub connect_timeout: Duration,
    /// Each destination's share ([`crate::destination`]): `RADAR_WEBHOOK_HOST_IN_FLIGHT`
    /// (default 10), `RADAR_WEBHOOK_HOST_PER_SECOND` (100), `RADAR_WEBHOOK_CIRCUIT_FAILURES`
    /// (5) and `RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS` (30), each at least 1.
    pub destinations: destination::Limits,
}

/// Parses a retry schedule such as `5s,5m,2h`.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>> {
    let bad = |part: &str| {
        Error::Config(format!(
            "RADAR_WEBHOOK_RETRY_SCHEDULE: {part:?} is not a number followed by s, m or h"
        ))
    };
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let last = part.char_indices().last().map_or(0, |(at, _)| at);
            let (number, unit) = part.split_at(last);
            let number: u64 = number.parse().map_err(|_| bad(part))?;
            let seconds = match unit {
                "s" => number,
                "m" => number * 60,
                "h" => number * 3600,
                _ => return Err(bad(part)),
            };
            Ok(Duration::from_secs(seconds))
        })
        .collect()
}

/// How long one attempt at an AWS call may take before the SDK abandons it and tries again.
/// DynamoDB and SQS answer in milliseconds; without a bound, a connection that goes silent
/// holds the invocation until Lambda's own timeout kills it. `make chaos` injects exactly that.
pub const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The AWS SDK configuration from the environment (region, credentials, and the
/// `AWS_ENDPOINT_URL_*` variables that point the SDK at the local emulators), with
/// [`aws_timeouts`].
pub async fn load_aws() -> aws_config::SdkConfig {
    aws_loader().timeout_config(aws_timeouts()).load().await
}

/// The SDK's configuration loader with its HTTP client: hyper 1 and rustls on ring. The SDK
/// crates are built without a default client (see the workspace manifest), so every
/// configuration, in the functions and in the tools, starts here.
pub fn aws_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client)
}

/// The functions' AWS timeouts: [`AWS_ATTEMPT_TIMEOUT`] per attempt, 2 s to connect.
pub fn aws_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(AWS_ATTEMPT_TIMEOUT)
        .build()
}

impl Config {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| Error::Config(format!("{name} is not set")))
        };
        let number = |name: &str, default: u32| match lookup(name) {
            None => Ok(default),
            Some(value) => value.parse::<u32>().map_err(|_| {
                Error::Config(format!("{name} must be a whole number, not {value:?}"))
            }),
        };
        let allow_insecure_loopback = match lookup("RADAR_ALLOW_INSECURE_WEBHOOKS").as_deref() {
            None | Some("" | "false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => {
                return Err(Error::Config(format!(
                    "RADAR_ALLOW_INSECURE_WEBHOOKS must be true or false, not {other:?}"
                )));
            }
        };
        let positive = |name: &str, default: u32| match number(name, default)? {
            0 => Err(Error::Config(format!("{name} must be at least 1"))),
            value => Ok(value),
        };
        let timeout = Duration::from_secs(positive("RADAR_WEBHOOK_TIMEOUT_SECONDS", 15)?.into());
        let host = destination::Limits::default();
        let defaults = Limits::default();
        Ok(Self {
            table_name: required("RADAR_TABLE_NAME")?,
            item_queue_url: required("RADAR_ITEM_QUEUE_URL")?,
            item_max_receive_count: match number("RADAR_ITEM_MAX_RECEIVE_COUNT", 5)? {
                0 => {
                    return Err(Error::Config(
                        "RADAR_ITEM_MAX_RECEIVE_COUNT must be at least 1".into(),
                    ));
                }
                count => count,
            },
            item_dead_letter_queue_arn: lookup("RADAR_ITEM_DEAD_LETTER_QUEUE_ARN")
                .filter(|arn| !arn.is_empty()),
            webhook_queue_url: required("RADAR_WEBHOOK_QUEUE_URL")?,
            webhooks: WebhookPolicy {
                allow_insecure_loopback,
                api_hosts: webhook_url::parse_api_hosts(
                    lookup("RADAR_API_HOSTS").as_deref().unwrap_or_default(),
                )
                .map_err(|entry| {
                    Error::Config(format!(
                        "RADAR_API_HOSTS: {entry:?} is not a host name or address, with or \
                         without a port"
                    ))
                })?,
            },
            limits: Limits {
                bulk_per_minute: number("RADAR_BULK_PER_MINUTE", defaults.bulk_per_minute)?,
                read_per_minute: number("RADAR_READ_PER_MINUTE", defaults.read_per_minute)?,
                read_per_second: number("RADAR_READ_PER_SECOND", defaults.read_per_second)?,
                write_per_minute: number("RADAR_WRITE_PER_MINUTE", defaults.write_per_minute)?,
                write_per_second: number("RADAR_WRITE_PER_SECOND", defaults.write_per_second)?,
            },
            bulk_retention_days: number("RADAR_BULK_RETENTION_DAYS", 30)?,
            dispatch: DispatchConfig {
                dead_letter_queue_url: lookup("RADAR_WEBHOOK_DEAD_LETTER_QUEUE_URL")
                    .filter(|url| !url.is_empty()),
                timeout,
                retry_schedule: parse_schedule(
                    lookup("RADAR_WEBHOOK_RETRY_SCHEDULE")
                        .as_deref()
                        .unwrap_or(DEFAULT_RETRY_SCHEDULE),
                )?,
                concurrency: positive("RADAR_WEBHOOK_CONCURRENCY", 10)? as usize,
                connect_timeout: Duration::from_secs(
                    positive("RADAR_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3)?.into(),
                )
                .min(timeout),
                destinations: destination::Limits {
                    in_flight: positive("RADAR_WEBHOOK_HOST_IN_FLIGHT", host.in_flight)?,
                    per_second: positive("RADAR_WEBHOOK_HOST_PER_SECOND", host.per_second)?,
                    failures_to_open: positive(
                        "RADAR_WEBHOOK_CIRCUIT_FAILURES",
                        host.failures_to_open,
                    )?,
                    cool_down: Duration::from_secs(
                        positive(
                            "RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS",
                            u32::try_from(host.cool_down.as_secs()).unwrap_or(u32::MAX),
                        )?
                        .into(),
                    ),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let config = Config::from_lookup(lookup(&[
            ("RADAR_TABLE_NAME", "radar"),
            ("RADAR_ITEM_QUEUE_URL", "http://127.0.0.1:1/q"),
            ("RADAR_WEBHOOK_QUEUE_URL", "http://127.0.0.1:1/w"),
        ]))
        .unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.item_max_receive_count, 5);
        assert_eq!(config.item_dead_letter_queue_arn, None);
        assert!(!config.webhooks.allow_insecure_loopback);
        assert!(config.webhooks.api_hosts.is_empty());
        assert_eq!(config.bulk_retention_days, 30);
        let dispatch = &config.dispatch;
        assert_eq!(dispatch.dead_letter_queue_url, None);
        assert_eq!(dispatch.timeout, Duration::from_secs(15));
        assert_eq!(dispatch.concurrency, 10);
        assert_eq!(dispatch.connect_timeout, Duration::from_secs(3));
        assert_eq!(dispatch.destinations, destination::Limits::default());
        let minutes: Vec<u64> = dispatch
            .retry_schedule
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(minutes, [5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    }

    #[test]
    fn the_dispatcher_settings_are_read_from_their_variables() {
        let config = Config::from_lookup(lookup(&[
            ("RADAR_TABLE_NAME", "t"),
            ("RADAR_ITEM_QUEUE_URL", "q"),
            ("RADAR_WEBHOOK_QUEUE_URL", "w"),
            ("RADAR_WEBHOOK_DEAD_LETTER_QUEUE_URL", "dlq"),
            ("RADAR_WEBHOOK_TIMEOUT_SECONDS", "3"),
            ("RADAR_WEBHOOK_RETRY_SCHEDULE", "1s, 2m,3h"),
            ("RADAR_WEBHOOK_CONCURRENCY", "4"),
            ("RADAR_WEBHOOK_CONNECT_TIMEOUT_SECONDS", "5"),
            ("RADAR_WEBHOOK_HOST_IN_FLIGHT", "3"),
            ("RADAR_WEBHOOK_HOST_PER_SECOND", "7"),
            ("RADAR_WEBHOOK_CIRCUIT_FAILURES", "2"),
            ("RADAR_WEBHOOK_CIRCUIT_COOL_DOWN_SECONDS", "9"),
        ]))
        .unwrap();
        let dispatch = config.dispatch;
        // Never longer than the whole attempt's timeout.
        assert_eq!(dispatch.connect_timeout, Duration::from_secs(3));
        assert_eq!(
            dispatch.destinations,
            destination::Limits {
                in_flight: 3,
                per_second: 7,
                failures_to_open: 2,
                cool_down: Duration::from_secs(9),
            }
        );
        assert_eq!(dispatch.dead_letter_queue_url.as_deref(), Some("dlq"));
        assert_eq!(dispatch.timeout, Duration::from_secs(3));
        assert_eq!(dispatch.concurrency, 4);
        assert_eq!(
            dispatch.retry_schedule,
            [1, 120, 10_800].map(Duration::from_secs)
        );
    }

    #[test]
    fn malformed_retry_schedules_are_refused() {
        for bad in ["5", "5d", "s", "-1s", "1.5h", "5é"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
        assert!(parse_schedule("").unwrap().is_empty());
    }

    #[test]
    fn a_missing_table_name_is_named_in_the_error() {
        let error = Config::from_lookup(lookup(&[
            ("RADAR_ITEM_QUEUE_URL", "q"),
            ("RADAR_WEBHOOK_QUEUE_URL", "w"),
        ]))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration: RADAR_TABLE_NAME is not set"
        );
    }

    #[test]
    fn malformed_numbers_and_flags_are_refused() {
        let base = [
            ("RADAR_TABLE_NAME", "t"),
            ("RADAR_ITEM_QUEUE_URL", "q"),
            ("RADAR_WEBHOOK_QUEUE_URL", "w"),
        ];
        let bad_number = [&base[..], &[("RADAR_BULK_PER_MINUTE", "ten")]].concat();
        assert!(Config::from_lookup(lookup(&bad_number)).is_err());
        let bad_flag = [&base[..], &[("RADAR_ALLOW_INSECURE_WEBHOOKS", "yes")]].concat();
        assert!(Config::from_lookup(lookup(&bad_flag)).is_err());
        let no_attempts = [&base[..], &[("RADAR_ITEM_MAX_RECEIVE_COUNT", "0")]].concat();
        assert!(Config::from_lookup(lookup(&no_attempts)).is_err());
        let no_timeout = [&base[..], &[("RADAR_WEBHOOK_TIMEOUT_SECONDS", "0")]].concat();
        assert!(Config::from_lookup(lookup(&no_timeout)).is_err());
        let no_concurrency = [&base[..], &[("RADAR_WEBHOOK_CONCURRENCY", "0")]].concat();
        assert!(Config::from_lookup(lookup(&no_concurrency)).is_err());
        let insecure = [&base[..], &[("RADAR_ALLOW_INSECURE_WEBHOOKS", "true")]].concat();
        assert!(
            Config::from_lookup(lookup(&insecure))
                .unwrap()
                .webhooks
                .allow_insecure_loopback
        );
    }

    #[test]
    fn the_apis_own_hosts_are_read_into_the_webhook_policy() {
        let base = [
            ("RADAR_TABLE_NAME", "t"),
            ("RADAR_ITEM_QUEUE_URL", "q"),
            ("RADAR_WEBHOOK_QUEUE_URL", "w"),
        ];
        let hosts = [
            &base[..],
            &[(
                "RADAR_API_HOSTS",
                "abc.execute-api.us-east-1.amazonaws.com,,127.0.0.1:9000",
            )],
        ]
        .concat();
        let config = Config::from_lookup(lookup(&hosts)).unwrap();
        let expected = ["abc.execute-api.us-east-1.amazonaws.com", "127.0.0.1:9000"]
            .map(|host| crate::webhook_url::ApiHost::parse(host).unwrap());
        assert_eq!(config.webhooks.api_hosts, expected);

        let bad = [&base[..], &[("RADAR_API_HOSTS", "https://api.example.com")]].concat();
        let error = Config::from_lookup(lookup(&bad)).unwrap_err().to_string();
        assert!(error.contains("RADAR_API_HOSTS"), "{error}");
    }
}
