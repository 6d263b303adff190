//! A single create's body under hostile input: [`SingleCreate::parse`] never panics, refuses
//! with the documented 400, and for a radar of the endpoint's kind says exactly what the bulk
//! item's parse says.

use proptest::prelude::*;
use serde_json::Value;
use shared::{
    radar::{Kind, Radar, RadarType},
    single::SingleCreate,
    submission::{MAX_ITEM_BYTES, MAX_ITEM_DEPTH},
    webhook_url::WebhookPolicy,
};

use crate::{
    assert_documented_400,
    strategies::{item, json},
};

const POLICY: WebhookPolicy = WebhookPolicy {
    allow_insecure_loopback: false,
    api_hosts: &[],
};

/// Levels of nesting of `value`, a scalar being 1.
fn depth(value: &Value) -> usize {
    let inner = match value {
        Value::Array(values) => values.iter().map(depth).max(),
        Value::Object(fields) => fields.values().map(depth).max(),
        _ => return 1,
    };
    1 + inner.unwrap_or(0)
}

/// The kind of the item's `radar_type`, if it names a known type.
fn kind_of(item: &Value) -> Option<Kind> {
    let name = item.get("radar_type")?.as_str()?;
    RadarType::lookup(name).map(|radar_type| radar_type.kind)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_body_is_a_radar_or_the_documented_400_and_agrees_with_the_item_parse(
        body in prop_oneof![3 => item(), 1 => json()],
        endpoint in prop_oneof![Just(Kind::Company), Just(Kind::Contact), Just(Kind::Industry)],
    ) {
        let parsed = SingleCreate::parse(body.to_string().as_bytes(), endpoint, POLICY);
        if let Err(errors) = &parsed {
            assert_documented_400(errors, |field| field != "radars");
        }
        // Without a webhook_url of its own, a body of the endpoint's kind (or of no known kind)
        // within a bulk item's size and nesting limits is a bulk item: the same radar or the
        // same errors.
        let other_kind = kind_of(&body).is_some_and(|kind| kind != endpoint);
        let within_limits = body.to_string().len() <= MAX_ITEM_BYTES && depth(&body) <= MAX_ITEM_DEPTH;
        if body.is_object() && body.get("webhook_url").is_none() && !other_kind && within_limits {
            match (parsed, Radar::parse(&body)) {
                (Ok(single), Ok(radar)) => prop_assert_eq!(single.radar, radar),
                (Err(single), Err(item)) => prop_assert_eq!(single, item),
                (single, item) => prop_assert!(false, "{single:?} against {item:?}"),
            }
        }
    }
}
