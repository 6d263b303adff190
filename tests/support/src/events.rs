//! API Gateway HTTP API (payload 2.0) events, as Lambda hands them to the HTTP functions.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// The request an HTTP API route would deliver for `method path` with `headers` and `body`.
pub fn api_request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let event = api_event(method, path, headers, body);
    lambda_http::request::from_str(&event.to_string()).expect("a valid HTTP API event")
}

/// [`api_request`] as the JSON event Lambda's Runtime API hands the function. A `?` in
/// `path` starts its query string.
pub fn api_event(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Value {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::String((*value).to_owned())))
        .collect();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "radar-bulk-tests"
            },
            "requestId": "test",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "25/May/2026:11:17:12 +0000",
            "timeEpoch": 1_779_707_832_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A response's status and JSON body.
pub fn response_json(response: &Response<Body>) -> (u16, Value) {
    let body = match response.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes.as_slice(),
        Body::Empty => b"null",
        _ => panic!("unexpected body kind"),
    };
    (
        response.status().as_u16(),
        serde_json::from_slice(body).expect("a JSON body"),
    )
}
