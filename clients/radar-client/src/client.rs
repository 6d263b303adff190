//! The API's requests, each answered with its typed body.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, RequestBuilder, Response, StatusCode, header::HeaderMap};
use rustls_platform_verifier::BuilderVerifierExt;
use serde::de::DeserializeOwned;
use shared::api::{AccountData, ErrorBody, PollResponse, RadarObject, SubmitAccepted, Success};
use url::Url;
use uuid::Uuid;

use crate::{Error, Result, Retry, retry::retry_after};

/// The header that carries the API key.
const API_KEY: &str = "x-api-key";
/// Set on a `202` that answers a submission's earlier twin.
const REPLAYED: &str = "idempotent-replayed";
const USER_AGENT: &str = concat!("radar-client/", env!("CARGO_PKG_VERSION"));
/// A request that has not been answered in this long is given up on and retried.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one API with one key. Cheap to clone: clones share connections.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: Arc<str>,
    retry: Retry,
}

/// A bulk the API accepted: the first `202`, or (`replayed`) a replay of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub accepted: SubmitAccepted,
    pub replayed: bool,
}

/// What a failed try means for the request.
enum Tried {
    /// Wait this long, then try again without spending a try (a `429`).
    Throttled(Duration, Error),
    /// Worth another try after a pause.
    Transient(Error),
    /// Final.
    Refused(Error),
}

impl Client {
    /// A client of the API at `base` (for example `https://api.example.com`), TLS on rustls
    /// with the platform's roots.
    pub fn new(base: &str, api_key: &str) -> Result<Self> {
        let base = Url::parse(base.trim_end_matches('/'))
            .map_err(|e| Error::Config(format!("the API's URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "the API's URL must be http or https, not {base}"
            )));
        }
        if api_key.is_empty() {
            return Err(Error::Config(
                "no API key: set RADAR_API_KEY or pass --api-key".into(),
            ));
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(BuilderVerifierExt::with_platform_verifier)
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            api_key: api_key.into(),
            retry: Retry::default(),
        })
    }

    /// The same client with other retry rules.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// `POST /v1/radars/bulk` with the body `body` (a serialized `SubmitRequest`) under
    /// `idempotency_key`: the `202`, first or replayed. A `409` (the same key still at work)
    /// is retried like a `5xx`.
    pub async fn submit(&self, body: &[u8], idempotency_key: &str) -> Result<Submitted> {
        let body = body.to_vec();
        let (headers, accepted) = self
            .send(true, || {
                self.request(Method::POST, "/v1/radars/bulk")
                    .header("content-type", "application/json")
                    .header("idempotency-key", idempotency_key)
                    .body(body.clone())
            })
            .await?;
        let replayed = headers
            .get(REPLAYED)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        Ok(Submitted { accepted, replayed })
    }

    /// `GET /v1/radars/bulk/{bulk_id}`.
    pub async fn bulk(&self, bulk_id: Uuid) -> Result<PollResponse> {
        let path = format!("/v1/radars/bulk/{bulk_id}");
        let (_, polled) = self
            .send(false, || self.request(Method::GET, &path))
            .await?;
        Ok(polled)
    }

    /// `GET /v1/radars/{radar_id}`.
    pub async fn radar(&self, radar_id: &str) -> Result<Success<RadarObject>> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Config(format!("the API's URL {} has no path", self.base)))?
            .extend(["v1", "radars", radar_id]);
        let (_, radar) = self
            .send(false, || {
                self.http
                    .get(url.clone())
                    .header(API_KEY, self.api_key.as_ref())
            })
            .await?;
        Ok(radar)
    }

    /// `GET /v1/account`.
    pub async fn account(&self) -> Result<Success<AccountData>> {
        let (_, account) = self
            .send(false, || self.request(Method::GET, "/v1/account"))
            .await?;
        Ok(account)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        self.http
            .request(method, url)
            .header(API_KEY, self.api_key.as_ref())
    }

    /// Sends the request `build` makes until it is answered with a 2xx, refused, or out of
    /// tries; `conflict_is_transient` for a submission, whose only `409` is its twin at work.
    async fn send<T: DeserializeOwned>(
        &self,
        conflict_is_transient: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<(HeaderMap, T)> {
        let (mut tries, mut waits) = (0, 0);
        loop {
            tries += 1;
            let failed = match build().send().await {
                Ok(response) => match read(response, conflict_is_transient).await {
                    Ok(answer) => return Ok(answer),
                    Err(failed) => failed,
                },
                Err(error) => Tried::Transient(Error::Transport(error)),
            };
            match failed {
                Tried::Refused(error) => return Err(error),
                Tried::Throttled(pause, error) => {
                    waits += 1;
                    tries -= 1;
                    if waits > self.retry.rate_limited {
                        return Err(Error::GaveUp {
                            tries: tries + waits,
                            last: Box::new(error),
                        });
                    }
                    tokio::time::sleep(pause).await;
                }
                Tried::Transient(error) if tries >= self.retry.tries => {
                    return Err(Error::GaveUp {
                        tries: tries + waits,
                        last: Box::new(error),
                    });
                }
                Tried::Transient(_) => tokio::time::sleep(self.retry.pause(tries + 1)).await,
            }
        }
    }
}

/// One answer: its headers and typed body, or what the failure means.
async fn read<T: DeserializeOwned>(
    response: Response,
    conflict_is_transient: bool,
) -> Result<(HeaderMap, T), Tried> {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return Err(Tried::Transient(Error::Transport(error))),
    };
    let unexpected = || Error::Unexpected {
        status: status.as_u16(),
        body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
    };
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map(|body| (headers, body))
            .map_err(|_| Tried::Refused(unexpected()));
    }
    let error = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Error::Api {
            status: status.as_u16(),
            body: Box::new(body),
        },
        Err(_) => unexpected(),
    };
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => {
            let after = headers
                .get("retry-after")
                .and_then(|value| value.to_str().ok());
            Tried::Throttled(retry_after(after), error)
        }
        StatusCode::CONFLICT if conflict_is_transient => Tried::Transient(error),
        status if status.is_server_error() => Tried::Transient(error),
        _ => Tried::Refused(error),
    })
}
