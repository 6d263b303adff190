use super::*;

const ID: &str = "2ffb1a07-ac95-4a6d-bc34-39f479f1c856";
const AT: &str = "2026-05-25T11:17:20Z";

fn data(item: &Value, custom_fields: Value) -> Value {
    let radar = Radar::parse(item).expect("item should be valid");
    let data = radar.data(ID.parse().unwrap(), AT.to_owned(), custom_fields);
    serde_json::to_value(data).unwrap()
}

#[test]
fn company_data_echoes_the_normalised_domain() {
    let item = json!({"radar_type": "company_job_openings", "domain": "https://www.Stripe.com/",
                      "custom_fields": {"crm_account_id": "acc_001"}});
    assert_eq!(
        data(&item, json!({"crm_account_id": "acc_001"})),
        json!({"radar_id": ID, "radar_type": "company_job_openings", "domain": "stripe.com",
               "radar_status": "active", "created_at": AT,
               "custom_fields": {"crm_account_id": "acc_001"}})
    );
}

#[test]
fn contact_data_carries_only_the_identifiers_given() {
    let item = json!({"radar_type": "contact_job_changes", "domain": "OpenAI.com",
                      "profile_url": "https://www.linkedin.com/in/example/?trk=x"});
    assert_eq!(
        data(&item, json!({})),
        json!({"radar_id": ID, "radar_type": "contact_job_changes", "domain": "openai.com",
               "radar_status": "active", "created_at": AT, "custom_fields": {},
               "profile_url": "https://linkedin.com/in/example"})
    );
    let item = json!({"radar_type": "contact_social_posts",
                      "profile_url": "https://x.com/jane", "email": "Jane@X.com",
                      "full_name": "  Jane   Doe "});
    assert_eq!(
        data(&item, json!({})),
        json!({"radar_id": ID, "radar_type": "contact_social_posts", "domain": null,
               "radar_status": "active", "created_at": AT, "custom_fields": {},
               "email": "jane@x.com", "profile_url": "https://x.com/jane",
               "full_name": "Jane Doe"})
    );
}

#[test]
fn industry_data_has_a_null_domain_and_the_keyword_if_any() {
    let item = json!({"radar_type": "industry_mentions", "keyword": "  Fintech   AI "});
    assert_eq!(
        data(&item, json!({"segment": "fintech"})),
        json!({"radar_id": ID, "radar_type": "industry_mentions", "domain": null,
               "radar_status": "active", "created_at": AT,
               "custom_fields": {"segment": "fintech"}, "keyword": "Fintech AI"})
    );
    let item = json!({"radar_type": "industry_funding_rounds"});
    assert_eq!(
        data(&item, json!({})),
        json!({"radar_id": ID, "radar_type": "industry_funding_rounds", "domain": null,
               "radar_status": "active", "created_at": AT, "custom_fields": {}})
    );
}

#[test]
fn data_fields_follow_the_spec_order() {
    let radar =
        Radar::parse(&json!({"radar_type": "company_job_openings", "domain": "stripe.com"}))
            .unwrap();
    let text =
        serde_json::to_string(&radar.data(ID.parse().unwrap(), AT.into(), json!({}))).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"radar_id":"{ID}","radar_type":"company_job_openings","domain":"stripe.com","radar_status":"active","created_at":"{AT}","custom_fields":{{}}}}"#
        )
    );
}

#[test]
fn the_cost_comes_from_the_type_table() {
    let radar = Radar::parse(&json!({"radar_type": "industry_new_companies"})).unwrap();
    assert_eq!(radar.cost(), 1);
    assert_eq!(radar.cost(), radar.radar_type().cost);
}
