//! The radar-type table: every `radar_type` the API accepts, its kind, its price in credits
//! and which fields its items require, allow or refuse. Parsing, identity and billing all read
//! this one table, so adding a type or changing a price is one row here.

/// The family a radar type belongs to. It decides which fields an item is about (a company's
/// `domain`, a person's identifiers, an industry `keyword`) and how its identity is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Company,
    Contact,
    Industry,
}

/// How a radar type treats one field of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    /// Present on the item (and not `null`) is a 400: "Not supported for radar_type X".
    Unsupported,
}

/// Which of a contact's identifiers (`email`, `profile_url`, `full_name`) a type asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifiers {
    /// Not a contact type: none of them is accepted.
    None,
    /// At least one of the three, any of them.
    AnyOne,
    /// `profile_url` is required; the other two are optional.
    ProfileUrl,
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct RadarType {
    pub name: &'static str,
    pub kind: Kind,
    /// Credits charged when a radar of this type is created.
    pub cost: i64,
    pub domain: Need,
    pub identifiers: Identifiers,
    pub keyword: Need,
    /// `departments`, `seniorities`, `job_titles` (and a `filters` object holding them).
    pub filters: bool,
    /// `countries` (at most [`MAX_COUNTRIES`]).
    pub countries: bool,
}

/// Most entries in `countries`.
pub const MAX_COUNTRIES: usize = 5;

/// Every field name the table knows, in the order errors are reported. Keys of an item that
/// are not here (`custom_fields`, typos, future fields) are ignored by parsing.
pub const FIELDS: [&str; 10] = [
    "domain",
    "email",
    "profile_url",
    "full_name",
    "keyword",
    "countries",
    "departments",
    "seniorities",
    "job_titles",
    "filters",
];

/// The keys a company filter may hold, at the top level of an item or inside `filters`.
pub const FILTER_FIELDS: [&str; 3] = ["departments", "seniorities", "job_titles"];

const FILTERS: bool = true;
const NO_FILTERS: bool = false;
const COUNTRIES: bool = true;
const NO_COUNTRIES: bool = false;

/// The table, from the product's public API reference (see DESIGN.md). The last column is the
/// price in credits.
pub static RADAR_TYPES: [RadarType; 15] = [
    company("company_job_openings", FILTERS, 1),
    company("company_new_hires", FILTERS, 1),
    company("company_promotions", FILTERS, 1),
    company("company_reviews", NO_FILTERS, 1),
    company("company_mentions", NO_FILTERS, 1),
    company("company_social_posts", NO_FILTERS, 1),
    company("company_social_posts_cxo", FILTERS, 1),
    company("company_social_engagements", NO_FILTERS, 1),
    contact(
        "contact_job_changes",
        Need::Required,
        Identifiers::AnyOne,
        1,
    ),
    contact(
        "contact_social_posts",
        Need::Optional,
        Identifiers::ProfileUrl,
        1,
    ),
    contact(
        "contact_social_engagements",
        Need::Optional,
        Identifiers::ProfileUrl,
        1,
    ),
    industry("industry_mentions", Need::Required, NO_COUNTRIES, 1),
    industry(
        "industry_funding_rounds",
        Need::Unsupported,
        NO_COUNTRIES,
        1,
    ),
    industry("industry_new_companies", Need::Unsupported, NO_COUNTRIES, 1),
    industry("industry_job_openings", Need::Required, COUNTRIES, 1),
];

impl Kind {
    /// The kind's name, as the single-create endpoints' paths and messages say it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Contact => "contact",
            Self::Industry => "industry",
        }
    }
}

