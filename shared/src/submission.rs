//! Parsing a `POST /v1/radars/bulk` body into a [`Submission`].
//!
//! Submit checks the envelope only (`webhook_url`, `radars[]`, sizes); each item's own fields
//! are the processor's to validate, one outcome per item. Every problem found is reported at
//! once, one `{field, reason}` each.

use serde_json::{Map, Value, value::RawValue};
use sha2::{Digest, Sha256};

use crate::{
    FieldError,
    radar::Radar,
    webhook_url::{self, WebhookPolicy, WebhookUrl},
};

/// Largest body accepted, in bytes (1 MB).
pub const MAX_BODY_BYTES: usize = 1_048_576;
/// Most items in one submission.
pub const MAX_ITEMS: usize = 1000;
/// Largest single item, as compact JSON. An item is stored, queued and echoed in its events
/// (`custom_fields` twice): this keeps each record well under DynamoDB's 400 KB item limit and
/// each message under SQS's 256 KiB.
pub const MAX_ITEM_BYTES: usize = 65_536;
/// Deepest nesting of one item, the item itself being level 1. Its `custom_fields` come back
/// in events up to four levels deeper (`bulk_completed.radars[].data.custom_fields`); without
/// a limit, an item at serde_json's 128 levels makes a `bulk_completed` that serde_json, and
/// so the customer's parser, may refuse.
pub const MAX_ITEM_DEPTH: usize = 32;

/// An accepted envelope: where to send events, and the items in submission order.
#[derive(Debug)]
pub struct Submission {
    pub webhook_url: WebhookUrl,
    pub items: Vec<SubmittedItem>,
}

/// One item of `radars[]`, kept as the client sent it.
#[derive(Debug, Clone)]
pub struct SubmittedItem {
    pub index: u32,
    /// The item as compact JSON.
    pub radar: Box<RawValue>,
    /// The item's `custom_fields` as compact JSON: `{}` when absent or not an object.
    pub custom_fields: String,
}

impl Submission {
    pub fn parse(body: &[u8], policy: WebhookPolicy) -> Result<Self, Vec<FieldError>> {
        if body.len() > MAX_BODY_BYTES {
            return Err(vec![FieldError::new(
                "body",
                format!("Request body exceeds the {MAX_BODY_BYTES}-byte (1 MB) limit"),
            )]);
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| vec![FieldError::new("body", format!("Invalid JSON: {e}"))])?;
        let Value::Object(envelope) = &value else {
            return Err(vec![FieldError::new("body", "Must be a JSON object")]);
        };

        let mut errors = Vec::new();
        let webhook_url = parse_webhook_url(envelope, policy)
            .map_err(|e| errors.push(e))
            .ok();
        let items = parse_radars(envelope, &mut errors);
        match (webhook_url, errors.is_empty()) {
            (Some(webhook_url), true) => Ok(Self { webhook_url, items }),
            _ => Err(errors),
        }
    }
}

impl Submission {
    /// SHA-256 over the webhook URL and each item's canonical JSON (keys sorted, no white
    /// space): two bodies that say the same thing have the same fingerprint, for
    /// `Idempotency-Key` checks. Computed only when a request carries a key.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.webhook_url.as_str().as_bytes());
        for item in &self.items {
            // A separator no JSON text contains, so item boundaries cannot shift.
            hash.update(b"\0");
            hash.update(item.radar.get().as_bytes());
        }
        hex::encode(hash.finalize())
    }
}

/// What the valid items of a submission cost, in credits: what accepting it reserves. An item
/// the processor will refuse as invalid costs nothing; it is priced by the very parse that
/// validates it there.
pub fn price(items: &[SubmittedItem]) -> i64 {
    items
        .iter()
        .filter_map(|item| serde_json::from_str::<Value>(item.radar.get()).ok())
        .filter_map(|json| Radar::parse(&json).ok())
        .map(|radar| radar.cost())
        .sum()
}

