//! One item under hostile fields: [`Radar::parse`] and the value parsers behind it.

use proptest::prelude::*;
use serde_json::Value;
use shared::radar::{
    Domain, Email, FullName, Keyword, ProfileUrl, Radar,
    normalise::MAX_DOMAIN_LEN,
    types::{FIELDS, FILTER_FIELDS},
    values::{
        INVALID_DOMAIN, INVALID_EMAIL, INVALID_PROFILE_URL, MAX_FULL_NAME_CHARS, MAX_KEYWORD_CHARS,
        MIN_KEYWORD_CHARS,
    },
};
use uuid::Uuid;

use crate::{
    assert_documented_400,
    strategies::{domainish, hostile_text, item, json},
};

/// The fields an item refusal may name.
fn is_item_field(field: &str) -> bool {
    FIELDS.contains(&field)
        || matches!(
            field,
            "radar_type" | "radar" | "identifiers" | "custom_fields"
        )
        || field
            .strip_prefix("filters.")
            .is_some_and(|inner| FILTER_FIELDS.contains(&inner))
}

/// A domain the API would store: ASCII, lowercase, at most 253 bytes, at least two labels of
/// 1-63 letters, digits and inner hyphens, and a top-level label that is alphabetic or punycode.
fn assert_canonical_host(host: &str) {
    assert!(host.len() <= MAX_DOMAIN_LEN, "{host}");
    let labels: Vec<&str> = host.split('.').collect();
    assert!(labels.len() >= 2, "{host}");
    for label in &labels {
        assert!((1..=63).contains(&label.len()), "{host}");
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{host}"
        );
        assert!(!label.starts_with('-') && !label.ends_with('-'), "{host}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_item_is_a_radar_or_the_documented_400(item in prop_oneof![3 => item(), 1 => json()]) {
        match Radar::parse(&item) {
            Ok(radar) => {
                let data = radar.data(Uuid::nil(), String::new(), Value::Null);
                prop_assert_eq!(data.radar_type.as_str(), radar.radar_type().name);
                if let Some(domain) = &data.domain {
                    assert_canonical_host(domain);
                }
            }
            Err(errors) => assert_documented_400(&errors, is_item_field),
        }
    }

    #[test]
    fn a_domain_normalises_to_a_canonical_host_once_and_for_all(raw in domainish()) {
        match Domain::parse(&raw) {
            Ok(domain) => {
                assert_canonical_host(domain.as_str());
                prop_assert_eq!(Domain::parse(domain.as_str()), Ok(domain));
            }
            Err(error) => {
                prop_assert_eq!(error.field, "domain");
                prop_assert_eq!(error.reason, INVALID_DOMAIN);
            }
        }
    }

    #[test]
    fn an_email_normalises_once_and_for_all(local in hostile_text(12), host in domainish()) {
        match Email::parse(&format!("{local}@{host}")) {
            Ok(email) => {
                let (_, host) = email.as_str().rsplit_once('@').expect("an @");
                assert_canonical_host(host);
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
            }
            Err(error) => prop_assert_eq!(error.reason, INVALID_EMAIL),
        }
    }

    #[test]
    fn a_profile_url_normalises_once_and_for_all(host in domainish(), path in hostile_text(16)) {
        for raw in [format!("https://{host}/in/{path}"), format!("{host}/{path}")] {
            match ProfileUrl::parse(&raw) {
                Ok(url) => {
                    let rest = url.as_str().strip_prefix("https://").expect("https");
                    let host = rest.split(['/', ':']).next().unwrap_or_default();
                    assert_canonical_host(host);
                    prop_assert_eq!(ProfileUrl::parse(url.as_str()), Ok(url));
                }
                Err(error) => prop_assert_eq!(error.reason, INVALID_PROFILE_URL),
            }
        }
    }

    #[test]
    fn keywords_and_names_are_checked_by_their_length_in_characters(raw in hostile_text(120)) {
        let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = collapsed.chars().count();
        match Keyword::parse(&raw) {
            Ok(keyword) => {
                prop_assert!((MIN_KEYWORD_CHARS..=MAX_KEYWORD_CHARS).contains(&chars));
                prop_assert_eq!(keyword.as_str(), collapsed.as_str());
                prop_assert_eq!(Keyword::parse(keyword.as_str()), Ok(keyword));
            }
            Err(error) => {
                prop_assert_eq!(error.field, "keyword");
                prop_assert!(!(MIN_KEYWORD_CHARS..=MAX_KEYWORD_CHARS).contains(&chars));
            }
        }
        match FullName::parse(&raw) {
            Ok(name) => {
                prop_assert!((1..=MAX_FULL_NAME_CHARS).contains(&chars));
                prop_assert_eq!(FullName::parse(name.as_str()), Ok(name));
            }
            Err(error) => prop_assert_eq!(error.field, "full_name"),
        }
    }
}

#[test]
fn deeply_nested_values_in_an_item_are_named_not_followed() {
    // Items reach Radar::parse through serde_json, which stops at 128 levels; a value nested
    // that deep in any field is refused as that field, without recursion on our side.
    let mut deep = Value::from("stripe.com");
    for _ in 0..120 {
        deep = Value::Array(vec![deep]);
    }
    for field in ["domain", "departments", "filters", "keyword"] {
        let item = serde_json::json!({"radar_type": "company_job_openings", "domain": "stripe.com", field: deep.clone()});
        let errors = Radar::parse(&item).expect_err("refused");
        assert_documented_400(&errors, is_item_field);
    }
}
