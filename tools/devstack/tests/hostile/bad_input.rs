//! Bad input through the real handlers over HTTP: the documented envelope and never a 500 at
//! the door, and hostile items that pass the door each end in exactly one outcome.

use serde_json::{Value, json};

use crate::local::LocalApi;

/// Asserts the documented error envelope; returns the first error's field.
fn assert_envelope(body: &Value, code: u16, message: &str) -> String {
    test_support::assert_envelope_body(body, code, message);
    body["errors"][0]["field"]
        .as_str()
        .expect("an error names a field")
        .to_owned()
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Bodies submit must refuse, and the field each refusal names first.
fn hostile_bodies() -> Vec<(Vec<u8>, &'static str)> {
    let deep = nested_arrays(100_000);
    let mut invalid_utf8 = br#"{"webhook_url":"https://a.io/h","radars":[{"domain":"a"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xc0, 0x80]);
    invalid_utf8.extend_from_slice(br#".com"}]}"#);
    let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    vec![
        (Vec::new(), "body"),
        (b"\x00\x01\x02".to_vec(), "body"),
        (deep.clone().into_bytes(), "body"),
        (
            format!(r#"{{"webhook_url":"https://a.io/h","radars":[{{"custom_fields":{deep}}}]}}"#)
                .into_bytes(),
            "body",
        ),
        (invalid_utf8, "body"),
        (
            br#"{"webhook_url":"https://a.io/h","radars":[{"n":1e400}]}"#.to_vec(),
            "body",
        ),
        (
            br#"{"webhook_url":"https://a.io/h","radars":[{"k":"\ud800"}]}"#.to_vec(),
            "body",
        ),
        (vec![b' '; 1_048_577], "body"),
        (
            json!({"webhook_url": "https://a.io/h", "radars": too_many})
                .to_string()
                .into_bytes(),
            "radars",
        ),
        (
            json!({"webhook_url": "https://a.io/\u{202E}h ", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://[::ffff:169.254.169.254]/", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        // 169.254.169.254 in hexadecimal, octal and decimal (loopback is allowed here: the
        // local API accepts http:// webhooks to it).
        (
            json!({"webhook_url": "https://0xa9.0xfe.0xa9.0xfe/", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://0251.0376.0251.0376/", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://2852039166/", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://10.1/", "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": format!("https://{}.io/", "a".repeat(5000)), "radars": [{}]})
                .to_string()
                .into_bytes(),
            "webhook_url",
        ),
        (
            json!({"webhook_url": "https://a.io/h", "radars": [{"k": "x".repeat(70_000)}]})
                .to_string()
                .into_bytes(),
            "radars[0]",
        ),
        (
            format!(
                r#"{{"webhook_url":"https://a.io/h","radars":[{{"custom_fields":{{"a":{}}}}}]}}"#,
                nested_arrays(100)
            )
            .into_bytes(),
            "radars[0]",
        ),
        (
            json!({"webhook_url": "https://a.io/h", "radars": [[[[]]]]})
                .to_string()
                .into_bytes(),
            "radars[0]",
        ),
    ]
}

#[tokio::test]
async fn hostile_bodies_get_the_documented_400_over_http_never_a_500() {
    let api = LocalApi::start(&[]).await;
    for (body, field) in hostile_bodies() {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (status, answer) = api.submit(body).await;
        assert_eq!(status, 400, "{preview}: {answer}");
        assert_eq!(
            assert_envelope(&answer, 400, "Invalid request body"),
            field,
            "{preview}"
        );
    }

    for key in ["", "ключ", &"k".repeat(10_000), "rbk_' OR 1=1 --"] {
        let (status, answer) = api.submit_as(key, "{}", &[]).await;
        assert_eq!(status, 401, "{key:?}");
        assert_envelope(&answer, 401, "Invalid or inactive API key");
    }
    let (status, answer) = api
        .submit_as(
            &api.account.api_key,
            "{}",
            &[("idempotency-key", "not visible ascii")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_envelope(&answer, 400, "Invalid request body"),
        "Idempotency-Key"
    );
    for bulk_id in [
        "..%2F..%2Fetc",
        "%00",
        &"9".repeat(5000),
        "5f9da22e-4778-427c-b7e4-dab2a8d9d70g",
    ] {
        let (status, answer) = api.poll_as(&api.account.api_key, bulk_id).await;
        assert_eq!(status, 400, "{bulk_id}");
        assert_eq!(
            assert_envelope(&answer, 400, "Invalid path parameter"),
            "bulk_id"
        );
    }
}

#[tokio::test]
async fn hostile_items_that_pass_the_door_each_end_in_one_outcome() {
    let api = LocalApi::start(&[]).await;
    let odd = [
        "stri\u{200D}pe.com",
        "\u{202E}moc.elgoog",
        "аpple.com",
        "e\u{301}xample.com",
        "😀.com",
        "xn--.com",
        "xn--zz.com",
        "ｓｔｒｉｐｅ．ｃｏｍ",
        &format!("{}.com", "a".repeat(64)),
        "a.b\u{0000}.com",
    ];
    let mut radars: Vec<Value> = odd
        .iter()
        .map(|domain| json!({"radar_type": "company_reviews", "domain": domain}))
        .collect();
    radars.extend([
        json!({"radar_type": "industry_mentions", "keyword": "\u{200B}\u{200B}\u{200B}"}),
        json!({"radar_type": "industry_job_openings", "keyword": "fin\u{200D}tech", "countries": vec!["\u{0}"; 6]}),
        json!({"radar_type": "contact_social_posts", "profile_url": "https://evil.com@127.0.0.1/x"}),
        json!({"radar_type": "company_mentions", "domain": 1e308, "custom_fields": {"n": 1e308, "m": -0.0}}),
        json!({"radar_type": "company_mentions", "domain": "deep.example", "custom_fields": {"a": serde_json::from_str::<Value>(&nested_arrays(29)).unwrap()}}),
    ]);
    let total = radars.len();
    let (status, accepted) = api
        .submit(json!({"webhook_url": api.webhook_url, "radars": radars}).to_string())
        .await;
    assert_eq!(status, 202, "{accepted}");
    let bulk_id = accepted["bulk_id"].as_str().unwrap();

    let received = api.deliveries_until_completed(bulk_id).await;
    let completed = received
        .iter()
        .find(|r| r.body["update_type"] == "bulk_completed")
        .unwrap();
    assert_eq!(completed.body["summary"]["total"], total);
    let outcomes = completed.body["radars"].as_array().unwrap();
    let indexes: Vec<u64> = outcomes
        .iter()
        .map(|o| o["item_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, (0..total as u64).collect::<Vec<_>>());
    for outcome in outcomes {
        assert_ne!(outcome["code"], 500, "{outcome}");
        if outcome["update_type"] == "radar_failure" {
            assert_envelope_in_event(outcome);
        }
    }
    let (status, polled) = api.poll_as(&api.account.api_key, bulk_id).await;
    assert_eq!(status, 200);
    assert_eq!(&polled["radars"], &completed.body["radars"]);
}

fn assert_envelope_in_event(event: &Value) {
    assert_eq!(event["status"], "error");
    assert!(matches!(event["code"].as_u64(), Some(400 | 409)), "{event}");
    assert!(!event["errors"].as_array().unwrap().is_empty());
    assert!(
        event["error_id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
}
