//! Outbound safety: which addresses a webhook may reach, and a DNS resolver that hands the HTTP
//! client only addresses it checked.
//!
//! The client connects to what the resolver returns and nothing else, so there is no window
//! between the check and the connection for a name to start resolving elsewhere (DNS
//! rebinding). Addresses in loopback, private, link-local (169.254.0.0/16, the cloud metadata
//! address), CGNAT, multicast, unspecified, documentation and reserved ranges, IPv6 unique-local
//! and link-local, and IPv6 forms that embed such an IPv4 address, are dropped
//! ([`shared::net::is_public`]); a name left with no address is refused. Local development
//! (`RADAR_ALLOW_INSECURE_WEBHOOKS=true`) also allows loopback, and nothing else.

use std::{
    fmt,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use shared::net;

/// Which destinations are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Local development: loopback too.
    pub allow_loopback: bool,
}

impl AddressPolicy {
    pub fn allows(self, ip: IpAddr) -> bool {
        net::is_public(ip) || (self.allow_loopback && net::is_loopback(ip))
    }

    /// The allowed ones of a host's addresses; an error when none is left.
    pub fn check(self, host: &str, addresses: &[IpAddr]) -> Result<Vec<IpAddr>, Refused> {
        let allowed: Vec<IpAddr> = addresses
            .iter()
            .copied()
            .filter(|ip| self.allows(*ip))
            .collect();
        if allowed.is_empty() {
            Err(Refused {
                host: host.to_owned(),
            })
        } else {
            Ok(allowed)
        }
    }
}

/// A destination that resolves only to addresses webhooks may not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to no address a webhook may reach")]
pub struct Refused {
    pub host: String,
}

/// A future of a host's addresses.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Where host names are looked up: the system's resolver in production; a fixed table in
/// tests, so that a name resolving to loopback can be tried without touching DNS.
pub trait HostLookup: Send + Sync + fmt::Debug {
    fn lookup(&self, host: &str) -> Lookup;
}

/// The system's resolver (getaddrinfo, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// The HTTP client's resolver: looks a name up, then keeps only the allowed addresses.
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    pub lookup: Arc<dyn HostLookup>,
    pub policy: AddressPolicy,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup.lookup(name.as_str());
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = lookup.await?;
            let allowed = policy.check(&host, &addresses)?;
            // The port is the URL's: the client sets it on every address.
            let addrs: Addrs = Box::new(
                allowed
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: AddressPolicy = AddressPolicy {
        allow_loopback: false,
    };
    const LOCAL: AddressPolicy = AddressPolicy {
        allow_loopback: true,
    };

    fn ips(addresses: &[&str]) -> Vec<IpAddr> {
        addresses.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn internal_destinations_are_refused() {
        for address in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.251",
            "192.0.2.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(
                STRICT.check("hooks.example.com", &ips(&[address])),
                Err(Refused {
                    host: "hooks.example.com".into()
                }),
                "{address}"
            );
        }
    }

    #[test]
    fn only_the_public_addresses_of_a_mixed_answer_are_used() {
        let answer = ips(&["10.0.0.1", "93.184.216.34", "::1", "2606:4700::1"]);
        assert_eq!(
            STRICT.check("h", &answer),
            Ok(ips(&["93.184.216.34", "2606:4700::1"]))
        );
    }

    #[test]
    fn local_development_allows_loopback_and_nothing_else_internal() {
        assert!(LOCAL.allows("127.0.0.1".parse().unwrap()));
        assert!(LOCAL.allows("::1".parse().unwrap()));
        assert!(LOCAL.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!LOCAL.allows("10.0.0.1".parse().unwrap()));
        assert!(!LOCAL.allows("169.254.169.254".parse().unwrap()));
    }

    #[derive(Debug)]
    struct Table(Vec<IpAddr>);

    impl HostLookup for Table {
        fn lookup(&self, _host: &str) -> Lookup {
            let answer = self.0.clone();
            Box::pin(async move { Ok(answer) })
        }
    }

    #[tokio::test]
    async fn the_resolver_returns_only_checked_addresses() {
        let resolver = CheckedResolver {
            lookup: Arc::new(Table(ips(&["127.0.0.1", "8.8.8.8"]))),
            policy: STRICT,
        };
        let addrs: Vec<SocketAddr> = resolver
            .resolve("hooks.example.com".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, ["8.8.8.8:0".parse().unwrap()]);

        let rebinding = CheckedResolver {
            lookup: Arc::new(Table(ips(&["169.254.169.254"]))),
            policy: STRICT,
        };
        let Err(error) = rebinding.resolve("evil.example".parse().unwrap()).await else {
            panic!("the metadata address must be refused");
        };
        assert!(error.downcast_ref::<Refused>().is_some(), "{error}");
    }
}
