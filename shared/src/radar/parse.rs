//! [`Radar::parse`]: one element of `radars[]` into a [`Radar`], or every failing field at once.
//!
//! The radar type's row in [`super::types`] says which fields are required, optional or
//! refused; this file only knows how to read each field. A `null` field counts as absent.
//! `custom_fields`, echoed in every event, must be an object; other keys the table does not
//! know are ignored.

use serde_json::{Map, Value};

use super::{
    CompanyFilters, Radar, Target,
    types::{FIELDS, FILTER_FIELDS, Identifiers, Kind, MAX_COUNTRIES, Need, RadarType},
    values::{Domain, Email, FullName, Keyword, ProfileUrl},
};
use crate::FieldError;

pub const REQUIRED: &str = "Field is required";
pub const NOT_A_STRING: &str = "Must be a string";
pub const NOT_STRINGS: &str = "Must be an array of strings";
pub const EMPTY_STRINGS: &str = "Must be an array of non-empty strings";

impl Radar {
    pub fn parse(item: &Value) -> Result<Radar, Vec<FieldError>> {
        let Value::Object(item) = item else {
            return Err(vec![FieldError::new("radar", "Must be a JSON object")]);
        };
        // Without a known type there is no telling which fields belong: report the type alone.
        let radar_type = parse_radar_type(item.get("radar_type")).map_err(|e| vec![e])?;

        let mut fields = Fields::new(item, "");
        // Anything else would be echoed as `{}`: refuse it rather than drop it unsaid.
        if fields
            .get("custom_fields")
            .is_some_and(|value| !value.is_object())
        {
            fields.fail("custom_fields", "Must be an object");
        }
        for field in FIELDS {
            if radar_type.need(field) == Need::Unsupported && fields.get(field).is_some() {
                fields.fail(
                    field,
                    format!("Not supported for radar_type {}", radar_type.name),
                );
            }
        }
        let target = match radar_type.kind {
            Kind::Company => company(&mut fields, radar_type),
            Kind::Contact => contact(&mut fields, radar_type),
            Kind::Industry => industry(&mut fields, radar_type),
        };
        match target {
            Some(target) if fields.errors.is_empty() => Ok(Radar { radar_type, target }),
            _ => {
                debug_assert!(!fields.errors.is_empty(), "a refused item names a field");
                Err(fields.errors)
            }
        }
    }
}

fn parse_radar_type(value: Option<&Value>) -> Result<&'static RadarType, FieldError> {
    match value {
        None | Some(Value::Null) => Err(FieldError::new("radar_type", REQUIRED)),
        Some(Value::String(name)) => RadarType::lookup(name).ok_or_else(unsupported_type),
        Some(_) => Err(unsupported_type()),
    }
}

fn unsupported_type() -> FieldError {
    FieldError::new(
        "radar_type",
        format!(
            "Unsupported radar_type. Must be one of: {}",
            RadarType::names()
        ),
    )
}

fn company(fields: &mut Fields, radar_type: &RadarType) -> Option<Target> {
    let domain = fields.value("domain", radar_type.domain, Domain::parse);
    let filters = if radar_type.filters {
        company_filters(fields)
    } else {
        CompanyFilters::default()
    };
    Some(Target::Company {
        domain: domain?,
        filters,
    })
}

/// `departments`, `seniorities` and `job_titles`, at the top level or inside a `filters`
/// object (errors then named `filters.departments`). A key given in both places is refused
/// rather than guessed at.
fn company_filters(fields: &mut Fields) -> CompanyFilters {
    let top = read_filters(fields);
    let nested = match fields.get("filters") {
        None => CompanyFilters::default(),
        Some(Value::Object(inner)) => {
            let mut inner = Fields::new(inner, "filters.");
            let nested = read_filters(&mut inner);
            fields.errors.append(&mut inner.errors);
            for key in FILTER_FIELDS {
                if fields.get(key).is_some() && inner.get(key).is_some() {
                    fields.fail(
                        &format!("filters.{key}"),
                        "Also given at the top level of the radar; give it in one place",
                    );
                }
            }
            nested
        }
        Some(_) => {
            fields.fail("filters", "Must be an object");
            CompanyFilters::default()
        }
    };
    CompanyFilters {
        departments: top.departments.or(nested.departments),
        seniorities: top.seniorities.or(nested.seniorities),
        job_titles: top.job_titles.or(nested.job_titles),
    }
}

