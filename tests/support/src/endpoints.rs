//! Where the emulators listen. Tests refuse to run against anything but loopback, so a stray
//! AWS profile can never make a test touch a real account.

use std::path::Path;

#[derive(Debug, Clone)]
pub struct Endpoints {
    pub dynamodb: String,
    pub sqs: String,
}

impl Endpoints {
    pub fn from_env() -> Self {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.local/services.env");
        let saved = std::fs::read_to_string(&file).unwrap_or_default();
        let lookup = |name: &str| {
            std::env::var(name).ok().or_else(|| {
                saved.lines().find_map(|line| {
                    let (key, value) = line.trim_start_matches("export ").split_once('=')?;
                    (key == name).then(|| value.trim_matches('"').to_owned())
                })
            })
        };
        let endpoint = |name: &str| {
            let url = lookup(name).unwrap_or_else(|| {
                panic!(
                    "{name} is not set: run `make test`, or `infra/local/services.sh start` \
                     before `cargo test`"
                )
            });
            loopback(name, url)
        };
        Self {
            dynamodb: endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
            sqs: endpoint("AWS_ENDPOINT_URL_SQS"),
        }
    }
}

/// `url`, which must be on loopback: tests only talk to local emulators (and proxies of them).
pub(crate) fn loopback(name: &str, url: String) -> String {
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    assert!(
        loopback.iter().any(|prefix| url.starts_with(prefix)),
        "{name}={url} is not a loopback address; tests only talk to local emulators"
    );
    url
}
