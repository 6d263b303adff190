use super::*;

#[test]
fn a_company_radar_needs_a_valid_domain() {
    let item = |domain: Value| json!({"radar_type": "company_mentions", "domain": domain});
    assert_eq!(
        errors(&json!({"radar_type": "company_mentions"})),
        [pair("domain", "Field is required")]
    );
    assert_eq!(
        errors(&item(json!(null))),
        [pair("domain", "Field is required")]
    );
    assert_eq!(
        errors(&item(json!(42))),
        [pair("domain", "Must be a string")]
    );
    for bad in ["", "localhost", "a..b.com", "-a.com", "1.2.3.4"] {
        assert_eq!(
            errors(&item(json!(bad))),
            [pair(
                "domain",
                "Invalid domain format. Please provide a valid domain (e.g., example.com)"
            )],
            "{bad:?}"
        );
    }
}

#[test]
fn company_filters_are_accepted_at_the_top_level_or_in_a_filters_object() {
    let top = json!({"radar_type": "company_new_hires", "domain": "stripe.com",
                     "departments": [" Sales ", "Engineering"], "seniorities": ["VP"],
                     "job_titles": " Head  of Sales "});
    let nested = json!({"radar_type": "company_new_hires", "domain": "stripe.com",
                        "filters": {"departments": ["Sales", "Engineering"],
                                    "seniorities": ["VP"], "job_titles": "Head of Sales"}});
    let expected = CompanyFilters {
        departments: Some(vec!["Sales".into(), "Engineering".into()]),
        seniorities: Some(vec!["VP".into()]),
        job_titles: Some("Head of Sales".into()),
    };
    for item in [top, nested] {
        let radar = Radar::parse(&item).unwrap();
        let Target::Company { filters, .. } = radar.target() else {
            panic!("a company target");
        };
        assert_eq!(filters, &expected);
    }
}

#[test]
fn errors_inside_filters_are_named_by_their_path() {
    let item = json!({"radar_type": "company_promotions", "domain": "stripe.com",
                      "seniorities": ["VP"],
                      "filters": {"departments": [1], "job_titles": " ", "seniorities": ["CTO"],
                                  "other": true}});
    assert_eq!(
        errors(&item),
        [
            pair("filters.job_titles", "Must not be empty"),
            pair("filters.departments", "Must be an array of strings"),
            pair(
                "filters.seniorities",
                "Also given at the top level of the radar; give it in one place"
            ),
        ]
    );
    let item = json!({"radar_type": "company_promotions", "domain": "stripe.com",
                      "filters": ["Sales"]});
    assert_eq!(errors(&item), [pair("filters", "Must be an object")]);
}

#[test]
fn filters_on_other_company_types_are_not_supported() {
    let item = json!({"radar_type": "company_reviews", "domain": "stripe.com",
                      "departments": ["Sales"], "job_titles": "CEO", "filters": {}});
    assert_eq!(
        errors(&item),
        [
            not_supported("departments", "company_reviews"),
            not_supported("job_titles", "company_reviews"),
            not_supported("filters", "company_reviews"),
        ]
    );
}
