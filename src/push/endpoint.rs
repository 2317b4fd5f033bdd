//! Push endpoints are URLs chosen by clients, so the server is an SSRF
//! vector: endpoints are checked when registered (scheme, host shape, literal
//! addresses) and again when sent to, after DNS resolution, so a public name
//! that resolves to 10.0.0.1 is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Longest accepted endpoint, in bytes (real ones are 150-500).
pub const MAX_ENDPOINT_BYTES: usize = 2048;

/// Why an endpoint was refused at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint is longer than 2048 bytes")]
    TooLong,
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint is not an absolute URL")]
    NotAUrl,
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint must use https")]
    NotHttps,
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint must not carry a user name, password or fragment")]
    Credentials,
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint's host is local, private or not a public name")]
    PrivateHost,
    /// Refused with `invalid_endpoint`.
    #[error("the endpoint's host is not a push service this server sends to (--push-hosts)")]
    UnknownPushService,
}

/// Which hosts the server sends pushes to. Limiting them to the real push
/// services keeps the server from being used to POST at arbitrary sites
/// (or to hold its push slots with deliberately slow ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushHosts {
    /// `None`: any public host.
    patterns: Option<Vec<String>>,
}

impl PushHosts {
    /// A comma-separated list of host names, `*.suffix` for any subdomain
    /// of `suffix`, or `*` alone for any public host.
    pub fn parse(list: &str) -> Self {
        let patterns: Vec<String> = list
            .split(',')
            .map(|p| p.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        if patterns.iter().any(|p| p == "*") {
            return Self { patterns: None };
        }
        Self {
            patterns: Some(patterns),
        }
    }

    /// Whether `url`'s host is on the list (IP literals only with `*`).
    pub fn allows(&self, url: &Url) -> bool {
        let Some(patterns) = &self.patterns else {
            return true;
        };
        let Some(Host::Domain(name)) = url.host() else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        patterns.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => name
                .strip_suffix(suffix)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => name == *p,
        })
    }
}

/// An endpoint this server will send to: a valid, public one (see
/// [`validate`]) on a listed push service (the list is skipped with
/// `allow_insecure`, for tests).
pub(super) fn accept(
    endpoint: &str,
    allow_insecure: bool,
    hosts: &PushHosts,
) -> Result<Url, EndpointError> {
    let url = validate(endpoint, allow_insecure)?;
    if !allow_insecure && !hosts.allows(&url) {
        return Err(EndpointError::UnknownPushService);
    }
    Ok(url)
}

/// Parses and checks a client-supplied endpoint. With `allow_insecure`
/// (tests only) http and local hosts pass.
pub fn validate(endpoint: &str, allow_insecure: bool) -> Result<Url, EndpointError> {
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(EndpointError::TooLong);
    }
    let url = Url::parse(endpoint).map_err(|_| EndpointError::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err(EndpointError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(EndpointError::Credentials);
    }
    let host = url.host().ok_or(EndpointError::NotAUrl)?;
    if !allow_insecure && !host_is_public(&host) {
        return Err(EndpointError::PrivateHost);
    }
    Ok(url)
}

/// A literal address must be public; a name must look like a public DNS
/// name (dotted, not a local-only suffix). Resolution is checked at send time.
fn host_is_public(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_public_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_public_ip(IpAddr::V6(*ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local_suffix = [
                "localhost",
                "local",
                "internal",
                "home.arpa",
                "lan",
                "localdomain",
            ]
            .iter()
            .any(|s| name == *s || name.ends_with(&format!(".{s}")));
            name.contains('.') && !local_suffix
        }
    }
}

/// True only for globally routable unicast addresses: refuses loopback,
/// private (RFC 1918), CGNAT, link-local, unique-local, multicast,
/// documentation, reserved and unspecified ranges, and looks inside
/// IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 forms.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                  // "this network", 0.0.0.0/8
        || a == 10                            // private
        || a == 127                           // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)             // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)     // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)     // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)   // 6to4 relay anycast
        || (a == 192 && b == 168)             // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100)  // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)   // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    // Forms that embed an IPv4 address: judge the embedded one.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0] {
        // ::/96 (IPv4-compatible, deprecated), including :: and ::1.
        return false;
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return is_public_v4(embedded_v4(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        // 6to4 2002::/16 carries the IPv4 address in bits 16..48.
        return is_public_v4(embedded_v4(seg[1], seg[2]));
    }
    // Only global unicast 2000::/3 is routable; that excludes ULA fc00::/7,
    // link-local fe80::/10, site-local fec0::/10, multicast ff00::/8,
    // 64:ff9b:1::/48 and 100::/64.
    if seg[0] & 0xe000 != 0x2000 {
        return false;
    }
    // Special blocks inside 2000::/3: IETF protocol assignments 2001::/23
    // (Teredo, benchmarking, ORCHID…) and documentation 2001:db8::/32, 3fff::/20.
    match seg[0] {
        0x2001 => seg[1] >= 0x0200 && seg[1] != 0x0db8,
        0x3fff => seg[1] >= 0x1000,
        _ => true,
    }
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// DNS resolver for the push client that drops every non-public address;
/// a name with only such addresses fails to resolve (SSRF guard).
pub(crate) struct PublicOnlyResolver;

/// The resolver's refusal, told apart from transient DNS failures so the
/// sender does not retry it. Names no host: errors end up in logs.
#[derive(Debug, thiserror::Error)]
#[error("push endpoint resolves to no public address")]
pub(crate) struct NoPublicAddress;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        resolve_public(&name, false)
    }
}

/// The proof checker's resolver (SPEC §15.5): like [`PublicOnlyResolver`],
/// but a name with **any** non-public address is refused whole
/// ([`NoPublicAddress`]), its public addresses included.
pub(crate) struct AllPublicResolver;

impl reqwest::dns::Resolve for AllPublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        resolve_public(&name, true)
    }
}

fn resolve_public(name: &reqwest::dns::Name, strict: bool) -> reqwest::dns::Resolving {
    let host = name.as_str().to_owned();
    Box::pin(async move {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
        let Some(addrs) = public_addresses(found, strict) else {
            return Err(Box::new(NoPublicAddress) as Box<dyn std::error::Error + Send + Sync>);
        };
        let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
        Ok(addrs)
    })
}

/// The addresses a resolver may connect to: the public ones of `found`;
/// `None` when none is public, or (`strict`) when any is not.
pub(crate) fn public_addresses(found: Vec<SocketAddr>, strict: bool) -> Option<Vec<SocketAddr>> {
    let total = found.len();
    let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public_ip(a.ip())).collect();
    let refused = public.is_empty() || (strict && public.len() < total);
    (!refused).then_some(public)
}

#[cfg(test)]
mod tests;
