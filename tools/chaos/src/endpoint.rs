//! Customers' webhook endpoints as they behave in the wild: answering at once, accepting the
//! connection and never answering, answering `500` late, or flapping between those. Each is a
//! real HTTP server on 127.0.0.1 that counts the requests it gets (the attempts against it,
//! by its own count) and hands each one, read in full and its signature checked, to a
//! callback before it decides how to answer.
//!
//! `make chaos` gives its silent and flapping accounts one each; `make bench`'s noisy-neighbour
//! scenario points account A at a silent or a late-failing one.

use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use devstack::receiver::Received;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use standardwebhooks::Webhook;
use tokio::{net::TcpListener, task::JoinHandle};

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `200` at once.
    Answers,
    /// Accepts the connection and reads the request, and never answers: the sender waits for
    /// its whole timeout.
    Silent,
    /// Answers `status` after `after`.
    Late { status: u16, after: Duration },
    /// From its start, `phase` of each in turn, round and round: `200`s, `500`s, `200`s,
    /// silence. A request is answered as the phase it arrived in says.
    Flapping { phase: Duration },
}

impl Behaviour {
    /// What a request arriving `elapsed` after the endpoint started gets.
    fn reply(self, elapsed: Duration) -> Reply {
        match self {
            Self::Answers => Reply::Now(StatusCode::OK),
            Self::Silent => Reply::Never,
            Self::Late { status, after } => Reply::After(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                after,
            ),
            Self::Flapping { phase } => {
                let phase = phase.as_millis().max(1);
                match (elapsed.as_millis() / phase) % 4 {
                    0 | 2 => Reply::Now(StatusCode::OK),
                    1 => Reply::Now(StatusCode::INTERNAL_SERVER_ERROR),
                    _ => Reply::Never,
                }
            }
        }
    }

    /// A few words for reports.
    pub fn describe(self) -> String {
        match self {
            Self::Answers => "answers 200 at once".into(),
            Self::Silent => "accepts the connection and never answers".into(),
            Self::Late { status, after } => format!("answers {status} after {after:?}"),
            Self::Flapping { phase } => {
                format!("flaps: {phase:?} each of 200s, 500s, 200s and silence, round and round")
            }
        }
    }
}

/// One request's answer.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Now(StatusCode),
    After(StatusCode, Duration),
    Never,
}

/// A running endpoint. Dropping it stops it, and every connection it holds.
#[derive(Debug)]
pub struct Endpoint {
    /// Where to send webhooks.
    pub url: String,
    requests: Arc<AtomicU64>,
    serving: JoinHandle<()>,
}

impl Endpoint {
    /// Starts an endpoint on a free loopback port. With `secret`, each request's signature is
    /// checked ([`Received::verified`]); `seen` is called with every request, before it is
    /// answered (or not).
    pub async fn start(
        behaviour: Behaviour,
        secret: Option<&str>,
        seen: impl Fn(Received) + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let webhook = secret.and_then(|s| Webhook::new(s).ok()).map(Arc::new);
        let requests = Arc::new(AtomicU64::new(0));
        let counting = Arc::clone(&requests);
        let serving = tokio::spawn(serve(
            listener,
            Arc::new(Handler {
                behaviour,
                started: Instant::now(),
                webhook,
                requests: counting,
                seen: Box::new(seen),
            }),
        ));
        Ok(Self {
            url,
            requests,
            serving,
        })
    }

    /// Requests received so far: every attempt against this endpoint.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

/// What each connection shares.
struct Handler {
    behaviour: Behaviour,
    started: Instant,
    webhook: Option<Arc<Webhook>>,
    requests: Arc<AtomicU64>,
    seen: Box<dyn Fn(Received) + Send + Sync>,
}

impl Handler {
    async fn answer(
        &self,
        request: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let reply = self.behaviour.reply(self.started.elapsed());
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let verified = self
            .webhook
            .as_deref()
            .is_some_and(|w| w.verify(&bytes, &parts.headers).is_ok());
        let id = parts
            .headers
            .get("webhook-id")
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (self.seen)(Received {
            id,
            verified,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        let status = match reply {
            Reply::Now(status) => status,
            Reply::After(status, after) => {
                tokio::time::sleep(after).await;
                status
            }
            Reply::Never => return std::future::pending().await,
        };
        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
        *response.status_mut() = status;
        Ok(response)
    }
}

/// Accepts connections until aborted. Connections live in a set this task owns, so aborting
/// it drops them too: a silent endpoint's held connections end with it.
async fn serve(listener: TcpListener, handler: Arc<Handler>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let handler = Arc::clone(&handler);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let handler = Arc::clone(&handler);
                        async move { handler.answer(request).await }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_endpoint_answers_200_then_500_then_200_then_nothing() {
        let flapping = Behaviour::Flapping {
            phase: Duration::from_secs(30),
        };
        let at = |seconds| match flapping.reply(Duration::from_secs(seconds)) {
            Reply::Now(status) => Some(status.as_u16()),
            Reply::Never => None,
            Reply::After(..) => Some(0),
        };
        assert_eq!(
            [0, 29, 30, 59, 60, 90, 119, 120].map(at),
            [
                Some(200),
                Some(200),
                Some(500),
                Some(500),
                Some(200),
                None,
                None,
                Some(200)
            ]
        );
    }
}
