//! A real webhook receiver on 127.0.0.1: it keeps every request and answers with the status
//! the test sets.

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
};

use http_body_util::{BodyExt, Full};
use hyper::{
    HeaderMap, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn webhook_id(&self) -> &str {
        self.headers["webhook-id"].to_str().unwrap()
    }
}

#[derive(Debug)]
struct State {
    received: Mutex<Vec<Received>>,
    status: AtomicU16,
}

/// The receiver; it stops with the test's runtime.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hooks`
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    pub async fn start(status: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let state = Arc::new(State {
            received: Mutex::default(),
            status: AtomicU16::new(status),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    /// The status of every answer from now on.
    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    state.received.lock().unwrap().push(Received {
        headers: parts.headers,
        body,
    });
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    *response.status_mut() = StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap();
    Ok(response)
}
