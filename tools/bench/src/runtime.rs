//! A function's release binary run as Lambda runs it: a process that asks the Runtime API for
//! events. This is a minimal Runtime API (the calls the runtime client makes: next, response,
//! error, init error) that hands out the events it is given, one at a time, as one Lambda
//! execution environment does. Init is the time from starting the process to its first
//! request for an event; peak memory is the process's VmHWM, read from /proc before it stops.

use std::{
    collections::HashMap,
    convert::Infallible,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use devstack::bridge::Invoke;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    process::{Child, Command},
    sync::{mpsc, oneshot},
};

use crate::{Error, Result};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

type Answer = std::result::Result<Vec<u8>, String>;

struct Pending {
    event: Vec<u8>,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Marks {
    first_poll: Option<Instant>,
    first_answer: Option<Instant>,
    init_error: Option<String>,
}

struct State {
    queue: tokio::sync::Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    marks: Mutex<Marks>,
}

/// One function process and the Runtime API it polls.
pub struct Function {
    child: Child,
    started: Instant,
    events: mpsc::Sender<Pending>,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Function {
    /// Starts `binary` with `environment` (and the process's own, which holds the emulators'
    /// endpoints and credentials), pointed at a new Runtime API.
    pub async fn start(binary: &Path, environment: &HashMap<String, String>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (events, queue) = mpsc::channel(1);
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(queue),
            waiting: Mutex::new(HashMap::new()),
            marks: Mutex::new(Marks::default()),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&state)));
        let name = binary
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        let child = Command::new(binary)
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self {
            child,
            started,
            events,
            state,
            server,
        })
    }

    /// From the start of the process to its first request for an event.
    pub async fn init(&self) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            {
                let marks = self.state.marks.lock().unwrap();
                if let Some(error) = &marks.init_error {
                    return Err(Error::Failed(format!("init failed: {error}")));
                }
                if let Some(at) = marks.first_poll {
                    return Ok(at - self.started);
                }
            }
            if Instant::now() > deadline {
                return Err(Error::Failed(
                    "the function never asked for an event".into(),
                ));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// From the start of the process to its first answer.
    pub fn first_answer(&self) -> Option<Duration> {
        let marks = self.state.marks.lock().unwrap();
        marks.first_answer.map(|at| at - self.started)
    }

    /// Hands the function one event and waits for its answer.
    pub async fn call(&self, event: Vec<u8>) -> Result<Vec<u8>> {
        let (answer, answered) = oneshot::channel();
        self.events
            .send(Pending { event, answer })
            .await
            .map_err(|_| Error::Failed("the Runtime API stopped".into()))?;
        answered
            .await
            .map_err(|_| Error::Failed("the function never answered".into()))?
            .map_err(|error| Error::Failed(format!("the function failed: {error}")))
    }

    /// The process's peak resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| Error::Failed("the function has exited".into()))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| Error::Failed("no VmHWM in /proc".into()))
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        self.server.abort();
        Ok(())
    }
}

impl Invoke for Function {
    async fn invoke(&self, _function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        let event = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let answer = self.call(event).await.map_err(|e| e.to_string())?;
        serde_json::from_slice(&answer).map_err(|e| e.to_string())
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(answer(&state, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(state: &State, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    if path == NEXT {
        state
            .marks
            .lock()
            .unwrap()
            .first_poll
            .get_or_insert_with(Instant::now);
        let Some(pending) = state.queue.lock().await.recv().await else {
            return status(410);
        };
        let id = uuid::Uuid::new_v4().to_string();
        state
            .waiting
            .lock()
            .unwrap()
            .insert(id.clone(), pending.answer);
        let deadline = chrono::Utc::now().timestamp_millis() + 300_000;
        return Response::builder()
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(pending.event)))
            .unwrap_or_else(|_| status(500));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .unwrap_or_default();
    if path == "/2018-06-01/runtime/init/error" {
        state.marks.lock().unwrap().init_error = Some(String::from_utf8_lossy(&body).into());
        return status(202);
    }
    let invocation = path.strip_prefix("/2018-06-01/runtime/invocation/");
    let answered = invocation.and_then(|rest| {
        rest.strip_suffix("/response")
            .map(|id| (id, Ok(body.clone())))
            .or_else(|| {
                rest.strip_suffix("/error")
                    .map(|id| (id, Err(String::from_utf8_lossy(&body).into_owned())))
            })
    });
    match answered {
        Some((id, answer)) => {
            state
                .marks
                .lock()
                .unwrap()
                .first_answer
                .get_or_insert_with(Instant::now);
            if let Some(waiting) = state.waiting.lock().unwrap().remove(id) {
                let _ = waiting.send(answer);
            }
            status(202)
        }
        None => status(404),
    }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
    response
}