impl RadarType {
    pub fn lookup(name: &str) -> Option<&'static RadarType> {
        RADAR_TYPES.iter().find(|row| row.name == name)
    }

    /// The type names of one kind, comma separated.
    pub fn names_of(kind: Kind) -> String {
        RADAR_TYPES
            .iter()
            .filter(|row| row.kind == kind)
            .map(|row| row.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every type name, comma separated, for the "Unsupported radar_type" reason.
    pub fn names() -> String {
        RADAR_TYPES
            .iter()
            .map(|row| row.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How this type treats the item field `field` (one of [`FIELDS`]); unknown names are
    /// [`Need::Unsupported`].
    pub fn need(&self, field: &str) -> Need {
        let optional_if = |yes: bool| {
            if yes {
                Need::Optional
            } else {
                Need::Unsupported
            }
        };
        match field {
            "domain" => self.domain,
            "keyword" => self.keyword,
            "email" | "full_name" => optional_if(self.identifiers != Identifiers::None),
            "profile_url" => match self.identifiers {
                Identifiers::None => Need::Unsupported,
                Identifiers::AnyOne => Need::Optional,
                Identifiers::ProfileUrl => Need::Required,
            },
            "countries" => optional_if(self.countries),
            "departments" | "seniorities" | "job_titles" | "filters" => optional_if(self.filters),
            _ => Need::Unsupported,
        }
    }
}

const fn company(name: &'static str, filters: bool, cost: i64) -> RadarType {
    RadarType {
        name,
        kind: Kind::Company,
        cost,
        domain: Need::Required,
        identifiers: Identifiers::None,
        keyword: Need::Unsupported,
        filters,
        countries: false,
    }
}

const fn contact(
    name: &'static str,
    domain: Need,
    identifiers: Identifiers,
    cost: i64,
) -> RadarType {
    RadarType {
        name,
        kind: Kind::Contact,
        cost,
        domain,
        identifiers,
        keyword: Need::Unsupported,
        filters: false,
        countries: false,
    }
}

const fn industry(name: &'static str, keyword: Need, countries: bool, cost: i64) -> RadarType {
    RadarType {
        name,
        kind: Kind::Industry,
        cost,
        domain: Need::Unsupported,
        identifiers: Identifiers::None,
        keyword,
        filters: false,
        countries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_of_the_design_table_is_listed_once() {
        let names: Vec<&str> = RADAR_TYPES.iter().map(|row| row.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert_eq!(names.len(), 8 + 3 + 4);
    }

    #[test]
    fn the_kind_follows_from_the_type_prefix() {
        for row in &RADAR_TYPES {
            let prefix = match row.kind {
                Kind::Company => "company_",
                Kind::Contact => "contact_",
                Kind::Industry => "industry_",
            };
            assert!(row.name.starts_with(prefix), "{}", row.name);
        }
    }

    #[test]
    fn every_type_costs_one_credit_by_default() {
        assert!(RADAR_TYPES.iter().all(|row| row.cost == 1));
    }

    #[test]
    fn lookup_finds_exact_names_only() {
        assert_eq!(
            RadarType::lookup("industry_mentions").map(|row| row.kind),
            Some(Kind::Industry)
        );
        assert!(RadarType::lookup("Industry_Mentions").is_none());
        assert!(RadarType::lookup("company").is_none());
        assert!(RadarType::lookup("").is_none());
    }

    #[test]
    fn filters_belong_to_four_company_types_only() {
        let with: Vec<&str> = RADAR_TYPES
            .iter()
            .filter(|row| row.need("departments") == Need::Optional)
            .map(|row| row.name)
            .collect();
        assert_eq!(
            with,
            [
                "company_job_openings",
                "company_new_hires",
                "company_promotions",
                "company_social_posts_cxo"
            ]
        );
    }

    #[test]
    fn contact_types_ask_for_the_documented_identifiers() {
        let job_changes = RadarType::lookup("contact_job_changes").unwrap();
        assert_eq!(job_changes.need("domain"), Need::Required);
        assert_eq!(job_changes.need("profile_url"), Need::Optional);
        let posts = RadarType::lookup("contact_social_posts").unwrap();
        assert_eq!(posts.need("domain"), Need::Optional);
        assert_eq!(posts.need("profile_url"), Need::Required);
        assert_eq!(posts.need("email"), Need::Optional);
        assert_eq!(posts.need("keyword"), Need::Unsupported);
    }
}