fn parse_webhook_url(
    envelope: &Map<String, Value>,
    policy: WebhookPolicy,
) -> Result<WebhookUrl, FieldError> {
    match envelope.get("webhook_url") {
        None | Some(Value::Null) => Err(FieldError::new("webhook_url", "Field is required")),
        Some(Value::String(raw)) => WebhookUrl::parse(raw, policy),
        Some(_) => Err(FieldError::new("webhook_url", webhook_url::INVALID_FORMAT)),
    }
}

fn parse_radars(envelope: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Vec<SubmittedItem> {
    let radars = match envelope.get("radars") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("radars", "Field is required"));
            return Vec::new();
        }
        Some(Value::Array(radars)) => radars,
        Some(_) => {
            errors.push(FieldError::new(
                "radars",
                "Must be an array of radar objects",
            ));
            return Vec::new();
        }
    };
    if radars.is_empty() {
        errors.push(FieldError::new("radars", "Must contain at least 1 radar"));
        return Vec::new();
    }
    if radars.len() > MAX_ITEMS {
        errors.push(FieldError::new(
            "radars",
            format!(
                "Must contain at most {MAX_ITEMS} radars (got {})",
                radars.len()
            ),
        ));
        return Vec::new();
    }
    let mut items = Vec::with_capacity(radars.len());
    for (index, radar) in (0u32..).zip(radars) {
        let field = || format!("radars[{index}]");
        let Value::Object(_) = radar else {
            errors.push(FieldError::new(field(), "Must be an object"));
            continue;
        };
        let Ok(json) = serde_json::value::to_raw_value(radar) else {
            errors.push(FieldError::new(field(), "Must be an object"));
            continue;
        };
        if json.get().len() > MAX_ITEM_BYTES {
            errors.push(FieldError::new(
                field(),
                format!("Radar exceeds the {MAX_ITEM_BYTES}-byte limit for one item"),
            ));
            continue;
        }
        if depth(radar) > MAX_ITEM_DEPTH {
            errors.push(FieldError::new(
                field(),
                format!(
                    "Radar is nested deeper than the {MAX_ITEM_DEPTH}-level limit for one item"
                ),
            ));
            continue;
        }
        items.push(SubmittedItem {
            index,
            radar: json,
            custom_fields: crate::radar::custom_fields(radar).to_string(),
        });
    }
    items
}

