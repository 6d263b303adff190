//! The radar resources over HTTP against hostile and careless input: bodies, paths and query
//! strings get the documented envelope and never a 500, and a single create answers an item
//! exactly as the bulk path's `radar_failure` does, from the same parse and the same identity.

use serde_json::{Value, json};

use crate::local::LocalApi;

/// `method path` with `api_key` and `body`; the status and the body as JSON.
async fn call(
    api: &LocalApi,
    api_key: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", api.base))
        .header("x-api-key", api_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The field the envelope's first error names, after checking the envelope.
fn first_field(body: &Value, code: u16, message: &str) -> String {
    test_support::assert_envelope_body(body, code, message);
    body["errors"][0]["field"].as_str().unwrap().to_owned()
}

/// Single-create bodies the companies endpoint must refuse, and the field each refusal names
/// first.
fn hostile_bodies() -> Vec<(Vec<u8>, &'static str)> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut invalid_utf8 = br#"{"radar_type":"company_reviews","domain":"a"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xc0, 0x80, b'"', b'}']);
    vec![
        (Vec::new(), "body"),
        (b"\x00\x01".to_vec(), "body"),
        (deep.into_bytes(), "body"),
        (invalid_utf8, "body"),
        (br#"{"radar_type":"company_reviews","n":1e400}"#.to_vec(), "body"),
        (br#"{"radar_type":"company_reviews","k":"\ud800"}"#.to_vec(), "body"),
        (vec![b' '; 70_000], "body"),
        (
            json!({"radar_type": "company_reviews", "domain": "a.com", "k": "x".repeat(70_000)})
                .to_string()
                .into_bytes(),
            "body",
        ),
        (
            json!({"radar_type": "company_reviews", "domain": "a.com",
                   "custom_fields": {"a": serde_json::from_str::<Value>(&format!("{}{}", "[".repeat(40), "]".repeat(40))).unwrap()}})
                .to_string()
                .into_bytes(),
            "body",
        ),
        (
            json!({"radar_type": "company_reviews", "domain": "a.com",
                   "webhook_url": "https://[::ffff:169.254.169.254]/"})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"radar_type": "company_reviews", "domain": "a.com", "webhook_url": "https://0xa9.0xfe.0xa9.0xfe/"})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"radar_type": "company_reviews\u{0}", "domain": "a.com"})
                .to_string()
                .into_bytes(),
            "radar_type",
        ),
        (
            json!({"radar_type": "industry_mentions", "keyword": "x"})
                .to_string()
                .into_bytes(),
            "radar_type",
        ),
    ]
}

#[tokio::test]
async fn hostile_bodies_paths_and_queries_get_the_documented_answer_never_a_500() {
    // Every id below spends a read token: more than a second's default budget.
    let api = LocalApi::start(&[
        ("RADAR_READ_PER_SECOND", "100000"),
        ("RADAR_READ_PER_MINUTE", "100000"),
    ])
    .await;
    let key = api.account.api_key.clone();
    for (body, field) in hostile_bodies() {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (status, answer) = call(&api, &key, "POST", "/v1/radars/companies", body).await;
        assert_eq!(status, 400, "{preview}: {answer}");
        assert_eq!(
            first_field(&answer, 400, "Invalid request body"),
            field,
            "{preview}"
        );
    }

    for id in [
        "..%2F..%2Fetc",
        "%00",
        &"9".repeat(5000),
        "5f9da22e-4778-427c-b7e4-dab2a8d9d70g",
        "%F0%9F%98%80",
    ] {
        for method in ["GET", "DELETE"] {
            let (status, answer) =
                call(&api, &key, method, &format!("/v1/radars/{id}"), Vec::new()).await;
            assert_eq!(status, 404, "{method} {id}: {answer}");
            assert_eq!(first_field(&answer, 404, "Radar not found"), "radar_id");
        }
    }

    let long_cursor = "A".repeat(10_000);
    let many_types = vec!["company_reviews"; 2000].join(",");
    for (path, field) in [
        ("/v1/radars?limit=99999999999999999999999", "limit"),
        ("/v1/radars?limit=%00", "limit"),
        ("/v1/radars?limit=1e3", "limit"),
        (
            &format!("/v1/radars?cursor={long_cursor}") as &str,
            "cursor",
        ),
        ("/v1/radars?cursor=%FF%FE", "cursor"),
        (
            &format!("/v1/radars?radar_type={many_types},x"),
            "radar_type",
        ),
        ("/v1/radars?radar_type=", "radar_type"),
        ("/v1/radars?radar_status=%FF", "radar_status"),
        ("/v1/radars/bulk?cursor=..%2F", "cursor"),
        ("/v1/account?month=9999-99", "month"),
        ("/v1/account?month=%00", "month"),
    ] {
        let (status, answer) = call(&api, &key, "GET", path, Vec::new()).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(
            first_field(&answer, 400, "Invalid query parameter"),
            field,
            "{path}"
        );
    }
    // A long list of known types is a filter like any other.
    let (status, _) = call(
        &api,
        &key,
        "GET",
        &format!("/v1/radars?radar_type={many_types}"),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);

    for bad_key in ["", "ключ", &"k".repeat(10_000), "rbk_' OR 1=1 --"] {
        for (method, path) in [
            ("GET", "/v1/radars"),
            ("POST", "/v1/radars/industry"),
            ("GET", "/v1/account"),
        ] {
            let (status, answer) = call(&api, bad_key, method, path, b"{}".to_vec()).await;
            assert_eq!(status, 401, "{bad_key:?} {method} {path}");
            first_field(&answer, 401, "Invalid or inactive API key");
        }
    }
}

