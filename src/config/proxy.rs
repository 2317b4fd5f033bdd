//! Who may name the client's address (`--trusted-proxies`,
//! `--client-ip-header`): the proxy-facing half of the configuration.

use std::net::IpAddr;
use std::str::FromStr;

/// Where a trusted proxy puts the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientIpHeader {
    /// The last (proxy-appended) entry of `X-Forwarded-For`.
    XForwardedFor,
    /// `CF-Connecting-IP`, set by Cloudflare.
    CfConnectingIp,
}

/// The networks of the proxies we run (`--trusted-proxies`): only a TCP peer
/// inside one of them may report the client's address in a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `peer` (an IPv4-mapped IPv6 address counts as its IPv4 form)
    /// lies in one of the networks.
    pub fn contains(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated CIDRs (`10.0.0.0/8`) or single addresses (`::1`);
    /// empty trusts no peer.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<ipnet::IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{part:?} is not a CIDR (10.0.0.0/8) or an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_parse_cidrs_and_addresses() {
        let t: TrustedProxies = "127.0.0.0/8, ::1/128,10.1.2.3".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(t.contains(ip("127.9.9.9")));
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("::ffff:127.0.0.1")));
        assert!(t.contains(ip("10.1.2.3")));
        assert!(!t.contains(ip("10.1.2.4")));
        assert!(!t.contains(ip("192.0.2.1")));
        assert!(
            !"".parse::<TrustedProxies>()
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
    }
}
