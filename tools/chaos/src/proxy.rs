//! A fault-injecting HTTP proxy between the functions' AWS clients and an emulator.
//!
//! Each call either passes through untouched or, for a configured share of calls, meets one
//! [`Fault`]: a throttling error or a 500 that the service never saw, a connection dropped
//! before or after the service applied the call, or an answer held past the client's attempt
//! timeout after the service applied it. The "after" kinds are the ones that matter most: the
//! write happened, the caller cannot know, and its retry must not do it twice.
//!
//! With a [`Contention`] model, a DynamoDB proxy also refuses what DynamoDB would refuse and
//! DynamoDB Local never does: writes to items other transactions hold, and calls beyond a
//! partition's throughput. The faults come first: they stand for the network in front of the
//! service, the model for the service itself.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Full};
use hyper::{
    HeaderMap, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header::{self, HeaderValue},
    http::request::Parts,
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::contention::{Contention, Counts, Model, Verdict, request::Call};

/// The longest the proxy waits for the emulator.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// DynamoDB's operations are `X-Amz-Target`s with this prefix.
const DYNAMODB: &str = "DynamoDB_20120810.";

/// What can go wrong with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `400 ThrottlingException`; the service never saw the call.
    Throttle,
    /// `500 InternalServerError`; the service never saw the call.
    ServerError,
    /// The connection closes before the call reaches the service.
    DropBefore,
    /// The service applies the call, then the connection closes without an answer.
    DropAfter,
    /// The service applies the call; the answer comes after the client gave up on it.
    Timeout,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::DropBefore,
        Fault::DropAfter,
        Fault::Timeout,
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Throttle => "throttled (400)",
            Fault::ServerError => "server error (500)",
            Fault::DropBefore => "dropped before the service",
            Fault::DropAfter => "dropped after the service applied it",
            Fault::Timeout => "answered after the client timed out",
        })
    }
}

/// Which faults, how often.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The share of calls that meet a fault, 0 to 1.
    pub rate: f64,
    /// The faults to choose from, each equally likely.
    pub faults: Vec<Fault>,
    /// How long a [`Fault::Timeout`] holds its answer: longer than the client's attempt timeout.
    pub hold: Duration,
}

impl Plan {
    /// Every kind of fault, on `rate` of the calls.
    pub fn every_fault(rate: f64, hold: Duration) -> Self {
        Self {
            rate,
            faults: Fault::ALL.to_vec(),
            hold,
        }
    }

    fn draw(&self) -> Option<Fault> {
        if self.faults.is_empty() || fastrand::f64() >= self.rate {
            return None;
        }
        Some(self.faults[fastrand::usize(..self.faults.len())])
    }
}

/// What a proxy did, by operation (`X-Amz-Target`, such as `DynamoDB_20120810.PutItem`).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub calls: BTreeMap<String, u64>,
    pub injected: BTreeMap<(String, Fault), u64>,
    /// Calls the contention model refused, by operation.
    pub refused: BTreeMap<String, u64>,
    /// What the contention model did, when the proxy has one.
    pub contention: Option<Counts>,
}

