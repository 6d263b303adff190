//! The five functions in this process, wired as Lambda and API Gateway would wire them: the
//! processor and the dispatcher behind [`Invoke`] for the event source [`bridge`], and submit,
//! poll and radars behind an HTTP server on the API's real routes. The chaos run, the benchmarks and
//! the OpenAPI check drive the whole API this way, without `cargo lambda watch` in between, and
//! can point each function's AWS clients wherever they like (a fault-injecting proxy, say).
//!
//! [`bridge`]: crate::bridge

use std::{convert::Infallible, sync::Arc};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use dispatcher::resolver::SystemLookup;
use http_body_util::{BodyExt, Full};
use hyper::{body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use lambda_http::{Body, RequestExt};
use shared::config::Config;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::bridge::Invoke;

/// One set of dependencies per function, built as each `main` builds them.
#[derive(Debug, Clone)]
pub struct Functions {
    pub submit: submit::Deps,
    pub poll: poll::Deps,
    pub processor: processor::Deps,
    pub dispatcher: dispatcher::Deps,
    pub radars: radars::Deps,
}

impl Functions {
    /// Every function on the same configuration and clients, webhooks resolved as in Lambda.
    pub fn new(
        config: &Config,
        dynamodb: &aws_sdk_dynamodb::Client,
        sqs: &aws_sdk_sqs::Client,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Self::each(config, |_| (dynamodb.clone(), sqs.clone()))
    }

    /// Every function on clients of its own, as each Lambda function has (its own connections,
    /// and its own SDK retry quota, which a busy neighbour's failures do not drain): `clients`
    /// is asked once for each of `submit`, `poll`, `processor`, `dispatcher` and `radars`.
    pub fn each(
        config: &Config,
        mut clients: impl FnMut(&str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client),
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let (dynamodb, sqs) = clients("submit");
        let submit = submit::Deps::new(config.clone(), dynamodb, sqs);
        let (dynamodb, _) = clients("poll");
        let poll = poll::Deps::new(config.clone(), dynamodb);
        let (dynamodb, sqs) = clients("processor");
        let processor = processor::Deps::new(config.clone(), dynamodb, sqs);
        let (dynamodb, sqs) = clients("dispatcher");
        let dispatcher =
            dispatcher::Deps::new(config.clone(), dynamodb, sqs, Arc::new(SystemLookup))?;
        let (dynamodb, _) = clients("radars");
        let radars = radars::Deps::new(config.clone(), dynamodb);
        Ok(Self {
            submit,
            poll,
            processor,
            dispatcher,
            radars,
        })
    }

    /// Answers one API request as API Gateway would route it: the routes of the template
    /// (a static segment before a parameter, as API Gateway prefers it), and API Gateway's own
    /// 404 for anything else.
    pub async fn answer(&self, request: lambda_http::Request) -> lambda_http::Response<Body> {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match (request.method().as_str(), segments.as_slice()) {
            ("POST", ["v1", "radars", "bulk"]) => submit::handle(&self.submit, request).await,
            ("GET", ["v1", "radars", "bulk", bulk_id]) => {
                let request = request.with_path_parameters(
                    [("bulk_id".to_owned(), vec![(*bulk_id).to_owned()])]
                        .into_iter()
                        .collect::<std::collections::HashMap<_, _>>(),
                );
                poll::handle(&self.poll, request).await
            }
            ("GET", ["v1", "radars" | "account"] | ["v1", "radars", _])
            | ("DELETE", ["v1", "radars", _])
            | ("POST", ["v1", "radars", "companies" | "contacts" | "industry"]) => {
                radars::handle(&self.radars, request).await
            }
            _ => lambda_http::Response::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(Body::from(r#"{"message":"Not Found"}"#))
                .expect("a static response"),
        }
    }
}

impl Invoke for Functions {
    async fn invoke(&self, function: &str, event: &SqsEvent) -> Result<SqsBatchResponse, String> {
        match function {
            "processor" => Ok(
                processor::process_batch(&self.processor, event.clone(), Utc::now())
                    .await
                    .response,
            ),
            "dispatcher" => {
                Ok(
                    dispatcher::process_batch(&self.dispatcher, event.clone(), Utc::now())
                        .await
                        .response,
                )
            }
            other => Err(format!("no function {other} takes SQS events")),
        }
    }
}

/// Serves the API on a free loopback port in the background; its base URL (such as
/// `http://127.0.0.1:40123`) and the task, which stops serving when aborted.
pub async fn serve_api_on_loopback(
    functions: Arc<Functions>,
) -> std::io::Result<(String, JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    Ok((base, tokio::spawn(serve_api(listener, functions))))
}

/// Serves the API on `listener` until the process ends.
pub async fn serve_api(listener: TcpListener, functions: Arc<Functions>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let functions = Arc::clone(&functions);
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let functions = Arc::clone(&functions);
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = body
                        .collect()
                        .await
                        .map(http_body_util::Collected::to_bytes)
                        .unwrap_or_default();
                    let body = if bytes.is_empty() {
                        Body::Empty
                    } else {
                        match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => Body::Text(text),
                            Err(error) => Body::Binary(error.into_bytes()),
                        }
                    };
                    let response = functions
                        .answer(lambda_http::Request::from_parts(parts, body))
                        .await;
                    let (parts, body) = response.into_parts();
                    let bytes = match body {
                        Body::Text(text) => Bytes::from(text),
                        Body::Binary(bytes) => Bytes::from(bytes),
                        _ => Bytes::new(),
                    };
                    Ok::<_, Infallible>(hyper::Response::from_parts(parts, Full::new(bytes)))
                }
            });
            // A client that goes away mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