/// Levels of nesting of `value`, a scalar being 1. serde_json refuses input nested deeper than
/// 128 levels, which bounds this recursion.
pub(crate) fn depth(value: &Value) -> usize {
    let inner = match value {
        Value::Array(values) => values.iter().map(depth).max(),
        Value::Object(fields) => fields.values().map(depth).max(),
        _ => return 1,
    };
    1 + inner.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: WebhookPolicy = WebhookPolicy {
        allow_insecure_loopback: false,
        api_hosts: &[],
    };

    fn errors(body: &[u8]) -> Vec<(String, String)> {
        Submission::parse(body, POLICY)
            .expect_err("body should be refused")
            .into_iter()
            .map(|e| (e.field, e.reason))
            .collect()
    }

    fn fields(body: &Value) -> Vec<String> {
        errors(body.to_string().as_bytes())
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    #[test]
    fn parses_the_spec_example() {
        let body = json!({
            "webhook_url": "https://your-domain.com/webhooks/tamradar",
            "radars": [
                {"radar_type": "company_job_openings", "domain": "stripe.com",
                 "custom_fields": {"crm_account_id": "acc_001"}},
                {"radar_type": "industry_funding_rounds"}
            ]
        });
        let submission = Submission::parse(body.to_string().as_bytes(), POLICY).unwrap();
        assert_eq!(
            submission.webhook_url.as_str(),
            "https://your-domain.com/webhooks/tamradar"
        );
        assert_eq!(submission.items.len(), 2);
        assert_eq!(
            submission.items[0].custom_fields,
            r#"{"crm_account_id":"acc_001"}"#
        );
        assert_eq!(submission.items[1].index, 1);
        assert_eq!(submission.items[1].custom_fields, "{}");
    }

    #[test]
    fn invalid_json_and_non_objects_are_body_errors() {
        assert_eq!(errors(b"{not json")[0].0, "body");
        assert!(errors(b"")[0].1.starts_with("Invalid JSON"));
        assert_eq!(
            errors(b"[1,2]"),
            [("body".to_owned(), "Must be a JSON object".to_owned())]
        );
    }

    #[test]
    fn reports_every_envelope_problem_at_once() {
        assert_eq!(fields(&json!({})), ["webhook_url", "radars"]);
        assert_eq!(
            fields(&json!({"webhook_url": 7, "radars": {"a": 1}})),
            ["webhook_url", "radars"]
        );
        assert_eq!(
            fields(&json!({"webhook_url": "https://x.io", "radars": [{}, 3, "s", {}, null]})),
            ["radars[1]", "radars[2]", "radars[4]"]
        );
    }

    #[test]
    fn radars_must_hold_between_1_and_1000_items() {
        let url = "https://example.com/hook";
        assert_eq!(
            fields(&json!({"webhook_url": url, "radars": []})),
            ["radars"]
        );
        let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
        let found = errors(
            json!({"webhook_url": url, "radars": too_many})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(
            found,
            [(
                "radars".into(),
                "Must contain at most 1000 radars (got 1001)".into()
            )]
        );
        let enough: Vec<Value> = (0..1000).map(|_| json!({})).collect();
        let body = json!({"webhook_url": url, "radars": enough}).to_string();
        assert_eq!(
            Submission::parse(body.as_bytes(), POLICY)
                .unwrap()
                .items
                .len(),
            1000
        );
    }

    #[test]
    fn bodies_over_one_megabyte_are_refused_before_parsing() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(errors(&body)[0].0, "body");
        assert!(errors(&body)[0].1.contains("1048576"));
    }

    #[test]
    fn an_oversized_item_is_named() {
        let big = "x".repeat(MAX_ITEM_BYTES);
        let body =
            json!({"webhook_url": "https://a.io", "radars": [{}, {"custom_fields": {"n": big}}]});
        assert_eq!(fields(&body), ["radars[1]"]);
    }

    #[test]
    fn an_item_nested_past_the_limit_is_named() {
        let nest = |levels: usize| (1..levels).fold(json!(1), |inner, _| json!([inner]));
        // The item is level 1 and custom_fields level 2.
        let fits = json!({"custom_fields": {"a": nest(MAX_ITEM_DEPTH - 2)}});
        let deep = json!({"custom_fields": {"a": nest(MAX_ITEM_DEPTH - 1)}});
        let body = json!({"webhook_url": "https://a.io", "radars": [fits, deep, {"x": nest(40)}]});
        assert_eq!(
            errors(body.to_string().as_bytes()),
            [
                (
                    "radars[1]".into(),
                    "Radar is nested deeper than the 32-level limit for one item".into()
                ),
                (
                    "radars[2]".into(),
                    "Radar is nested deeper than the 32-level limit for one item".into()
                ),
            ]
        );
    }

    #[test]
    fn the_fingerprint_ignores_formatting_and_key_order() {
        let a = br#"{"webhook_url":"https://a.io","radars":[{"domain":"x.com","radar_type":"t"}]}"#;
        let b = br#"{ "radars": [ {"radar_type": "t", "domain": "x.com"} ],
                      "webhook_url": "https://a.io" }"#;
        let c = br#"{"webhook_url":"https://a.io","radars":[{"domain":"y.com","radar_type":"t"}]}"#;
        let print = |body: &[u8]| Submission::parse(body, POLICY).unwrap().fingerprint();
        assert_eq!(print(a), print(b));
        assert_ne!(print(a), print(c));
    }
}
