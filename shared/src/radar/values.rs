//! The values a radar is about, each a newtype built only by a parser that normalises it
//! ([`super::normalise`]) and answers the documented `{field, reason}` when it cannot. Holding a
//! [`Domain`] means holding a valid, canonical domain: nothing later re-checks it.

use std::fmt;

use super::normalise;
use crate::FieldError;

pub const INVALID_DOMAIN: &str =
    "Invalid domain format. Please provide a valid domain (e.g., example.com)";
pub const INVALID_EMAIL: &str =
    "Invalid email format. Please provide a valid email address (e.g., jane@example.com)";
pub const INVALID_PROFILE_URL: &str = "Invalid profile_url format. Please provide an absolute \
     http or https URL (e.g., https://www.linkedin.com/in/example)";

/// Longest `full_name`, in characters, after white space is collapsed.
pub const MAX_FULL_NAME_CHARS: usize = 200;
/// Shortest `keyword`, in characters, after white space is collapsed.
pub const MIN_KEYWORD_CHARS: usize = 3;
/// Longest `keyword`, in characters, after white space is collapsed.
pub const MAX_KEYWORD_CHARS: usize = 100;

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

newtype!(
    /// A registered-looking domain in ASCII form: `stripe.com`, `xn--bcher-kva.de`.
    Domain
);
newtype!(
    /// An email address, lowercase, its domain part in ASCII form.
    Email
);
newtype!(
    /// A profile page as `https://host/path`, without `www.`, query or fragment.
    ProfileUrl
);
newtype!(
    /// A person's name as given, trimmed, white space collapsed (case kept for display).
    FullName
);
newtype!(
    /// An industry keyword as given, trimmed, white space collapsed (case kept for display).
    Keyword
);

impl Domain {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        normalise::domain(raw)
            .map(Self)
            .ok_or_else(|| FieldError::new("domain", INVALID_DOMAIN))
    }
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        normalise::email(raw)
            .map(Self)
            .ok_or_else(|| FieldError::new("email", INVALID_EMAIL))
    }
}

impl ProfileUrl {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        normalise::profile_url(raw)
            .map(Self)
            .ok_or_else(|| FieldError::new("profile_url", INVALID_PROFILE_URL))
    }
}

impl FullName {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = normalise::text(raw);
        if name.is_empty() {
            return Err(FieldError::new("full_name", "Must not be empty"));
        }
        if name.chars().count() > MAX_FULL_NAME_CHARS {
            return Err(FieldError::new(
                "full_name",
                format!("Must be at most {MAX_FULL_NAME_CHARS} characters"),
            ));
        }
        Ok(Self(name))
    }
}

impl Keyword {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let keyword = normalise::text(raw);
        let chars = keyword.chars().count();
        if chars < MIN_KEYWORD_CHARS {
            return Err(FieldError::new(
                "keyword",
                format!("Must be at least {MIN_KEYWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_KEYWORD_CHARS {
            return Err(FieldError::new(
                "keyword",
                format!("Must be at most {MAX_KEYWORD_CHARS} characters"),
            ));
        }
        Ok(Self(keyword))
    }
}

// Emails and names are personal data: keep them out of logs that print a radar with `{:?}`.
macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(..)"))
            }
        }
    )*};
}
redacted_debug!(Email, FullName, ProfileUrl);

macro_rules! plain_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    )*};
}
plain_debug!(Domain, Keyword);

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T>(result: Result<T, FieldError>) -> String {
        result.err().map(|e| e.reason).unwrap_or_default()
    }

    #[test]
    fn an_invalid_domain_gets_the_documented_reason() {
        let error = Domain::parse("localhost").unwrap_err();
        assert_eq!(error.field, "domain");
        assert_eq!(
            error.reason,
            "Invalid domain format. Please provide a valid domain (e.g., example.com)"
        );
    }

    #[test]
    fn keywords_count_characters_not_bytes() {
        assert_eq!(Keyword::parse("  äöü ").unwrap().as_str(), "äöü");
        assert_eq!(Keyword::parse("😀😀😀").unwrap().as_str(), "😀😀😀");
        assert_eq!(
            reason(Keyword::parse(" ab  ")),
            "Must be at least 3 characters"
        );
        assert_eq!(reason(Keyword::parse("")), "Must be at least 3 characters");
        assert_eq!(
            Keyword::parse("fin   tech\tAI").unwrap().as_str(),
            "fin tech AI"
        );
        assert!(Keyword::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            reason(Keyword::parse(&"é".repeat(101))),
            "Must be at most 100 characters"
        );
    }

    #[test]
    fn full_names_must_hold_between_1_and_200_characters() {
        assert_eq!(
            FullName::parse("  Ana \n López ").unwrap().as_str(),
            "Ana López"
        );
        assert_eq!(reason(FullName::parse(" \t ")), "Must not be empty");
        assert!(FullName::parse(&"ñ".repeat(200)).is_ok());
        assert_eq!(
            reason(FullName::parse(&"ñ".repeat(201))),
            "Must be at most 200 characters"
        );
    }

    #[test]
    fn personal_data_is_not_printed_by_debug() {
        let email = Email::parse("jane@stripe.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(..)");
        let domain = Domain::parse("stripe.com").unwrap();
        assert_eq!(format!("{domain:?}"), r#"Domain("stripe.com")"#);
    }
}
