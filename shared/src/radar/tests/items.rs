use super::*;

#[test]
fn every_radar_type_accepts_a_minimal_valid_item() {
    for row in &RADAR_TYPES {
        let radar = Radar::parse(&minimal(row.name))
            .unwrap_or_else(|e| panic!("{} refused: {e:?}", row.name));
        assert_eq!(radar.radar_type().name, row.name);
    }
}

#[test]
fn custom_fields_and_unknown_keys_are_ignored() {
    let item = json!({"radar_type": "company_reviews", "domain": "stripe.com",
                      "custom_fields": {"domain": 7}, "colour": "blue", "notes": [1]});
    assert!(Radar::parse(&item).is_ok());
}

#[test]
fn custom_fields_that_are_not_an_object_are_refused() {
    for custom_fields in [json!([1]), json!("crm"), json!(7), json!(true)] {
        let item = json!({"radar_type": "company_reviews", "domain": "stripe.com",
                          "custom_fields": custom_fields});
        assert_eq!(errors(&item), [pair("custom_fields", "Must be an object")]);
    }
    let absent = json!({"radar_type": "company_reviews", "domain": "stripe.com",
                        "custom_fields": null});
    assert!(Radar::parse(&absent).is_ok());
}

#[test]
fn a_missing_radar_type_is_required() {
    assert_eq!(
        errors(&json!({"domain": "stripe.com"})),
        [pair("radar_type", "Field is required")]
    );
    assert_eq!(
        errors(&json!({"radar_type": null})),
        [pair("radar_type", "Field is required")]
    );
}

#[test]
fn an_unknown_radar_type_is_reported_alone_with_the_supported_list() {
    for radar_type in [json!("company_jobs"), json!(7), json!(["company_reviews"])] {
        let found = errors(&json!({"radar_type": radar_type, "domain": 3, "keyword": "x"}));
        assert_eq!(found.len(), 1, "{radar_type}");
        assert_eq!(found[0].0, "radar_type");
        assert!(
            found[0].1.starts_with(
                "Unsupported radar_type. Must be one of: company_job_openings, company_new_hires, "
            ),
            "{}",
            found[0].1
        );
        assert!(found[0].1.ends_with("industry_job_openings"));
    }
}

#[test]
fn several_failing_fields_are_reported_at_once() {
    let item = json!({"radar_type": "company_job_openings", "domain": "not a domain",
                      "keyword": "fintech", "departments": "sales", "seniorities": ["vp", ""],
                      "job_titles": 7, "email": "a@b.com"});
    assert_eq!(
        errors(&item),
        [
            not_supported("email", "company_job_openings"),
            not_supported("keyword", "company_job_openings"),
            pair(
                "domain",
                "Invalid domain format. Please provide a valid domain (e.g., example.com)"
            ),
            pair("job_titles", "Must be a string"),
            pair("departments", "Must be an array of strings"),
            pair("seniorities", "Must be an array of non-empty strings"),
        ]
    );
}

#[test]
fn an_item_that_is_not_an_object_is_refused() {
    assert_eq!(
        errors(&json!(["company_reviews"])),
        [pair("radar", "Must be a JSON object")]
    );
}

#[test]
fn custom_fields_echo_the_object_given_else_an_empty_one() {
    let echo = |item: Value| super::super::custom_fields(&item).into_owned();
    assert_eq!(echo(json!({"custom_fields": {"a": 1}})), json!({"a": 1}));
    assert_eq!(echo(json!({"custom_fields": [1]})), json!({}));
    assert_eq!(echo(json!({})), json!({}));
    assert_eq!(super::super::NO_CUSTOM_FIELDS, json!({}).to_string());
}