impl Tally {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn injected(&self, fault: Fault) -> u64 {
        self.injected
            .iter()
            .filter(|((_, f), _)| *f == fault)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn total_refused(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// A running proxy.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Where clients should send their calls, such as `http://127.0.0.1:40123`.
    pub url: String,
    plan: Arc<Mutex<Plan>>,
    tally: Arc<Mutex<Tally>>,
    model: Option<Arc<Mutex<Model>>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream` (an emulator's base URL).
    pub async fn start(upstream: &str, plan: Plan) -> std::io::Result<Self> {
        Self::start_with(upstream, plan, None).await
    }

    /// As [`Proxy::start`], and with `contention`, DynamoDB's calls go through that model.
    pub async fn start_with(
        upstream: &str,
        plan: Plan,
        contention: Option<Contention>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let model = contention
            .as_ref()
            .map(|c| Arc::new(Mutex::new(Model::new(c))));
        let proxy = Self {
            url: format!("http://{}", listener.local_addr()?),
            plan: Arc::new(Mutex::new(plan)),
            tally: Arc::default(),
            model: model.clone(),
        };
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            // A call the client gave up on must not wait on the emulator forever: orphans pile
            // up as threads in the SQS emulator until it stops answering anyone.
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(UPSTREAM_TIMEOUT)
                .build()
                .map_err(std::io::Error::other)?,
            plan: Arc::clone(&proxy.plan),
            tally: Arc::clone(&proxy.tally),
            contention: contention.zip(model),
        };
        tokio::spawn(serve(listener, Arc::new(shared)));
        Ok(proxy)
    }

    /// Changes the plan for the calls from now on (a run calms the proxy down to verify).
    pub fn set_plan(&self, plan: Plan) {
        *self.plan.lock().expect("plan lock") = plan;
    }

    pub fn tally(&self) -> Tally {
        let mut tally = self.tally.lock().expect("tally lock").clone();
        tally.contention = self
            .model
            .as_ref()
            .map(|model| model.lock().expect("model lock").counts().clone());
        tally
    }
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    plan: Arc<Mutex<Plan>>,
    tally: Arc<Mutex<Tally>>,
    contention: Option<(Contention, Arc<Mutex<Model>>)>,
}

/// An answer, from the emulator or the proxy.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// A connection closed on purpose, without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the fault proxy")]
struct Dropped;

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            // A dropped call ends its connection with an error: that is the point.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.to_str().ok())
        .unwrap_or("other")
        .to_owned();
    let (fault, hold) = {
        let plan = shared.plan.lock().expect("plan lock");
        (plan.draw(), plan.hold)
    };
    {
        let mut tally = shared.tally.lock().expect("tally lock");
        *tally.calls.entry(operation.clone()).or_default() += 1;
        if let Some(fault) = fault {
            *tally
                .injected
                .entry((operation.clone(), fault))
                .or_default() += 1;
        }
    }
    match fault {
        Some(Fault::Throttle) => return Ok(error(&operation, 400, "ThrottlingException")),
        Some(Fault::ServerError) => return Ok(error(&operation, 500, "InternalServerError")),
        Some(Fault::DropBefore) => return Err(Dropped),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    let answer = match body.collect().await {
        Ok(body) => serve_call(shared, &operation, parts, body.to_bytes()).await,
        Err(_) => plain(StatusCode::BAD_REQUEST, "unreadable request body"),
    };
    match fault {
        Some(Fault::DropAfter) => Err(Dropped),
        Some(Fault::Timeout) => {
            tokio::time::sleep(hold).await;
            Ok(respond(answer))
        }
        _ => Ok(respond(answer)),
    }
}

/// The service's side of a call: the contention model's refusal, or the emulator's answer.
async fn serve_call(shared: Arc<Shared>, operation: &str, parts: Parts, body: Bytes) -> Answer {
    let Some((contention, model)) = &shared.contention else {
        return forward(&shared, parts, body).await;
    };
    let Some(call) = operation
        .strip_prefix(DYNAMODB)
        .and_then(|name| Call::parse(name, &body))
    else {
        return forward(&shared, parts, body).await;
    };
    let verdict = model
        .lock()
        .expect("model lock")
        .admit(&call, Instant::now());
    let pending = match verdict {
        Verdict::Refuse(refusal) => {
            let mut tally = shared.tally.lock().expect("tally lock");
            *tally.refused.entry(operation.to_owned()).or_default() += 1;
            return json(StatusCode::BAD_REQUEST, &refusal);
        }
        Verdict::Pass(pending) => pending,
    };
    let hold = contention.draw_hold();
    let model = Arc::clone(model);
    // On a task of its own: the emulator finishes a call whose client went away, and the model
    // must hear how it ended, or a transaction's items would stay held for good.
    let settled = tokio::spawn(async move {
        let answer = forward(&shared, parts, body).await;
        let heard = pending.hear(answer.status.is_success(), &answer.body);
        model
            .lock()
            .expect("model lock")
            .settle(heard, Instant::now(), hold);
        answer
    });
    settled
        .await
        .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "the proxy lost the call"))
}

/// The call, sent on to the emulator; its answer, or a 502 if the emulator could not be reached.
async fn forward(shared: &Shared, parts: Parts, body: Bytes) -> Answer {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let mut outgoing = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        // The signature covers `host`: keep the client's, so the emulator sees what was signed.
        if name != header::CONNECTION && name != header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return plain(StatusCode::BAD_GATEWAY, "the emulator did not answer");
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(body) = answer.bytes().await else {
        return plain(StatusCode::BAD_GATEWAY, "the emulator's answer broke off");
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn respond(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    for (name, value) in &answer.headers {
        if name != header::CONNECTION
            && name != header::TRANSFER_ENCODING
            && name != header::CONTENT_LENGTH
        {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// The error the service would answer, in the JSON protocol both DynamoDB and SQS speak.
fn error(operation: &str, status: u16, code: &str) -> Response<Full<Bytes>> {
    let namespace = if operation.starts_with("AmazonSQS") {
        "com.amazonaws.sqs"
    } else {
        "com.amazonaws.dynamodb.v20120810"
    };
    let body = serde_json::json!({
        "__type": format!("{namespace}#{code}"),
        "message": "injected by the chaos proxy",
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    respond(json(status, &body))
}

/// A JSON-protocol answer.
fn json(status: StatusCode, body: &serde_json::Value) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    Answer {
        status,
        headers,
        body: Bytes::from(body.to_string()),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Answer {
    Answer {
        status,
        headers: HeaderMap::new(),
        body: Bytes::from_static(text.as_bytes()),
    }
}
