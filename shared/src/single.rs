//! Parsing a single create's body (`POST /v1/radars/companies`, `/contacts`, `/industry`).
//!
//! The body is one radar in the shape of a bulk item, plus an optional `webhook_url`. Its
//! radar is validated by the very parse a bulk item gets ([`Radar::parse`]), so the same input
//! gets the same `errors[]` either way; the size and nesting limits are a bulk item's too.
//! What only a single create can get wrong is its endpoint: a `radar_type` of another kind.

use serde_json::Value;

use crate::{
    FieldError,
    radar::{self, Kind, Radar, RadarType},
    submission::{MAX_ITEM_BYTES, MAX_ITEM_DEPTH, depth},
    webhook_url::{self, WebhookPolicy, WebhookUrl},
};

/// A valid single create.
#[derive(Debug)]
pub struct SingleCreate {
    pub radar: Radar,
    /// Where the radar's events would go; a radar without one is poll-only.
    pub webhook_url: Option<WebhookUrl>,
    /// What the radar echoes: the object given, else `{}`.
    pub custom_fields: Value,
}

impl SingleCreate {
    /// The body of a create at the endpoint of `kind`, or every problem with it at once.
    pub fn parse(body: &[u8], kind: Kind, policy: WebhookPolicy) -> Result<Self, Vec<FieldError>> {
        if body.len() > MAX_ITEM_BYTES {
            return Err(vec![FieldError::new(
                "body",
                format!("Request body exceeds the {MAX_ITEM_BYTES}-byte limit for one radar"),
            )]);
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| vec![FieldError::new("body", format!("Invalid JSON: {e}"))])?;
        let Value::Object(fields) = &value else {
            return Err(vec![FieldError::new("body", "Must be a JSON object")]);
        };
        if depth(&value) > MAX_ITEM_DEPTH {
            return Err(vec![FieldError::new(
                "body",
                format!(
                    "Radar is nested deeper than the {MAX_ITEM_DEPTH}-level limit for one radar"
                ),
            )]);
        }
        let mut errors = Vec::new();
        let webhook_url = match fields.get("webhook_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => WebhookUrl::parse(raw, policy)
                .map_err(|error| errors.push(error))
                .ok(),
            Some(_) => {
                errors.push(FieldError::new("webhook_url", webhook_url::INVALID_FORMAT));
                None
            }
        };
        // A type of another kind belongs to another endpoint: that is all there is to say, as
        // an unknown type is all a bulk item's parse says.
        let other_kind = fields
            .get("radar_type")
            .and_then(Value::as_str)
            .and_then(RadarType::lookup)
            .filter(|radar_type| radar_type.kind != kind);
        let radar = if other_kind.is_some() {
            errors.push(FieldError::new(
                "radar_type",
                format!(
                    "Not a {} radar type. This endpoint creates: {}",
                    kind.name(),
                    RadarType::names_of(kind)
                ),
            ));
            None
        } else {
            Radar::parse(&value)
                .map_err(|mut refused| errors.append(&mut refused))
                .ok()
        };
        match radar {
            Some(radar) if errors.is_empty() => Ok(Self {
                radar,
                webhook_url,
                custom_fields: radar::custom_fields(&value).into_owned(),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: WebhookPolicy = WebhookPolicy {
        allow_insecure_loopback: false,
        api_hosts: &[],
    };

    fn fields(body: &Value, kind: Kind) -> Vec<String> {
        SingleCreate::parse(body.to_string().as_bytes(), kind, POLICY)
            .unwrap_err()
            .into_iter()
            .map(|error| error.field)
            .collect()
    }

    #[test]
    fn a_valid_body_parses_with_or_without_a_webhook() {
        let body = json!({"radar_type": "company_job_openings", "domain": "Stripe.com",
                          "custom_fields": {"crm": 7}});
        let parsed =
            SingleCreate::parse(body.to_string().as_bytes(), Kind::Company, POLICY).unwrap();
        assert!(parsed.webhook_url.is_none());
        assert_eq!(parsed.custom_fields, json!({"crm": 7}));
        let with_url = json!({"radar_type": "industry_mentions", "keyword": "fintech",
                              "webhook_url": "https://example.com/hook"});
        let parsed =
            SingleCreate::parse(with_url.to_string().as_bytes(), Kind::Industry, POLICY).unwrap();
        assert_eq!(
            parsed.webhook_url.map(|url| url.as_str().to_owned()),
            Some("https://example.com/hook".into())
        );
    }

    #[test]
    fn a_type_of_another_kind_is_refused_alone() {
        let body = json!({"radar_type": "contact_job_changes"});
        assert_eq!(fields(&body, Kind::Company), ["radar_type"]);
        assert_eq!(fields(&body, Kind::Contact), ["domain", "identifiers"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body = json!({"radar_type": "company_job_openings", "webhook_url": 5});
        assert_eq!(fields(&body, Kind::Company), ["webhook_url", "domain"]);
        for (raw, kind) in [("[1]", Kind::Company), ("{", Kind::Industry)] {
            let errors = SingleCreate::parse(raw.as_bytes(), kind, POLICY).unwrap_err();
            assert_eq!(errors[0].field, "body", "{raw}");
        }
    }
}
