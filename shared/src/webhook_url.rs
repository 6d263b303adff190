//! [`WebhookUrl`]: the `webhook_url` of a submission, parsed.

use std::{fmt, net::IpAddr};

use url::{Host, Url};

use crate::{FieldError, net};

/// Longest `webhook_url` accepted, in characters.
pub const MAX_LEN: usize = 2048;

const FIELD: &str = "webhook_url";
pub const INVALID_FORMAT: &str = "Invalid webhook URL format";
const NOT_PUBLIC: &str = "Webhook URL must not point to a loopback, private or reserved address";
const CREDENTIALS: &str = "Webhook URL must not contain a user name or password";

/// Which webhook URLs are acceptable besides public `https://` ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Local development: also accept `http://` and `https://` to a loopback host.
    pub allow_insecure_loopback: bool,
}

/// An absolute `https://` URL of at most [`MAX_LEN`] characters whose host is a name or a
/// public IP address (or, under [`WebhookPolicy::allow_insecure_loopback`], a loopback URL).
///
/// Host names are resolved and checked again by the dispatcher at send time: a name that
/// resolves to a private address passes here and is refused there.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub fn parse(raw: &str, policy: WebhookPolicy) -> Result<Self, FieldError> {
        let invalid = || FieldError::new(FIELD, INVALID_FORMAT);
        if raw.chars().count() > MAX_LEN || raw.trim() != raw {
            return Err(invalid());
        }
        let url = Url::parse(raw).map_err(|_| invalid())?;
        // They would be stored, logged and sent with every event as part of the URL.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FieldError::new(FIELD, CREDENTIALS));
        }
        let host = url.host().ok_or_else(invalid)?;
        let loopback = match &host {
            Host::Domain(name) => is_localhost(name),
            Host::Ipv4(ip) => net::is_loopback(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => net::is_loopback(IpAddr::V6(*ip)),
        };
        let insecure_ok = policy.allow_insecure_loopback && loopback;
        match url.scheme() {
            "https" => {}
            "http" if insecure_ok => {}
            _ => return Err(invalid()),
        }
        if insecure_ok {
            return Ok(Self(url));
        }
        let public = match host {
            Host::Domain(name) => !is_localhost(name),
            Host::Ipv4(ip) => net::is_public(IpAddr::V4(ip)),
            Host::Ipv6(ip) => net::is_public(IpAddr::V6(ip)),
        };
        if !public {
            return Err(FieldError::new(FIELD, NOT_PUBLIC));
        }
        Ok(Self(url))
    }

    /// A URL read back from a bulk record. It met the rules when it was submitted, so only its
    /// form is checked here; the dispatcher applies the rules in force again when it sends.
    pub fn from_stored(raw: &str) -> Option<Self> {
        Url::parse(raw).ok().map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Webhook URLs may carry credentials in their user-info or query: never print them whole.
impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebhookUrl({}://{})",
            self.0.scheme(),
            self.0.host_str().unwrap_or("")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: WebhookPolicy = WebhookPolicy {
        allow_insecure_loopback: false,
    };
    const LOCAL: WebhookPolicy = WebhookPolicy {
        allow_insecure_loopback: true,
    };

    fn reason(raw: &str, policy: WebhookPolicy) -> Option<String> {
        WebhookUrl::parse(raw, policy).err().map(|e| {
            assert_eq!(e.field, "webhook_url");
            e.reason
        })
    }

    #[test]
    fn accepts_public_https_urls() {
        for raw in [
            "https://your-domain.com/webhooks/tamradar",
            "https://hooks.example.com:8443/a?b=c",
            "https://8.8.8.8/hook",
        ] {
            assert_eq!(reason(raw, STRICT), None, "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_absolute_https_url() {
        for raw in [
            "",
            "not a url",
            "/relative/path",
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://",
            " https://example.com",
            "mailto:someone@example.com",
        ] {
            assert_eq!(
                reason(raw, STRICT).as_deref(),
                Some(INVALID_FORMAT),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn refuses_urls_longer_than_2048_characters() {
        let base = "https://example.com/";
        let at_limit = format!("{base}{}", "a".repeat(MAX_LEN - base.len()));
        assert_eq!(reason(&at_limit, STRICT), None);
        let over = format!("{at_limit}a");
        assert_eq!(reason(&over, STRICT).as_deref(), Some(INVALID_FORMAT));
    }

    #[test]
    fn refuses_internal_hosts_in_production() {
        for raw in [
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
        ] {
            assert_eq!(reason(raw, STRICT).as_deref(), Some(NOT_PUBLIC), "{raw}");
        }
        assert_eq!(
            reason("http://127.0.0.1:9999/", STRICT).as_deref(),
            Some(INVALID_FORMAT)
        );
    }

    #[test]
    fn local_development_accepts_plain_http_to_loopback_only() {
        for raw in [
            "http://127.0.0.1:9999/",
            "http://localhost:9999/x",
            "http://[::1]:80/",
        ] {
            assert_eq!(reason(raw, LOCAL), None, "{raw}");
        }
        assert_eq!(
            reason("http://example.com/", LOCAL).as_deref(),
            Some(INVALID_FORMAT)
        );
        assert_eq!(
            reason("https://10.0.0.1/", LOCAL).as_deref(),
            Some(NOT_PUBLIC)
        );
    }

    #[test]
    fn debug_output_hides_path_and_query() {
        let url = WebhookUrl::parse("https://example.com/h/secret?token=x", STRICT).unwrap();
        assert_eq!(format!("{url:?}"), "WebhookUrl(https://example.com)");
    }

    #[test]
    fn refuses_urls_with_credentials() {
        for raw in [
            "https://user:secret@example.com/h",
            "https://user@example.com/h",
            "https://:secret@example.com/h",
        ] {
            assert_eq!(
                reason(raw, STRICT).as_deref(),
                Some("Webhook URL must not contain a user name or password"),
                "{raw}"
            );
        }
    }
}
