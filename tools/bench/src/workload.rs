//! What the benchmarks submit: the largest body the API takes (1000 items, close to 1 MB) and
//! small typical ones, each item unique so that none is a 409.

use serde_json::{Value, json};

/// Item `i` of bulk `bulk` as large as 1000 items of a 1 MB body allow: a contact radar with
/// every identifier and a long custom field.
pub fn large_item(bulk: usize, i: usize) -> Value {
    json!({
        "radar_type": "contact_job_changes",
        "domain": format!("company-{bulk}-{i}.example.com"),
        "profile_url": format!("https://www.linkedin.com/in/person-{bulk}-{i}"),
        "email": format!("person.{i}@company-{bulk}-{i}.example.com"),
        "custom_fields": {"crm_account_id": format!("acc_{i:06}"), "note": "x".repeat(760)}
    })
}

/// A typical item: a company radar carrying a CRM id.
pub fn small_item(bulk: usize, i: usize) -> Value {
    json!({
        "radar_type": "company_job_openings",
        "domain": format!("c{bulk}-{i}.example.com"),
        "custom_fields": {"crm_account_id": format!("acc_{i:06}")}
    })
}

/// An item every check refuses: a 400 outcome.
pub fn invalid_item(_bulk: usize, _i: usize) -> Value {
    json!({"radar_type": "company_job_openings", "domain": "not a domain"})
}

/// A submission body of 1000 items made by `item`.
pub fn body(webhook_url: &str, bulk: usize, item: fn(usize, usize) -> Value) -> String {
    sized(webhook_url, bulk, 1000, item)
}

/// A submission body of `items` items made by `item`.
pub fn sized(
    webhook_url: &str,
    bulk: usize,
    items: usize,
    item: fn(usize, usize) -> Value,
) -> String {
    let radars: Vec<Value> = (0..items).map(|i| item(bulk, i)).collect();
    json!({"webhook_url": webhook_url, "radars": radars}).to_string()
}
