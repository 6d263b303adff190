//! Which IP addresses a webhook may reach: public unicast only. Submit uses this on IP-literal
//! webhook hosts; the dispatcher uses it on every address a host name resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True for an address on the public internet; false for loopback, private, link-local (the
/// cloud metadata address included), CGNAT, multicast, broadcast, unspecified, documentation,
/// benchmarking and reserved ranges, in IPv4 and IPv6 (all of `::/8` but the IPv4-mapped form,
/// and the local-use NAT64 prefix `64:ff9b:1::/48`), and for IPv6 forms that embed such an IPv4
/// address (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// True for addresses that mean "this machine" (127.0.0.0/8, `::1`, and `::ffff:127.x`).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0                                   // "this network", 0.0.0.0/8
        || a == 10                                          // private
        || a == 127                                         // loopback
        || (a == 100 && (64..128).contains(&b))             // CGNAT 100.64.0.0/10
        || (a == 169 && b == 254)                           // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))              // private
        || (a == 192 && b == 0 && c == 0)                   // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                   // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)                 // 6to4 relay anycast
        || (a == 192 && b == 168)                           // private
        || (a == 198 && (18..20).contains(&b))              // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100)                // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)                 // TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let reserved = (segments[0] & 0xff00) == 0                // ::/8: unspecified, loopback,
                                                            // IPv4-compatible and -translated
        || segments[..3] == [0x64, 0xff9b, 1]               // local-use NAT64 64:ff9b:1::/48
        || (segments[0] & 0xfe00) == 0xfc00                 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80                 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0                 // site-local (deprecated) fec0::/10
        || (segments[0] & 0xff00) == 0xff00                 // multicast ff00::/8
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation 2001:db8::/32
        || (segments[0] == 0x2001 && segments[1] < 0x0200)  // IETF protocol assignments, Teredo
        || segments[0] == 0x0100 && segments[1..4] == [0, 0, 0] // discard-only 100::/64
        || segments[0] == 0x3fff && segments[1] < 0x1000; // documentation 3fff::/20
    !reserved
}

/// The IPv4 address inside IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::`) addresses. (The deprecated IPv4-compatible form `::a.b.c.d` is in
/// `::/8`, which is refused whatever it embeds.)
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = || Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(mapped) = ip.to_ipv4_mapped() {
        Some(mapped)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(tail())
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(address: &str) -> bool {
        is_public(address.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(public(address), "{address} should be public");
        }
    }

    #[test]
    fn internal_and_reserved_addresses_are_refused() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.5",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001::1",
            "fd00:ec2::254",
            // The rest of ::/8: IPv4-compatible, IPv4-translated (::ffff:0:a.b.c.d), reserved.
            "::8.8.8.8",
            "::ffff:0:808:808",
            "::ffff:0:7f00:1",
            "0:0:0:1::1",
            "ff::1",
            // Local-use NAT64, which may translate to anything inside the network.
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1::808:808",
        ] {
            assert!(!public(address), "{address} should be refused");
        }
    }

    #[test]
    fn embedded_public_v4_stays_public() {
        assert!(public("::ffff:8.8.8.8"));
        assert!(public("64:ff9b::808:808"));
        assert!(public("2002:0808:0808::1"));
    }

    #[test]
    fn loopback_includes_the_mapped_form() {
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(is_loopback("127.1.2.3".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