/// The single-create endpoint of an item's kind (by its type's name; the company one for a
/// type that names no kind).
fn endpoint(item: &Value) -> &'static str {
    match item["radar_type"].as_str().unwrap_or_default() {
        name if name.starts_with("contact_") => "/v1/radars/contacts",
        name if name.starts_with("industry_") => "/v1/radars/industry",
        _ => "/v1/radars/companies",
    }
}

#[tokio::test]
async fn a_single_create_answers_an_item_as_its_bulk_event_does() {
    let api = LocalApi::start(&[]).await;
    let key = api.account.api_key.clone();
    let items = vec![
        json!({"radar_type": "company_job_openings", "domain": "https://WWW.Both-Ways.com/jobs",
               "departments": [" Sales  Ops "], "custom_fields": {"crm": 1}}),
        json!({"radar_type": "contact_job_changes", "domain": "both-ways.com", "email": "A@Both-Ways.com"}),
        json!({"radar_type": "industry_job_openings", "keyword": "fin tech", "countries": ["US"]}),
        json!({"radar_type": "company_job_openings"}),
        json!({"radar_type": "company_reviews", "domain": "not a domain", "keyword": 7,
               "custom_fields": "x"}),
        json!({"radar_type": "contact_social_posts", "profile_url": "https://evil.com@127.0.0.1/x"}),
        json!({"radar_type": "industry_job_openings", "keyword": "", "countries": ["US", "DE", "FR", "GB", "ES", "IT"]}),
        json!({"radar_type": "industry_funding_rounds", "keyword": "x"}),
        json!({"radar_type": "no_such_type", "domain": "a.com"}),
        json!({"radar_type": "company_new_hires", "domain": "stri\u{200D}pe.com",
               "seniorities": [], "job_titles": 5}),
        json!({"radar_type": "contact_job_changes", "domain": "x.com"}),
    ];
    let (status, accepted) = call(
        &api,
        &key,
        "POST",
        "/v1/radars/bulk",
        json!({"webhook_url": api.webhook_url, "radars": items})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let bulk_id = accepted["bulk_id"].as_str().unwrap();
    let received = api.deliveries_until_completed(bulk_id).await;
    let completed = received
        .iter()
        .find(|r| r.body["update_type"] == "bulk_completed" && r.body["bulk_id"] == bulk_id)
        .unwrap();
    let events = completed.body["radars"].as_array().unwrap();
    let (mut refused, mut created) = (0, 0);
    for (item, event) in items.iter().zip(events) {
        let (status, answer) = call(
            &api,
            &key,
            "POST",
            endpoint(item),
            item.to_string().into_bytes(),
        )
        .await;
        if event["update_type"] == "radar_failure" {
            refused += 1;
            assert_eq!(event["code"], 400, "{event}");
            assert_eq!(status, 400, "{item}: {answer}");
            assert_eq!(answer["errors"], event["errors"], "{item}");
        } else {
            // Created by the bulk: the same target again is the one identity rule's 409,
            // naming the bulk's radar; and that radar reads back as the bulk created it.
            created += 1;
            let radar_id = event["data"]["radar_id"].as_str().unwrap();
            assert_eq!(status, 409, "{item}: {answer}");
            assert_eq!(answer["errors"][0]["conflicting_radar_id"], radar_id);
            let (status, read) = call(
                &api,
                &key,
                "GET",
                &format!("/v1/radars/{radar_id}"),
                Vec::new(),
            )
            .await;
            assert_eq!(status, 200, "{read}");
            for field in [
                "radar_id",
                "radar_type",
                "domain",
                "created_at",
                "custom_fields",
            ] {
                assert_eq!(read["data"][field], event["data"][field], "{field}");
            }
            assert_eq!(read["data"]["webhook_url"], api.webhook_url.as_str());
        }
    }
    assert_eq!((created, refused), (3, 8));
}
