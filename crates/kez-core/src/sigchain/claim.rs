//! Claims of a sigchain `add` link (SPEC §15): the service, the name the
//! user holds there, and where the proof statement is published.

use super::LinkError;

/// A service a claim can name (SPEC §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// A GitHub login, proved by a gist.
    Github,
    /// A web host, proved by `/.well-known/kez-proof.txt` over https.
    Https,
    /// A DNS name, proved by a TXT record at `_kez.<host>`.
    Dns,
}

impl Service {
    /// Parses the wire name; anything else is `unknown_service`.
    pub fn parse(s: &str) -> Result<Self, LinkError> {
        match s {
            "github" => Ok(Self::Github),
            "https" => Ok(Self::Https),
            "dns" => Ok(Self::Dns),
            _ => Err(LinkError::UnknownService),
        }
    }

    /// The wire name: `github`, `https` or `dns`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Https => "https",
            Self::Dns => "dns",
        }
    }

    /// Whether `name` is a valid name on this service: a GitHub login
    /// (1-39 of `A-Za-z0-9-`, no leading, trailing or double hyphen) or a
    /// host ([`valid_host`]).
    #[must_use]
    pub fn valid_name(self, name: &str) -> bool {
        match self {
            Self::Github => valid_github_login(name),
            Self::Https | Self::Dns => valid_host(name),
        }
    }

    /// Whether `proof` is the exact proof location for `name` (which must
    /// already be valid): `https://gist.github.com/<name>/<20-32 lowercase
    /// hex>`, `https://<name>/.well-known/kez-proof.txt`, `dns:_kez.<name>`.
    #[must_use]
    pub fn valid_proof(self, name: &str, proof: &str) -> bool {
        match self {
            Self::Github => proof
                .strip_prefix("https://gist.github.com/")
                .and_then(|rest| rest.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|id| {
                    (20..=32).contains(&id.len())
                        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                }),
            Self::Https => proof == format!("https://{name}/.well-known/kez-proof.txt"),
            Self::Dns => proof == format!("dns:_kez.{name}"),
        }
    }
}

/// One claim: `{"service", "name", "proof"}`, each checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Where the name is held.
    pub service: Service,
    /// The name held there (a login or a host).
    pub name: String,
    /// Where the proof statement is published.
    pub proof: String,
}

impl Claim {
    /// Checks a claim's three strings in order: `unknown_service`,
    /// `invalid_claim_name`, `invalid_proof`.
    pub fn parse(service: &str, name: &str, proof: &str) -> Result<Self, LinkError> {
        let service = Service::parse(service)?;
        if !service.valid_name(name) {
            return Err(LinkError::InvalidClaimName);
        }
        if !service.valid_proof(name, proof) {
            return Err(LinkError::InvalidProof);
        }
        Ok(Self {
            service,
            name: name.to_owned(),
            proof: proof.to_owned(),
        })
    }
}

/// A GitHub login: 1-39 of `A-Za-z0-9-`, no leading, trailing or double hyphen.
#[must_use]
pub fn valid_github_login(name: &str) -> bool {
    (1..=39).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// A host name as the claim carries it: lowercase ASCII (IDNs in punycode),
/// RFC 1123 labels of 1-63 `a-z0-9-` not starting or ending with `-`, at
/// least two labels, at most 253 characters, and a last label that starts
/// with a letter `a-z` (as every TLD does, `xn--` included): no IPv4
/// literal in any form a WHATWG URL parser reads as one (`10.0.0.1`,
/// `127.0x1`, `1.2.3.0x7f`). Private or loopback *names* (`a.localhost`)
/// pass this syntax rule; the proof checker refuses their addresses after
/// resolution (SPEC §15.4).
#[must_use]
pub fn valid_host(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|l| l.bytes().next().is_some_and(|b| b.is_ascii_lowercase()))
}
