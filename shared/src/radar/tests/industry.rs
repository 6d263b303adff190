use super::*;

#[test]
fn industry_keywords_are_required_and_at_least_3_characters() {
    for radar_type in ["industry_mentions", "industry_job_openings"] {
        assert_eq!(
            errors(&json!({"radar_type": radar_type})),
            [pair("keyword", "Field is required")]
        );
        assert_eq!(
            errors(&json!({"radar_type": radar_type, "keyword": "  ai  "})),
            [pair("keyword", "Must be at least 3 characters")]
        );
        assert_eq!(
            errors(&json!({"radar_type": radar_type, "keyword": ["fintech"]})),
            [pair("keyword", "Must be a string")]
        );
        assert!(Radar::parse(&json!({"radar_type": radar_type, "keyword": "äöü"})).is_ok());
    }
}

#[test]
fn countries_are_only_for_industry_job_openings_and_at_most_5() {
    let openings = |countries: Value| {
        json!({"radar_type": "industry_job_openings", "keyword": "fintech",
               "countries": countries})
    };
    assert!(Radar::parse(&openings(json!(["US", "DE", "FR", "GB", "ES"]))).is_ok());
    assert_eq!(
        errors(&openings(json!(["US", "DE", "FR", "GB", "ES", "IT"]))),
        [pair("countries", "Must contain at most 5 countries")]
    );
    assert_eq!(
        errors(&openings(json!("US"))),
        [pair("countries", "Must be an array of strings")]
    );
    let radar = Radar::parse(&openings(json!([" US "]))).unwrap();
    assert_eq!(
        radar.target(),
        &Target::Industry {
            keyword: Some(Keyword::parse("fintech").unwrap()),
            countries: vec!["US".into()],
        }
    );
    let mentions = json!({"radar_type": "industry_mentions", "keyword": "fintech",
                          "countries": ["US"]});
    assert_eq!(
        errors(&mentions),
        [not_supported("countries", "industry_mentions")]
    );
}

#[test]
fn keywordless_industry_types_refuse_a_keyword_and_a_domain() {
    for radar_type in ["industry_funding_rounds", "industry_new_companies"] {
        let item = json!({"radar_type": radar_type, "keyword": "fintech",
                          "domain": "stripe.com"});
        assert_eq!(
            errors(&item),
            [
                not_supported("domain", radar_type),
                not_supported("keyword", radar_type),
            ]
        );
        let nulls = json!({"radar_type": radar_type, "keyword": null, "domain": null});
        assert!(Radar::parse(&nulls).is_ok(), "null counts as absent");
    }
}
