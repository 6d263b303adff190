//! Tests of the radar module, by idea: whole items, each kind's rules, normalisation and the
//! created radar's data. Identity, the type table and the value newtypes test themselves in
//! their own files.

mod company;
mod contact;
mod data;
mod industry;
mod items;
mod normalise;

use serde_json::{Value, json};

use super::{CompanyFilters, Keyword, Radar, Target, types::RADAR_TYPES};

/// Every `(field, reason)` the item is refused with.
fn errors(item: &Value) -> Vec<(String, String)> {
    Radar::parse(item)
        .expect_err("item should be refused")
        .into_iter()
        .map(|e| (e.field, e.reason))
        .collect()
}

fn fields(item: &Value) -> Vec<String> {
    errors(item).into_iter().map(|(field, _)| field).collect()
}

fn pair(field: &str, reason: &str) -> (String, String) {
    (field.to_owned(), reason.to_owned())
}

fn not_supported(field: &str, radar_type: &str) -> (String, String) {
    pair(field, &format!("Not supported for radar_type {radar_type}"))
}

fn minimal(radar_type: &str) -> Value {
    match radar_type {
        "contact_job_changes" => {
            json!({"radar_type": radar_type, "domain": "openai.com", "full_name": "Ada"})
        }
        "contact_social_posts" | "contact_social_engagements" => {
            json!({"radar_type": radar_type, "profile_url": "https://linkedin.com/in/ada"})
        }
        "industry_mentions" | "industry_job_openings" => {
            json!({"radar_type": radar_type, "keyword": "fintech"})
        }
        t if t.starts_with("industry_") => json!({"radar_type": radar_type}),
        _ => json!({"radar_type": radar_type, "domain": "stripe.com"}),
    }
}
