//! Each function links one HTTP/TLS stack, on ring alone, and no SSO crates (the AWS SDK's
//! default features would add hyper 0.14, rustls 0.21, aws-lc-rs and aws-sdk-sso /
//! aws-sdk-ssooidc).

use bench::{functions::NAMES, lean};

#[test]
fn every_function_links_one_http_and_tls_stack_and_no_sso_crates() {
    for name in NAMES {
        let stacks = lean::stacks(name).expect("cargo tree runs");

        assert!(stacks.lean(), "{name}: {stacks:?}");
        assert!(
            stacks.hyper.iter().all(|h| h.starts_with("hyper v1.")),
            "{name}: {stacks:?}"
        );
        assert!(
            stacks.rustls.iter().all(|r| r.starts_with("rustls v0.23.")),
            "{name}: {stacks:?}"
        );
        assert!(
            stacks.crypto.iter().all(|c| c.starts_with("ring v0.17.")),
            "{name}: {stacks:?}"
        );
    }
}
