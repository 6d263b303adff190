//! The HTTP side: one client per container, and one attempt at one delivery.
//!
//! The client keeps connections to receivers open between invocations (rustls on ring, the TLS
//! stack the AWS SDK already uses, with the platform's roots), follows no redirect, uses no proxy, gives each attempt
//! [`DispatchConfig::timeout`] in all, and resolves names only through
//! [`CheckedResolver`]. IP-literal hosts never reach a resolver, so they are checked here
//! against the same [`AddressPolicy`] before anything is sent.

use std::{
    error::Error as _,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use reqwest::{Client, header, redirect};
use rustls_platform_verifier::BuilderVerifierExt;
use shared::{
    config::DispatchConfig,
    destination::Health,
    webhook_url::{WebhookPolicy, WebhookUrl},
};
use url::{Host, Url};

use crate::{
    resolver::{AddressPolicy, CheckedResolver, HostLookup, Refused},
    retry,
    signature::SignedHeaders,
};

/// The `user-agent` of every delivery.
pub const USER_AGENT: &str = concat!("radar-bulk-webhooks/", env!("CARGO_PKG_VERSION"));
/// The most of a receiver's answer that is read (and thrown away), so its connection can be
/// used again.
const DRAIN_LIMIT: usize = 64 * 1024;

/// Why an attempt failed when the receiver did not accept the connection in time.
pub const CONNECT_TIMED_OUT: &str = "not accepted within the connect timeout";

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP response, with its `Retry-After` if it had one.
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No complete response within the timeout.
    Timeout,
    /// No connection, or it broke: the cause, without the URL (it may hold credentials).
    Connection(String),
    /// The destination is not allowed: nothing was sent.
    Refused(String),
}

/// One attempt: its reply and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub reply: Reply,
    pub latency: Duration,
}

/// Sends deliveries. Cheap to clone: clones share the client and its connections.
#[derive(Debug, Clone)]
pub struct Sender {
    client: Client,
    addresses: AddressPolicy,
    urls: WebhookPolicy,
}

impl Sender {
    pub fn new(
        config: &DispatchConfig,
        urls: WebhookPolicy,
        lookup: Arc<dyn HostLookup>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
        let addresses = AddressPolicy {
            allow_loopback: urls.allow_insecure_loopback,
        };
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .dns_resolver(CheckedResolver {
                lookup,
                policy: addresses,
            })
            .build()?;
        Ok(Self {
            client,
            addresses,
            urls,
        })
    }

    /// POSTs `body` to `url` with the signed headers. Never fails: every outcome is a
    /// [`Reply`].
    pub async fn post(
        &self,
        url: &str,
        headers: &SignedHeaders,
        body: String,
        now: DateTime<Utc>,
    ) -> Sent {
        let started = Instant::now();
        let reply = match self.destination(url) {
            Err(why) => Reply::Refused(why),
            Ok(url) => self.send(url, headers, body, now).await,
        };
        Sent {
            reply,
            latency: started.elapsed(),
        }
    }

    /// The URL, if a webhook may go there: the submit rules again (the policy may have changed
    /// since), and an IP-literal host must be an allowed address.
    fn destination(&self, raw: &str) -> Result<Url, String> {
        WebhookUrl::parse(raw, self.urls).map_err(|error| error.reason)?;
        let url = Url::parse(raw).map_err(|error| error.to_string())?;
        let literal = match url.host() {
            Some(Host::Ipv4(ip)) => Some(ip.into()),
            Some(Host::Ipv6(ip)) => Some(ip.into()),
            Some(Host::Domain(_)) | None => None,
        };
        match literal {
            Some(ip) if !self.addresses.allows(ip) => Err(Refused {
                host: ip.to_string(),
            }
            .to_string()),
            _ => Ok(url),
        }
    }

    async fn send(
        &self,
        url: Url,
        headers: &SignedHeaders,
        body: String,
        now: DateTime<Utc>,
    ) -> Reply {
        let request = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &headers.id)
            .header("webhook-timestamp", headers.timestamp.to_string())
            .header("webhook-signature", &headers.signature)
            .body(body);
        match request.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| retry::parse_retry_after(value, now));
                let mut drained = 0;
                while drained < DRAIN_LIMIT {
                    match response.chunk().await {
                        Ok(Some(chunk)) => drained += chunk.len(),
                        Ok(None) | Err(_) => break,
                    }
                }
                Reply::Status {
                    status,
                    retry_after,
                }
            }
            Err(error) => classify(&error.without_url()),
        }
    }
}

impl Reply {
    /// What the attempt says of its destination's health, for the circuit breaker; `None`
    /// when nothing was sent. A timeout, a failed connection, `408`, `429` and `5xx` are
    /// failures; any other answer shows a receiver that is up.
    pub fn health(&self, latency: Duration) -> Option<Health> {
        let failed = |what: String| Some(Health::Failed { what });
        match self {
            Self::Status { status, .. } if *status == 408 || *status == 429 || *status >= 500 => {
                failed(format!("HTTP {status}"))
            }
            Self::Status { .. } => Some(Health::Answered { latency }),
            Self::Timeout => failed("timed out".into()),
            Self::Connection(cause) => failed(format!("connection failed: {cause}")),
            Self::Refused(_) => None,
        }
    }
}

/// A failed request's kind. A connection that did not open within the connect timeout is a
/// connection failure, not the whole attempt's timeout.
fn classify(error: &reqwest::Error) -> Reply {
    if error.is_timeout() {
        return if error.is_connect() {
            Reply::Connection(CONNECT_TIMED_OUT.into())
        } else {
            Reply::Timeout
        };
    }
    let mut source = error.source();
    let mut causes = vec![error.to_string()];
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Reply::Refused(refused.to_string());
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    Reply::Connection(causes.join(": "))
}
