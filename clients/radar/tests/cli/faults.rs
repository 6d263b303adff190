//! A fault layer in front of the API: the client waits out `429`s, retries `5xx`s, and when
//! the API cannot be reached for long, stops saying what was and was not accepted, and the
//! same command run again goes on from there without submitting anything twice.

use std::{
    collections::VecDeque,
    convert::Infallible,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::support::{Stack, bulks_in};

/// What the layer does with the next submission.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `429` with `Retry-After: 1`.
    Throttle,
    /// This status, with an empty body.
    Fail(u16),
}

#[derive(Default)]
struct Layer {
    /// Faults for the next submissions, in order; when empty, `fail_after` says.
    script: VecDeque<Fault>,
    /// Once this many submissions went through, every other one fails with a `500`.
    fail_after: Option<usize>,
    answered: Vec<u16>,
    forwarded: usize,
}

/// Serves a fault layer in front of `base`; its URL.
async fn fault_layer(base: String, layer: Arc<Mutex<Layer>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (base, layer, client) = (base.clone(), Arc::clone(&layer), client.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (base, layer, client) = (base.clone(), Arc::clone(&layer), client.clone());
                    async move { Ok::<_, Infallible>(through(&base, &layer, &client, request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

async fn through(
    base: &str,
    layer: &Mutex<Layer>,
    client: &reqwest::Client,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let submission = request.method() == hyper::Method::POST;
    let fault = submission
        .then(|| {
            let mut layer = layer.lock().unwrap();
            let down = layer
                .fail_after
                .is_some_and(|after| layer.forwarded >= after);
            let fault = layer
                .script
                .pop_front()
                .or(down.then_some(Fault::Fail(500)));
            if fault.is_none() {
                layer.forwarded += 1;
            }
            fault
        })
        .flatten();
    let canned = |status: u16, retry_after: bool| {
        layer.lock().unwrap().answered.push(status);
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        if retry_after {
            response
                .headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
        }
        response
    };
    match fault {
        Some(Fault::Throttle) => return canned(429, true),
        Some(Fault::Fail(status)) => return canned(status, false),
        None => {}
    }
    let (parts, body) = request.into_parts();
    let mut forward = client.request(
        parts.method.clone(),
        format!("{base}{}", parts.uri.path_and_query().unwrap()),
    );
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            forward = forward.header(name, value);
        }
    }
    let body = body.collect().await.unwrap().to_bytes();
    let answer = forward.body(body).send().await.unwrap();
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = answer.status();
    for (name, value) in answer.headers() {
        response.headers_mut().insert(name, value.clone());
    }
    *response.body_mut() = Full::new(answer.bytes().await.unwrap());
    response
}

#[tokio::test]
async fn a_429_and_5xx_answers_are_retried_and_a_stopped_submission_goes_on_where_it_stopped() {
    let stack = Stack::up(100).await;
    let layer = Arc::new(Mutex::new(Layer {
        script: [Fault::Throttle, Fault::Fail(500), Fault::Fail(503)].into(),
        ..Layer::default()
    }));
    let api = fault_layer(stack.base.clone(), Arc::clone(&layer)).await;
    let file = three_radars(&stack, "three.jsonl", ["a", "b", "c"]);
    let state = stack.path("three.state.json");

    let (lines, answer) = stack
        .radar_at(&api, &submit_in_twos(&stack, &file, &state))
        .await;

    answer.unwrap();
    {
        let layer = layer.lock().unwrap();
        assert_eq!(layer.answered, [429, 500, 503]);
        assert_eq!(layer.forwarded, 2, "each bulk reached the API once");
    }
    let bulks = bulks_in(&state);
    assert_eq!(
        bulks.iter().map(|(_, size)| *size).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(lines.matching(" accepted: ").len(), 2, "{}", lines.text());

    stop_and_go_on(&stack, &api, &layer, &state).await;

    // Followed to the end: six radars, each paid for once.
    let (lines, answer) = stack
        .radar(&[
            "bulk",
            "watch",
            "--state",
            state.to_str().unwrap(),
            "--interval",
            "0.2",
        ])
        .await;
    answer.unwrap();
    assert_eq!(
        lines
            .matching("4 bulk(s), 6 items: 6 created, 0 failed")
            .len(),
        1,
        "{}",
        lines.text()
    );
    let account = stack.get("/v1/account").await;
    assert_eq!(account["data"]["radars"]["active"], 6);
    assert_eq!(account["data"]["balance"], 94);
}

/// A second file whose second bulk cannot get through: the command stops and says what was
/// accepted; once the API is back, the same command replays the first bulk and submits the
/// second.
async fn stop_and_go_on(stack: &Stack, api: &str, layer: &Mutex<Layer>, state: &Path) {
    let more = three_radars(stack, "more.jsonl", ["d", "e", "f"]);
    let args = submit_in_twos(stack, &more, state);
    {
        let mut layer = layer.lock().unwrap();
        layer.forwarded = 0;
        layer.fail_after = Some(1);
    }
    let (lines, answer) = stack.radar_at(api, &args).await;

    let failure = answer.unwrap_err();
    assert!(matches!(failure, radar::Failure::Stopped(_)), "{failure}");
    let said = lines.matching("not accepted");
    assert_eq!(said.len(), 2, "{}", lines.text());
    assert!(said[1].contains("accepted: 1 of 2 bulks"), "{}", said[1]);
    assert!(
        said[1].contains("not accepted: 1 items (rows 3)"),
        "{}",
        said[1]
    );
    assert_eq!(bulks_in(state).len(), 3, "the accepted bulk is recorded");

    layer.lock().unwrap().fail_after = None;
    let (lines, answer) = stack.radar_at(api, &args).await;
    answer.unwrap();
    assert_eq!(
        lines.matching("bulk 1/2 accepted earlier").len(),
        1,
        "{}",
        lines.text()
    );
    assert_eq!(
        lines.matching("bulk 2/2 accepted: ").len(),
        1,
        "{}",
        lines.text()
    );
    assert_eq!(bulks_in(state).len(), 4);
}

/// A JSON Lines file of three company radars, one per name.
fn three_radars(stack: &Stack, file: &str, names: [&str; 3]) -> PathBuf {
    let path = stack.path(file);
    let lines: Vec<String> = names
        .iter()
        .map(|name| {
            format!("{{\"radar_type\": \"company_reviews\", \"domain\": \"{name}.example.com\"}}")
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// `bulk submit FILE` in bulks of two items, recorded in `state`.
fn submit_in_twos<'a>(stack: &'a Stack, file: &'a Path, state: &'a Path) -> Vec<&'a str> {
    vec![
        "bulk",
        "submit",
        file.to_str().unwrap(),
        "--webhook-url",
        &stack.webhook_url,
        "--bulk-size",
        "2",
        "--state",
        state.to_str().unwrap(),
    ]
}
