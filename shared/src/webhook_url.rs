//! [`WebhookUrl`]: the `webhook_url` of a submission, parsed, and [`ApiHost`]: the API's own
//! hosts, which a webhook may not name.

use std::{fmt, net::IpAddr};

use url::{Host, Url};

use crate::{FieldError, net};

/// Longest `webhook_url` accepted, in characters.
pub const MAX_LEN: usize = 2048;

pub const FIELD: &str = "webhook_url";
pub const INVALID_FORMAT: &str = "Invalid webhook URL format";
const NOT_PUBLIC: &str = "Webhook URL must not point to a loopback, private or reserved address";
const CREDENTIALS: &str = "Webhook URL must not contain a user name or password";
pub const API_HOST: &str = "Webhook URL must not point to this API";

/// Which webhook URLs are acceptable besides public `https://` ones, and which are not even so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    /// Local development: also accept `http://` and `https://` to a loopback host.
    pub allow_insecure_loopback: bool,
    /// The API's own hosts: a bulk's webhooks (1001 POSTs and their retries) must not be
    /// turned against the API itself. Read once at cold start ([`parse_api_hosts`]); `'static`
    /// so that the policy stays `Copy`, handed by value to every parse.
    pub api_hosts: &'static [ApiHost],
}

/// One of the API's hosts: a name or an IP address, and a port or any port.
///
/// A URL names it when its host is the same, compared as URLs normalise hosts (case, IDNA,
/// IPv4 spellings) and without a trailing dot, and its port is the same (the scheme's default
/// when the URL gives none). Subdomains are other hosts: `hooks.api.example.com` is not
/// `api.example.com`. Names are compared, not the addresses they resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHost {
    host: Host<String>,
    /// `None`: every port of the host.
    port: Option<u16>,
}

impl ApiHost {
    /// `host` or `host:port` (`[v6]` or `[v6]:port` for an IPv6 address).
    pub fn parse(text: &str) -> Option<Self> {
        let (host, port) = match text.rsplit_once(':') {
            // A colon inside brackets belongs to an IPv6 address, not to a port.
            Some((host, port)) if !port.contains(']') => (host, Some(port.parse().ok()?)),
            _ => (text, None),
        };
        let host = match Host::parse(host).ok()? {
            Host::Domain(name) => Host::Domain(without_trailing_dot(&name).to_owned()),
            other => other,
        };
        match &host {
            Host::Domain(name) if name.is_empty() => None,
            _ => Some(Self { host, port }),
        }
    }

    /// True when the webhook URL points at this host.
    pub fn named_by(&self, url: &WebhookUrl) -> bool {
        self.names(&url.0)
    }

    /// True when `url` points at this host.
    fn names(&self, url: &Url) -> bool {
        let same_host = match (url.host(), &self.host) {
            (Some(Host::Domain(name)), Host::Domain(ours)) => without_trailing_dot(name) == ours,
            (Some(Host::Ipv4(ip)), Host::Ipv4(ours)) => ip == *ours,
            (Some(Host::Ipv6(ip)), Host::Ipv6(ours)) => ip == *ours,
            _ => false,
        };
        same_host
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }
}

/// `RADAR_API_HOSTS`: comma-separated [`ApiHost`]s; empty entries are skipped, so an empty
/// optional part of the list costs nothing. Kept for the life of the process (read once).
pub fn parse_api_hosts(text: &str) -> Result<&'static [ApiHost], String> {
    let hosts = text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| ApiHost::parse(entry).ok_or_else(|| entry.to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        return Ok(&[]);
    }
    Ok(Box::leak(hosts.into_boxed_slice()))
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
        if policy.api_hosts.iter().any(|api| api.names(&url)) {
            return Err(FieldError::new(FIELD, API_HOST));
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

fn without_trailing_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
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
        api_hosts: &[],
    };
    const LOCAL: WebhookPolicy = WebhookPolicy {
        allow_insecure_loopback: true,
        api_hosts: &[],
    };

    fn serving(hosts: &str, allow_insecure_loopback: bool) -> WebhookPolicy {
        WebhookPolicy {
            allow_insecure_loopback,
            api_hosts: parse_api_hosts(hosts).unwrap(),
        }
    }

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

    #[test]
    fn refuses_the_apis_own_hosts_in_any_case_and_with_a_trailing_dot() {
        let policy = serving(
            "abc123.execute-api.us-east-1.amazonaws.com, api.example.com",
            false,
        );
        for raw in [
            "https://abc123.execute-api.us-east-1.amazonaws.com/v1/radars/bulk",
            "https://ABC123.Execute-Api.US-EAST-1.amazonaws.com/",
            "https://api.example.com/hooks",
            "https://api.example.com./hooks",
            "https://API.EXAMPLE.COM:8443/hooks",
        ] {
            assert_eq!(reason(raw, policy).as_deref(), Some(API_HOST), "{raw}");
        }
    }

    #[test]
    fn subdomains_and_neighbours_of_the_api_are_other_hosts() {
        let policy = serving("api.example.com", false);
        for raw in [
            "https://hooks.api.example.com/",
            "https://example.com/",
            "https://api.example.com.evil.io/",
            "https://xapi.example.com/",
        ] {
            assert_eq!(reason(raw, policy), None, "{raw}");
        }
    }

    #[test]
    fn a_host_with_a_port_is_refused_on_that_port_only() {
        let policy = serving("127.0.0.1:9000", true);
        assert_eq!(
            reason("http://127.0.0.1:9000/v1/radars/bulk", policy).as_deref(),
            Some(API_HOST)
        );
        assert_eq!(
            reason("http://127.1:9000/", policy).as_deref(),
            Some(API_HOST),
            "the same address spelled otherwise"
        );
        assert_eq!(reason("http://127.0.0.1:9999/", policy), None);
        let default_port = serving("api.example.com:443", false);
        assert_eq!(
            reason("https://api.example.com/", default_port).as_deref(),
            Some(API_HOST),
            "443 is https's own"
        );
        assert_eq!(reason("https://api.example.com:8443/", default_port), None);
    }

    #[test]
    fn ipv6_api_hosts_are_read_with_and_without_a_port() {
        let policy = serving("[2001:4860::1], [2001:4860::2]:8443", false);
        assert_eq!(
            reason("https://[2001:4860:0::1]/", policy).as_deref(),
            Some(API_HOST)
        );
        assert_eq!(
            reason("https://[2001:4860::2]:8443/", policy).as_deref(),
            Some(API_HOST)
        );
        assert_eq!(reason("https://[2001:4860::2]/", policy), None);
    }

    #[test]
    fn no_api_hosts_configured_refuses_nothing_more() {
        let policy = serving(" , ", false);
        assert!(policy.api_hosts.is_empty());
        assert_eq!(reason("https://api.example.com/", policy), None);
    }

    #[test]
    fn malformed_api_hosts_are_named() {
        for bad in [
            "https://api.example.com",
            "api.example.com/v1",
            "api.example.com:http",
            "api.example.com:70000",
            "user@api.example.com",
            "[::1",
            ":9000",
        ] {
            assert_eq!(parse_api_hosts(bad), Err(bad.to_owned()), "{bad}");
        }
    }
}
