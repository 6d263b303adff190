use super::*;

#[test]
fn contact_job_changes_needs_a_domain_and_one_identifier() {
    assert_eq!(
        errors(&json!({"radar_type": "contact_job_changes"})),
        [
            pair("domain", "Field is required"),
            pair(
                "identifiers",
                "At least one of email, profile_url or full_name is required for radar_type \
                 contact_job_changes"
            ),
        ]
    );
    for identifier in [
        json!({"email": "ada@openai.com"}),
        json!({"profile_url": "https://linkedin.com/in/ada"}),
        json!({"full_name": "Ada Lovelace"}),
    ] {
        let mut item = json!({"radar_type": "contact_job_changes", "domain": "openai.com"});
        item.as_object_mut()
            .unwrap()
            .extend(identifier.as_object().unwrap().clone());
        assert!(Radar::parse(&item).is_ok(), "{identifier}");
    }
}

#[test]
fn every_contact_identifier_given_is_validated() {
    let item = json!({"radar_type": "contact_job_changes", "domain": "openai.com",
                      "email": "ada@", "profile_url": "linkedin.com/in/ada",
                      "full_name": "x".repeat(201)});
    assert_eq!(
        errors(&item),
        [
            pair(
                "email",
                "Invalid email format. Please provide a valid email address (e.g., jane@example.com)"
            ),
            pair(
                "profile_url",
                "Invalid profile_url format. Please provide an absolute http or https URL \
                 (e.g., https://www.linkedin.com/in/example)"
            ),
            pair("full_name", "Must be at most 200 characters"),
        ]
    );
    let item = json!({"radar_type": "contact_job_changes", "domain": "openai.com",
                      "full_name": "  ", "email": 5});
    assert_eq!(
        fields(&item),
        ["email", "full_name"],
        "an identifier that is given but invalid is its own error, not a missing one"
    );
}

#[test]
fn contact_social_types_need_a_profile_url_and_take_an_optional_domain() {
    for radar_type in ["contact_social_posts", "contact_social_engagements"] {
        assert_eq!(
            errors(&json!({"radar_type": radar_type, "email": "ada@openai.com"})),
            [pair("profile_url", "Field is required")]
        );
        let item = json!({"radar_type": radar_type, "domain": "bad_domain",
                          "profile_url": "https://linkedin.com/in/ada"});
        assert_eq!(fields(&item), ["domain"]);
        let item = json!({"radar_type": radar_type, "domain": "openai.com",
                          "profile_url": "https://linkedin.com/in/ada", "full_name": "Ada"});
        assert!(Radar::parse(&item).is_ok());
    }
}

#[test]
fn contact_radars_refuse_company_and_industry_fields() {
    let item = json!({"radar_type": "contact_social_posts",
                      "profile_url": "https://linkedin.com/in/ada",
                      "keyword": "ai", "departments": ["Sales"], "countries": []});
    assert_eq!(
        errors(&item),
        [
            not_supported("keyword", "contact_social_posts"),
            not_supported("countries", "contact_social_posts"),
            not_supported("departments", "contact_social_posts"),
        ]
    );
}
