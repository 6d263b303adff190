//! What `cargo tree` says a function links: its HTTP and TLS stacks, its cryptography and any
//! SSO crate. One stack (hyper 1, rustls 0.23 on ring) shared by the AWS SDK and reqwest is
//! the aim; the SDK's default features would add hyper 0.14 and rustls 0.21 beside it, the SSO
//! crates, and aws-lc-rs (about 2 MB of each binary) beside ring.

use std::{collections::BTreeSet, process::Command};

use crate::{Error, Result};

/// The crates of one function that the check is about, as `name vX.Y.Z`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stacks {
    pub hyper: BTreeSet<String>,
    pub rustls: BTreeSet<String>,
    /// rustls's cryptography providers: `ring`, `aws-lc-rs`.
    pub crypto: BTreeSet<String>,
    pub sso: BTreeSet<String>,
}

impl Stacks {
    /// One HTTP stack, one TLS stack on one cryptography provider, no SSO.
    pub fn lean(&self) -> bool {
        self.hyper.len() == 1
            && self.rustls.len() == 1
            && self.crypto.len() == 1
            && self.sso.is_empty()
    }
}

/// The normal (non-dev, non-build) dependencies of `package`, as `cargo tree` lists them.
pub fn stacks(package: &str) -> Result<Stacks> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .output()?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "cargo tree -p {package}: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut stacks = Stacks::default();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let entry = format!("{name} {version}");
        match name {
            "hyper" => stacks.hyper.insert(entry),
            "rustls" => stacks.rustls.insert(entry),
            "ring" | "aws-lc-rs" => stacks.crypto.insert(entry),
            _ if name.starts_with("aws-sdk-sso") => stacks.sso.insert(entry),
            _ => false,
        };
    }
    Ok(stacks)
}
