use crate::radar::normalise::*;

#[test]
fn domains_lose_case_scheme_www_path_port_and_trailing_dot() {
    for raw in [
        "stripe.com",
        "Stripe.COM",
        "  stripe.com\t",
        "https://www.Stripe.com/about",
        "http://stripe.com:8080/a?b=c#d",
        "www.stripe.com.",
        "stripe.com/",
        "stripe.com?x=1",
        "HTTPS://WWW.STRIPE.COM",
    ] {
        assert_eq!(domain(raw).as_deref(), Some("stripe.com"), "{raw:?}");
    }
    assert_eq!(
        domain("https://jobs.eu.stripe.co.uk").as_deref(),
        Some("jobs.eu.stripe.co.uk")
    );
    assert_eq!(domain("www.com").as_deref(), Some("www.com"));
    assert_eq!(domain("a-b.io").as_deref(), Some("a-b.io"));
}

#[test]
fn internationalised_domains_become_punycode() {
    assert_eq!(domain("bücher.de").as_deref(), Some("xn--bcher-kva.de"));
    assert_eq!(domain("BÜCHER.de").as_deref(), Some("xn--bcher-kva.de"));
    assert_eq!(
        domain("https://www.bücher.de/shop").as_deref(),
        Some("xn--bcher-kva.de")
    );
    assert_eq!(
        domain("xn--bcher-kva.de").as_deref(),
        Some("xn--bcher-kva.de")
    );
    assert_eq!(domain("例え.jp").as_deref(), Some("xn--r8jz45g.jp"));
    // The full-width dot is a dot to IDNA, as it is to browsers.
    assert_eq!(domain("stripe。com").as_deref(), Some("stripe.com"));
}

#[test]
fn malformed_domains_are_refused() {
    for raw in [
        "",
        "   ",
        "localhost",
        "com",
        "a..b.com",
        ".stripe.com",
        "-a.com",
        "a-.com",
        "stripe.com..",
        "1.2.3.4",
        "http://1.2.3.4/",
        "[::1]",
        "stripe.123",
        "stripe.c0m",
        "under_score.com",
        "stripe%2ecom",
        "stripe .com",
        "ftp://stripe.com",
        "https://user@stripe.com",
        "jane@stripe.com",
        "stripe.com:http",
        "stripe.com:",
        "😀",
        "https://",
    ] {
        assert_eq!(domain(raw), None, "{raw:?}");
    }
    let long_label = format!("{}.com", "a".repeat(64));
    assert_eq!(domain(&long_label), None);
    assert!(domain(&format!("{}.com", "a".repeat(63))).is_some());
}

#[test]
fn domains_longer_than_253_bytes_are_refused() {
    let label = "a".repeat(63);
    // 4 × 63 + 3 dots = 255 bytes.
    let over = format!("{label}.{label}.{label}.{label}");
    assert_eq!(domain(&over), None);
    let at_limit = format!("{label}.{label}.{label}.{}", "a".repeat(61));
    assert_eq!(at_limit.len(), MAX_DOMAIN_LEN);
    assert_eq!(domain(&at_limit).as_deref(), Some(at_limit.as_str()));
}

#[test]
fn emoji_domains_follow_idna_like_browsers() {
    assert_eq!(domain("💩.la").as_deref(), Some("xn--ls8h.la"));
}

#[test]
fn emails_are_lowercased_with_a_normalised_domain_part() {
    assert_eq!(
        email("  Jane.Doe@Stripe.COM ").as_deref(),
        Some("jane.doe@stripe.com")
    );
    assert_eq!(
        email("jane+radar@bücher.de").as_deref(),
        Some("jane+radar@xn--bcher-kva.de")
    );
    assert_eq!(
        email("jane@www.stripe.com").as_deref(),
        Some("jane@www.stripe.com"),
        "www. is part of a mail domain"
    );
}

#[test]
fn malformed_emails_are_refused() {
    for raw in [
        "",
        "jane",
        "@stripe.com",
        "jane@",
        "jane@@stripe.com",
        "jane@doe@stripe.com",
        "jane@localhost",
        "jane@1.2.3.4",
        "jane@-stripe.com",
        "jane doe@stripe.com",
        ".jane@stripe.com",
        "jane.@stripe.com",
        "ja..ne@stripe.com",
        "<jane>@stripe.com",
        "jane@https://stripe.com",
        "jane@stripe.com.",
    ] {
        assert_eq!(email(raw), None, "{raw:?}");
    }
    let long_local = format!("{}@stripe.com", "a".repeat(65));
    assert_eq!(email(&long_local), None);
}

#[test]
fn profile_urls_become_https_without_www_query_fragment_or_trailing_slash() {
    for raw in [
        "https://www.linkedin.com/in/example",
        "http://www.linkedin.com/in/example/",
        "HTTPS://WWW.LinkedIn.com/in/example?utm_source=x#top",
        " https://linkedin.com:443/in/example// ",
        "http://linkedin.com:80/in/example",
    ] {
        assert_eq!(
            profile_url(raw).as_deref(),
            Some("https://linkedin.com/in/example"),
            "{raw:?}"
        );
    }
    assert_eq!(
        profile_url("https://x.com/Jane_Doe").as_deref(),
        Some("https://x.com/Jane_Doe"),
        "paths keep their case"
    );
    assert_eq!(
        profile_url("https://user:pw@example.com:8443/").as_deref(),
        Some("https://example.com:8443")
    );
    assert_eq!(
        profile_url("https://bücher.de/p").as_deref(),
        Some("https://xn--bcher-kva.de/p")
    );
}

#[test]
fn profile_urls_need_a_scheme_and_a_public_looking_host() {
    for raw in [
        "",
        "linkedin.com/in/example",
        "/in/example",
        "ftp://linkedin.com/in/example",
        "mailto:jane@stripe.com",
        "https://",
        "https://localhost/in/x",
        "https://1.2.3.4/in/x",
        "https://[::1]/in/x",
        "https://-bad.com/in/x",
        "javascript:alert(1)",
    ] {
        assert_eq!(profile_url(raw), None, "{raw:?}");
    }
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(profile_url(&long), None);
}

#[test]
fn text_is_trimmed_and_inner_white_space_collapsed() {
    assert_eq!(text("  Jane \t\n Doe  "), "Jane Doe");
    assert_eq!(text("Ana\u{a0}\u{a0}López 😀"), "Ana López 😀");
    assert_eq!(text(" \n\t "), "");
    assert_eq!(text(""), "");
}
