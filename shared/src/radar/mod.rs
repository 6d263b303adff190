//! One radar item, parsed: what the processor creates from an element of `radars[]`.
//!
//! - [`types`]: the radar-type table (kind, cost, which fields each type takes), in one place.
//! - [`Radar::parse`] (in `parse`): an item into a [`Radar`], or every failing field at once.
//! - [`normalise`] and [`values`]: the canonical form of domains, emails, profile URLs and
//!   text, and the newtypes that hold them.
//! - [`Radar::identity`] (in `identity`): what makes two radars the same (the 409 rule; the
//!   error that says so is [`crate::api::Refusal::Conflict`]).
//! - [`custom_fields`]: what every event of an item echoes of its `custom_fields`.
//! - [`Radar::data`]: the created radar as `radar_created` reports it.
//!
//! Everything here is pure: no I/O, so the rules are tested without emulators.

mod identity;
pub mod normalise;
mod parse;
pub mod types;
pub mod values;

use std::borrow::Cow;

use serde_json::{Map, Value};
use uuid::Uuid;

pub use identity::Identity;
pub use parse::{EMPTY_STRINGS, NOT_A_STRING, NOT_STRINGS, REQUIRED};
pub use types::{Kind, RadarType};
pub use values::{Domain, Email, FullName, Keyword, ProfileUrl};

use crate::api::{ACTIVE, KindFields, RadarData};

/// What an item without `custom_fields` echoes, as JSON text.
pub const NO_CUSTOM_FIELDS: &str = "{}";

/// An item's `custom_fields` as every event and poll answer of it echoes them: the object
/// given, else `{}`. (Submit refuses a bulk whose item has a `custom_fields` that is not an
/// object; the fallback covers items that reach the processor some other way.)
pub fn custom_fields(item: &Value) -> Cow<'_, Value> {
    match item.get("custom_fields") {
        Some(object @ Value::Object(_)) => Cow::Borrowed(object),
        _ => Cow::Owned(Value::Object(Map::new())),
    }
}

/// A valid radar item: its row of the type table and what it watches. Built only by
/// [`Radar::parse`], so the target always matches the type's kind and rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Radar {
    radar_type: &'static RadarType,
    target: Target,
}

/// What a radar watches, by kind. Values are already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Company {
        domain: Domain,
        filters: CompanyFilters,
    },
    Contact {
        /// Required for `contact_job_changes`, optional for the social types.
        domain: Option<Domain>,
        email: Option<Email>,
        profile_url: Option<ProfileUrl>,
        full_name: Option<FullName>,
    },
    Industry {
        /// Present exactly for the types that require it.
        keyword: Option<Keyword>,
        /// Empty unless given (for `industry_job_openings` only).
        countries: Vec<String>,
    },
}

/// The optional filters of some company types; each value trimmed, white space collapsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyFilters {
    pub departments: Option<Vec<String>>,
    pub seniorities: Option<Vec<String>>,
    pub job_titles: Option<String>,
}

impl Radar {
    pub fn radar_type(&self) -> &'static RadarType {
        self.radar_type
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Credits charged for creating this radar, from the type table.
    pub fn cost(&self) -> i64 {
        self.radar_type.cost
    }

    /// The created radar in the shape the single-create endpoints return, values normalised:
    /// what the customer sees is what the 409 check compares.
    pub fn data(&self, radar_id: Uuid, created_at: String, custom_fields: Value) -> RadarData {
        let mut data = RadarData {
            radar_id,
            radar_type: self.radar_type.name.to_owned(),
            domain: None,
            radar_status: ACTIVE.to_owned(),
            created_at,
            custom_fields,
            kind: KindFields::default(),
        };
        let text = |value: Option<&str>| value.map(str::to_owned);
        match &self.target {
            Target::Company { domain, filters } => {
                data.domain = Some(domain.as_str().to_owned());
                data.kind.departments.clone_from(&filters.departments);
                data.kind.seniorities.clone_from(&filters.seniorities);
                data.kind.job_titles.clone_from(&filters.job_titles);
            }
            Target::Contact {
                domain,
                email,
                profile_url,
                full_name,
            } => {
                data.domain = text(domain.as_ref().map(Domain::as_str));
                data.kind.email = text(email.as_ref().map(Email::as_str));
                data.kind.profile_url = text(profile_url.as_ref().map(ProfileUrl::as_str));
                data.kind.full_name = text(full_name.as_ref().map(FullName::as_str));
            }
            Target::Industry { keyword, countries } => {
                data.kind.keyword = text(keyword.as_ref().map(Keyword::as_str));
                data.kind.countries = (!countries.is_empty()).then(|| countries.clone());
            }
        }
        data
    }
}

#[cfg(test)]
mod tests;
