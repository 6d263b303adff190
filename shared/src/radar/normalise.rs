//! The canonical form of every value an item identifies a radar by. The same form is echoed in
//! `radar_created` and used in the radar's identity, so `Stripe.com` and
//! `https://www.stripe.com/` are one company for both the customer and the 409 check.
//!
//! Each function returns `None` for a value that cannot be made valid; the caller chooses the
//! reason. Emails and free text may hold `#` or `%`; identity keys escape them.

use url::{Host, Url};

/// Longest domain name, in bytes of its ASCII (punycode) form.
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest label of a domain name.
const MAX_LABEL_LEN: usize = 63;
/// Longest local part of an email address (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;
/// Longest email address (RFC 5321 path limit minus the angle brackets).
const MAX_EMAIL_LEN: usize = 254;
/// Longest `profile_url`, in characters, as sent.
pub const MAX_URL_LEN: usize = 2048;

/// A company's domain as people write it: `https://www.Stripe.com/about` becomes `stripe.com`.
///
/// Accepts and drops an `http`/`https` scheme, a path, query, fragment or port, one trailing
/// dot and a leading `www.` (unless what is left is a bare TLD, as in `www.com`). Converts an
/// internationalised name to punycode (`bücher.de` becomes `xn--bcher-kva.de`), then checks the
/// result with [`host_name`]. IP addresses, `localhost` and other single labels are refused:
/// a radar watches a registered domain.
pub fn domain(raw: &str) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let rest = match lower.split_once("://") {
        Some(("http" | "https", rest)) => rest,
        Some(_) => return None,
        None => lower.as_str(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials (`user@host`) are never part of a company's domain, and refusing them keeps
    // an email address sent as a domain from passing as its domain part.
    if authority.contains('@') {
        return None;
    }
    let host = match authority.split_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => authority,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    host_name(host).map(strip_www)
}

/// An email address: trimmed and lowercased, exactly one `@`, a dot-atom local part and a
/// domain part that passes [`host_name`] (converted to punycode). Unlike [`domain`], nothing is
/// stripped from the domain part: `www.` or a trailing dot there changes the address.
pub fn email(raw: &str) -> Option<String> {
    let lower = raw.trim().to_lowercase();
    let (local, domain) = lower.split_once('@')?;
    if !is_local_part(local) {
        return None;
    }
    let domain = host_name(domain)?;
    let email = format!("{local}@{domain}");
    (email.chars().count() <= MAX_EMAIL_LEN).then_some(email)
}

/// A profile page: an absolute `http`/`https` URL whose host is a domain name. Returned as
/// `https://` + host (lowercase, punycode, without a leading `www.`) + a non-default port +
/// the path without trailing `/`; the query, fragment and any credentials are dropped, so
/// tracking parameters do not make a second radar. The path keeps its case: on most sites it
/// matters.
pub fn profile_url(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_LEN {
        return None;
    }
    let url = Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let Some(Host::Domain(name)) = url.host() else {
        return None;
    };
    let host = strip_www(host_name(name)?);
    let port = match url.port() {
        Some(443) | None => String::new(),
        Some(port) => format!(":{port}"),
    };
    let path = url.path().trim_end_matches('/');
    Some(format!("https://{host}{port}{path}"))
}

/// Free text (`full_name`, `keyword`, filter values): trimmed, every run of white space
/// (Unicode's definition) collapsed to one space.
pub fn text(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A host name in ASCII form, or `None`. Non-ASCII names go through IDNA (UTS #46, as browsers
/// do, via `url::Host::parse`); then every label must be 1-63 of `a-z0-9-` without a leading
/// or trailing hyphen, there must be at least two labels, the last one alphabetic or `xn--`,
/// and the whole at most 253 bytes.
pub fn host_name(name: &str) -> Option<String> {
    // ASCII outside letters, digits, `-` and `.` is never valid; checking first also keeps
    // `Host::parse` from percent-decoding `%2e` into a dot.
    let bad_ascii = |b: u8| b.is_ascii() && !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if name.is_empty() || name.bytes().any(bad_ascii) {
        return None;
    }
    let Ok(Host::Domain(ascii)) = Host::parse(name) else {
        return None;
    };
    if ascii.len() > MAX_DOMAIN_LEN {
        return None;
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    let tld = labels.last().copied().unwrap_or_default();
    let valid = labels.len() >= 2
        && labels.iter().all(|label| is_label(label))
        && (tld.starts_with("xn--") || tld.bytes().all(|b| b.is_ascii_alphabetic()));
    valid.then_some(ascii)
}

fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// `www.stripe.com` is `stripe.com`; `www.com` stays what it is.
fn strip_www(name: String) -> String {
    match name.strip_prefix("www.") {
        Some(rest) if rest.contains('.') => rest.to_owned(),
        _ => name,
    }
}

/// RFC 5322 dot-atom, extended to non-ASCII letters (RFC 6531): no white space, controls or
/// specials, no leading, trailing or doubled dot.
fn is_local_part(local: &str) -> bool {
    const SPECIALS: &str = "\"(),:;<>@[\\]";
    !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_LEN
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !SPECIALS.contains(c))
}
