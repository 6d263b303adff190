//! The submit envelope under hostile bodies.

use proptest::{collection::vec, prelude::*};
use serde_json::{Value, json};
use shared::{
    submission::{MAX_BODY_BYTES, Submission},
    webhook_url::WebhookPolicy,
};

use crate::{
    assert_documented_400,
    strategies::{domainish, hostile_text, item, json},
};

const POLICY: WebhookPolicy = WebhookPolicy {
    allow_insecure_loopback: false,
    api_hosts: &[],
};

/// The fields an envelope refusal may name.
fn is_envelope_field(field: &str) -> bool {
    matches!(field, "body" | "webhook_url" | "radars")
        || field
            .strip_prefix("radars[")
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|index| index.parse::<u32>().is_ok())
}

/// Parses `body`; a refusal must be the documented 400.
fn parse(body: &[u8]) -> Option<Submission> {
    match Submission::parse(body, POLICY) {
        Ok(submission) => Some(submission),
        Err(errors) => {
            assert_documented_400(&errors, is_envelope_field);
            None
        }
    }
}

/// The `(field, reason)` pairs a body is refused with.
fn refusal(body: &[u8]) -> Vec<(String, String)> {
    Submission::parse(body, POLICY)
        .expect_err("the body should be refused")
        .into_iter()
        .map(|e| (e.field, e.reason))
        .collect()
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_get_the_documented_400(body in vec(any::<u8>(), 0..512)) {
        parse(&body);
    }

    #[test]
    fn arbitrary_json_gets_the_documented_400(value in json()) {
        parse(value.to_string().as_bytes());
    }

    #[test]
    fn a_body_cut_anywhere_gets_the_documented_400(
        radars in vec(item(), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cutting a valid body, possibly inside a multi-byte character, leaves invalid JSON
        // (or invalid UTF-8) behind.
        let body = json!({"webhook_url": "https://example.com/hook", "radars": radars}).to_string();
        let at = cut.index(body.len());
        prop_assert!(Submission::parse(&body.as_bytes()[..at], POLICY).is_err());
        parse(&body.as_bytes()[..at]);
    }

    #[test]
    fn an_accepted_envelope_has_a_public_https_url_and_every_item_in_order(
        webhook_url in prop_oneof![
            domainish().prop_map(|host| format!("https://{host}/hook")),
            hostile_text(40),
        ],
        radars in vec(prop_oneof![item(), json()], 0..6),
    ) {
        let body = json!({"webhook_url": webhook_url, "radars": radars});
        if let Some(submission) = parse(body.to_string().as_bytes()) {
            prop_assert!(submission.webhook_url.as_str().starts_with("https://"));
            prop_assert_eq!(submission.items.len(), radars.len());
            for (item, sent) in submission.items.iter().zip(&radars) {
                let stored: Value = serde_json::from_str(item.radar.get()).unwrap();
                prop_assert_eq!(&stored, sent);
                let custom: Value = serde_json::from_str(&item.custom_fields).unwrap();
                prop_assert!(custom.is_object());
            }
        }
    }
}

#[test]
fn a_hundred_thousand_nested_arrays_are_a_400_not_a_stack_overflow() {
    let deep = nested_arrays(100_000);
    let found = refusal(deep.as_bytes());
    assert_eq!(found[0].0, "body");
    assert!(found[0].1.starts_with("Invalid JSON"), "{found:?}");

    for body in [
        format!(r#"{{"webhook_url":"https://a.io/h","radars":{deep}}}"#),
        format!(
            r#"{{"webhook_url":"https://a.io/h","radars":[{{"custom_fields":{{"a":{deep}}}}}]}}"#
        ),
        format!(r#"{{"webhook_url":{deep},"radars":[{{}}]}}"#),
    ] {
        let found = refusal(body.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "body");
        assert!(found[0].1.contains("recursion limit"), "{found:?}");
    }
}

#[test]
fn nesting_within_the_parser_limit_is_still_refused_past_the_item_limit() {
    // serde_json refuses a 128th level; the envelope, radars[], the item and custom_fields are
    // 4 of them. Such an item parses, but is deeper than an item may be.
    let inner = nested_arrays(123);
    let body = format!(
        r#"{{"webhook_url":"https://a.io/h","radars":[{{"custom_fields":{{"a":{inner}}}}}]}}"#
    );
    let found = refusal(body.as_bytes());
    assert_eq!(found[0].0, "radars[0]");
    assert!(found[0].1.contains("32-level limit"), "{found:?}");
}

#[test]
fn numbers_beyond_f64_are_a_400_and_large_ones_are_kept() {
    for number in ["1e400", "-1e400", "1e99999999999999999999"] {
        let body = format!(r#"{{"webhook_url":"https://a.io/h","radars":[{{"n":{number}}}]}}"#);
        let found = refusal(body.as_bytes());
        assert_eq!(found[0].0, "body", "{number}");
        assert!(found[0].1.contains("number out of range"), "{found:?}");
    }
    let huge = "9".repeat(300);
    let body = format!(
        r#"{{"webhook_url":"https://a.io/h","radars":[{{"custom_fields":{{"n":{huge}}}}}]}}"#
    );
    // Integers past u64 become floats; still a number, still one item.
    assert_eq!(parse(body.as_bytes()).expect("accepted").items.len(), 1);
}

#[test]
fn invalid_utf8_and_lone_surrogates_are_a_400() {
    let mut body = br#"{"webhook_url":"https://a.io/h","radars":[{"domain":"a"#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc0, 0x80]);
    body.extend_from_slice(br#".com"}]}"#);
    assert_eq!(refusal(&body)[0].0, "body");
    let surrogate = br#"{"webhook_url":"https://a.io/h","radars":[{"keyword":"\ud800"}]}"#;
    assert_eq!(refusal(surrogate)[0].0, "body");
}

#[test]
fn huge_strings_are_refused_by_size() {
    let url = format!("https://a.io/{}", "a".repeat(MAX_BODY_BYTES / 2));
    let body = json!({"webhook_url": url, "radars": [{}]}).to_string();
    assert_eq!(
        refusal(body.as_bytes()),
        [("webhook_url".into(), "Invalid webhook URL format".into())]
    );
    let item = json!({"keyword": "k".repeat(MAX_BODY_BYTES / 2)});
    let body = json!({"webhook_url": "https://a.io/h", "radars": [item]}).to_string();
    assert_eq!(refusal(body.as_bytes())[0].0, "radars[0]");
    let body =
        json!({"webhook_url": "https://a.io/h", "radars": [{"k": "k".repeat(MAX_BODY_BYTES)}]});
    assert_eq!(refusal(body.to_string().as_bytes())[0].0, "body");
}

#[test]
fn a_float_in_custom_fields_is_kept_to_the_last_digit() {
    // Without serde_json's float_roundtrip this came back one unit in the last place off.
    let body = r#"{"webhook_url":"https://a.io/h","radars":[{"custom_fields":{"x":2.403859313751552e-77}}]}"#;
    let submission = parse(body.as_bytes()).expect("accepted");
    assert_eq!(
        submission.items[0].custom_fields,
        r#"{"x":2.403859313751552e-77}"#
    );
}
