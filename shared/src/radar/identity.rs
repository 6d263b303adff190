//! What makes two radars of one account the same radar (DESIGN.md, "Conflicts"). The 409
//! error that names the radar already holding an identity is [`crate::api::Refusal::Conflict`].
//!
//! The store claims `account + Identity::key` with a conditional write; this file only decides
//! the key. Keys are `#`-separated parts. Parts that come from user text have `%` and `#`
//! escaped (`%25`, `%23`), so no input can forge a separator and two different identities can
//! never share a key.

use std::borrow::Cow;

use super::{Radar, Target};

/// A radar's identity: the error field a conflict is reported on, and the key that is unique
/// per account. The key starts with the radar type, so types never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// `domain`, `identifiers`, `keyword` or `radar_type`.
    pub field: &'static str,
    pub key: String,
}

impl Radar {
    /// - company: `type#domain`, field `domain`;
    /// - contact: `type#domain#tag=value` with the strongest identifier given (`profile_url`,
    ///   else `email`, else `full_name` lowercased) and an empty domain when none was given,
    ///   field `identifiers`;
    /// - `industry_mentions`, `industry_job_openings`: `type#keyword` lowercased, field
    ///   `keyword`;
    /// - the other industry types: `type`, field `radar_type` (one per account).
    pub fn identity(&self) -> Identity {
        let radar_type = self.radar_type.name;
        match &self.target {
            Target::Company { domain, .. } => Identity {
                field: "domain",
                key: join(&[radar_type, &escape(domain.as_str())]),
            },
            Target::Contact {
                domain,
                email,
                profile_url,
                full_name,
            } => {
                let strongest = match (profile_url, email, full_name) {
                    (Some(url), _, _) => format!("profile_url={}", escape(url.as_str())),
                    (None, Some(email), _) => format!("email={}", escape(email.as_str())),
                    (None, None, Some(name)) => {
                        format!("full_name={}", escape(&name.as_str().to_lowercase()))
                    }
                    // Parsing requires an identifier of every contact type; should that rule
                    // ever loosen, the domain alone still identifies the radar.
                    (None, None, None) => String::new(),
                };
                let domain = domain.as_ref().map_or("", |domain| domain.as_str());
                Identity {
                    field: "identifiers",
                    key: join(&[radar_type, &escape(domain), &strongest]),
                }
            }
            Target::Industry {
                keyword: Some(keyword),
                ..
            } => Identity {
                field: "keyword",
                key: join(&[radar_type, &escape(&keyword.as_str().to_lowercase())]),
            },
            Target::Industry { keyword: None, .. } => Identity {
                field: "radar_type",
                key: radar_type.to_owned(),
            },
        }
    }
}

fn join(parts: &[&str]) -> String {
    parts.join("#")
}

fn escape(part: &str) -> Cow<'_, str> {
    if part.contains(['%', '#']) {
        Cow::Owned(part.replace('%', "%25").replace('#', "%23"))
    } else {
        Cow::Borrowed(part)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn identity(item: &Value) -> Identity {
        Radar::parse(item).expect("item should be valid").identity()
    }

    fn company(domain: &str) -> Identity {
        identity(&json!({"radar_type": "company_job_openings", "domain": domain}))
    }

    #[test]
    fn one_company_written_differently_has_one_identity() {
        let plain = company("stripe.com");
        assert_eq!(plain, company("Stripe.com"));
        assert_eq!(plain, company("https://www.stripe.com/"));
        assert_eq!(plain, company(" WWW.STRIPE.COM. "));
        assert_eq!(
            plain,
            Identity {
                field: "domain",
                key: "company_job_openings#stripe.com".into()
            }
        );
        assert_ne!(plain, company("stripe.io"));
    }

    #[test]
    fn the_same_domain_under_another_type_is_another_identity() {
        let openings = company("stripe.com");
        let hires = identity(&json!({"radar_type": "company_new_hires", "domain": "stripe.com"}));
        assert_ne!(openings.key, hires.key);
        assert_eq!(hires.field, "domain");
    }

    #[test]
    fn contacts_are_identified_by_their_strongest_identifier() {
        let job_changes = |extra: Value| {
            let mut item = json!({"radar_type": "contact_job_changes", "domain": "openai.com"});
            item.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            identity(&item)
        };
        let by_url = job_changes(json!({"profile_url": "https://www.linkedin.com/in/x/",
                                        "email": "a@openai.com", "full_name": "A B"}));
        assert_eq!(by_url.field, "identifiers");
        assert_eq!(
            by_url.key,
            "contact_job_changes#openai.com#profile_url=https://linkedin.com/in/x"
        );
        assert_eq!(
            by_url,
            job_changes(json!({"profile_url": "http://linkedin.com/in/x?utm=1"}))
        );
        assert_eq!(
            job_changes(json!({"email": "A@OpenAI.com", "full_name": "A B"})).key,
            "contact_job_changes#openai.com#email=a@openai.com"
        );
        assert_eq!(
            job_changes(json!({"full_name": "  Ada   LOVELACE "})).key,
            "contact_job_changes#openai.com#full_name=ada lovelace"
        );
        let posts = identity(&json!({"radar_type": "contact_social_posts",
                                     "profile_url": "https://linkedin.com/in/x"}));
        assert_eq!(
            posts.key,
            "contact_social_posts##profile_url=https://linkedin.com/in/x"
        );
    }

    #[test]
    fn user_text_cannot_forge_a_separator() {
        let name = |full_name: &str, domain: &str| {
            identity(
                &json!({"radar_type": "contact_job_changes", "domain": domain,
                             "full_name": full_name}),
            )
            .key
        };
        let forged = name("x#full_name=y", "a.com");
        assert_eq!(
            forged,
            "contact_job_changes#a.com#full_name=x%23full_name=y"
        );
        assert_ne!(name("a%23b", "a.com"), name("a#b", "a.com"));
        let email = identity(
            &json!({"radar_type": "contact_job_changes", "domain": "a.com",
                                     "email": "x#y%@a.com"}),
        );
        assert_eq!(email.key, "contact_job_changes#a.com#email=x%23y%25@a.com");
    }

    #[test]
    fn keywords_are_identified_case_insensitively() {
        let mentions = |keyword: &str| {
            identity(&json!({"radar_type": "industry_mentions", "keyword": keyword}))
        };
        assert_eq!(mentions("FinTech  AI"), mentions(" fintech ai "));
        assert_eq!(mentions("fintech ai").field, "keyword");
        assert_eq!(mentions("fintech ai").key, "industry_mentions#fintech ai");
        let openings = identity(&json!({"radar_type": "industry_job_openings",
                                        "keyword": "fintech ai", "countries": ["US"]}));
        assert_eq!(openings.key, "industry_job_openings#fintech ai");
    }

    #[test]
    fn keywordless_industry_types_allow_one_radar_per_type() {
        let funding = identity(&json!({"radar_type": "industry_funding_rounds"}));
        assert_eq!(
            funding,
            Identity {
                field: "radar_type",
                key: "industry_funding_rounds".into()
            }
        );
        let companies = identity(&json!({"radar_type": "industry_new_companies"}));
        assert_ne!(funding.key, companies.key);
    }
}
