//! The query string: page size and cursor, the list filters, the account's month. A value that
//! does not parse is a 400 naming its parameter; parameters this API does not know are ignored.

use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::Request;
use shared::{
    Error, FieldError, Result,
    api::{ACTIVE, INACTIVE},
    radar::RadarType,
    store::{
        catalog::RadarFilter,
        index::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, PageRequest},
        usage,
    },
};

/// A request's query parameters, decoded, in the order given.
#[derive(Debug)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn of(request: &Request) -> Self {
        let pairs = url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes());
        Self(pairs.into_owned().collect())
    }

    /// The value of `name`, if given; given twice is ambiguous, and a 400.
    fn one(&self, name: &str) -> Result<Option<&str>> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(invalid(name, "Must be given at most once"));
        }
        Ok(first)
    }

    /// `?limit=` (1 to 1000, default 100) and `?cursor=`.
    pub(crate) fn page(&self) -> Result<PageRequest> {
        let limit = match self.one("limit")? {
            None => DEFAULT_LIMIT,
            Some(text) => digits(text)
                .then(|| text.parse::<u32>().ok())
                .flatten()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    invalid(
                        "limit",
                        format!("Must be a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let after = self.one("cursor")?.map(Cursor::parse).transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// `?radar_type=` (a comma-separated list of types) and `?radar_status=`.
    pub(crate) fn radar_filter(&self) -> Result<RadarFilter> {
        let mut filter = RadarFilter::default();
        if let Some(list) = self.one("radar_type")? {
            for name in list.split(',').map(str::trim) {
                let radar_type = RadarType::lookup(name).ok_or_else(|| {
                    invalid(
                        "radar_type",
                        format!(
                            "Unsupported radar_type {name:?}. Must be a comma-separated list of: {}",
                            RadarType::names()
                        ),
                    )
                })?;
                filter.types.push(radar_type);
            }
        }
        filter.active = match self.one("radar_status")? {
            None => None,
            Some(ACTIVE) => Some(true),
            Some(INACTIVE) => Some(false),
            Some(_) => {
                return Err(invalid(
                    "radar_status",
                    format!("Must be {ACTIVE} or {INACTIVE}"),
                ));
            }
        };
        Ok(filter)
    }

    /// `?month=YYYY-MM`, by default the month of `now` (UTC).
    pub(crate) fn month(&self, now: DateTime<Utc>) -> Result<String> {
        match self.one("month")? {
            None => Ok(usage::month_of(now)),
            // Exactly four digits, a hyphen and two: chrono alone would take a sign or a
            // space, and the answer echoes the month back.
            Some(month)
                if month.len() == 7
                    && month.is_ascii()
                    && digits(&month[..4])
                    && month.as_bytes()[4] == b'-'
                    && digits(&month[5..])
                    && NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").is_ok() =>
            {
                Ok(month.to_owned())
            }
            Some(_) => Err(invalid("month", "Must be a calendar month as YYYY-MM")),
        }
    }
}

/// Only ASCII digits, at least one.
fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidQuery(FieldError::new(field, reason))
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;

    fn query(text: &str) -> Query {
        let request = lambda_http::http::Request::builder()
            .uri(format!("/v1/radars?{text}"))
            .body(Body::Empty)
            .unwrap();
        Query::of(&request)
    }

    fn refused_field(result: Result<impl std::fmt::Debug>) -> String {
        match result {
            Err(Error::InvalidQuery(error)) => error.field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn pages_default_to_100_and_take_up_to_1000() {
        assert_eq!(query("").page().unwrap().limit, 100);
        assert_eq!(query("limit=1000").page().unwrap().limit, 1000);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=-1",
            "limit=ten",
            "limit=1&limit=2",
        ] {
            assert_eq!(refused_field(query(bad).page()), "limit", "{bad}");
        }
        assert_eq!(refused_field(query("cursor=zzz").page()), "cursor");
    }

    #[test]
    fn filters_name_known_types_and_statuses() {
        let filter = query("radar_type=company_reviews,%20industry_mentions&radar_status=inactive")
            .radar_filter()
            .unwrap();
        let names: Vec<_> = filter.types.iter().map(|t| t.name).collect();
        assert_eq!(names, ["company_reviews", "industry_mentions"]);
        assert_eq!(filter.active, Some(false));
        assert_eq!(
            refused_field(query("radar_type=company_reviews,nope").radar_filter()),
            "radar_type"
        );
        assert_eq!(
            refused_field(query("radar_status=paused").radar_filter()),
            "radar_status"
        );
    }

    #[test]
    fn months_are_yyyy_mm() {
        let now = "2026-12-02T01:00:00Z".parse().unwrap();
        assert_eq!(query("").month(now).unwrap(), "2026-12");
        assert_eq!(query("month=2025-02").month(now).unwrap(), "2025-02");
        for bad in [
            "month=2025-13",
            "month=2025-2",
            "month=202502",
            "month=2025-02-01",
        ] {
            assert_eq!(refused_field(query(bad).month(now)), "month", "{bad}");
        }
    }
}