fn read_filters(fields: &mut Fields) -> CompanyFilters {
    let job_titles = fields.string("job_titles").and_then(|raw| {
        let text = super::normalise::text(raw);
        if text.is_empty() {
            fields.fail("job_titles", "Must not be empty");
            return None;
        }
        Some(text)
    });
    CompanyFilters {
        departments: fields.strings("departments"),
        seniorities: fields.strings("seniorities"),
        job_titles,
    }
}

fn contact(fields: &mut Fields, radar_type: &RadarType) -> Option<Target> {
    let domain = fields.value("domain", radar_type.domain, Domain::parse);
    let email = fields.value("email", radar_type.need("email"), Email::parse);
    let profile_url = fields.value(
        "profile_url",
        radar_type.need("profile_url"),
        ProfileUrl::parse,
    );
    let full_name = fields.value("full_name", radar_type.need("full_name"), FullName::parse);
    let identifiers = ["email", "profile_url", "full_name"];
    if radar_type.identifiers == Identifiers::AnyOne
        && identifiers.iter().all(|field| fields.get(field).is_none())
    {
        fields.fail(
            "identifiers",
            format!(
                "At least one of email, profile_url or full_name is required for radar_type {}",
                radar_type.name
            ),
        );
    }
    if radar_type.domain == Need::Required && domain.is_none() {
        return None;
    }
    Some(Target::Contact {
        domain,
        email,
        profile_url,
        full_name,
    })
}

fn industry(fields: &mut Fields, radar_type: &RadarType) -> Option<Target> {
    let keyword = fields.value("keyword", radar_type.keyword, Keyword::parse);
    let countries = if radar_type.countries {
        fields.strings("countries").unwrap_or_default()
    } else {
        Vec::new()
    };
    if countries.len() > MAX_COUNTRIES {
        fields.fail(
            "countries",
            format!("Must contain at most {MAX_COUNTRIES} countries"),
        );
    }
    if radar_type.keyword == Need::Required && keyword.is_none() {
        return None;
    }
    Some(Target::Industry { keyword, countries })
}

/// Reads an item's fields, recording one error per failing field. `prefix` names fields of a
/// nested object (`filters.`).
struct Fields<'a> {
    item: &'a Map<String, Value>,
    prefix: &'static str,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(item: &'a Map<String, Value>, prefix: &'static str) -> Self {
        Self {
            item,
            prefix,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), reason));
    }

    /// The field's value; `null` counts as absent.
    fn get(&self, field: &str) -> Option<&'a Value> {
        self.item.get(field).filter(|value| !value.is_null())
    }

    /// The field as a string, if present; anything else present is an error.
    fn string(&mut self, field: &str) -> Option<&'a str> {
        let Value::String(text) = self.get(field)? else {
            self.fail(field, NOT_A_STRING);
            return None;
        };
        Some(text)
    }

    /// A string field parsed by `parse`, as the type's `need` says: a missing required field
    /// is an error, an unsupported one was reported already and is not read.
    fn value<T>(
        &mut self,
        field: &str,
        need: Need,
        parse: fn(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        if need == Need::Unsupported {
            return None;
        }
        if need == Need::Required && self.get(field).is_none() {
            self.fail(field, REQUIRED);
            return None;
        }
        let raw = self.string(field)?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(mut error) => {
                error.field = format!("{}{field}", self.prefix);
                self.errors.push(error);
                None
            }
        }
    }

    /// An optional array of non-empty strings, each trimmed with white space collapsed.
    fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        let Value::Array(values) = self.get(field)? else {
            self.fail(field, NOT_STRINGS);
            return None;
        };
        let mut texts = Vec::with_capacity(values.len());
        for value in values {
            let Value::String(raw) = value else {
                self.fail(field, NOT_STRINGS);
                return None;
            };
            let text = super::normalise::text(raw);
            if text.is_empty() {
                self.fail(field, EMPTY_STRINGS);
                return None;
            }
            texts.push(text);
        }
        Some(texts)
    }
}
