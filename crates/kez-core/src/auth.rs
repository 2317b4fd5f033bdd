//! Request authentication by signed strings (`X-Kez-Auth: <ts>:<sig>`,
//! SPEC §7.2 for the inbox, §10.2 for push subscriptions).
//!
//! Each endpoint signs a different string, so a signature captured on one
//! endpoint is useless on another.

use sha2::{Digest, Sha256};

use super::identity::{Identity, SignatureHex};

/// Allowed distance between the client's `ts` and the server clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a credential was refused; each maps to one SPEC §7.2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// `malformed_auth`
    #[error("the credential must be <unix seconds>:<128 hex signature>")]
    Malformed,
    /// `stale_auth`
    #[error("the credential's timestamp is more than 5 minutes from the server's clock")]
    Stale,
    /// `bad_signature`
    #[error("the signature does not verify against the handle's key")]
    BadSignature,
}

impl AuthError {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed_auth",
            Self::Stale => "stale_auth",
            Self::BadSignature => "bad_signature",
        }
    }
}

/// First line of every signed request string (SPEC §7.2). `v1` strings had
/// no tag and no server name; they are no longer accepted.
pub const REQUEST_TAG: &str = "kez.chat.req.v2";

/// `kez.chat.req.v2\n<server>\n<fields joined by \n>\n<ts>`: the shape all
/// signed request strings share. Naming the server keeps a credential made
/// for one server from replaying on another where the same key holds the
/// same handle.
fn request_string(server: &str, fields: &[&str], ts: i64) -> String {
    let mut out = format!("{REQUEST_TAG}\n{server}\n");
    for field in fields {
        out.push_str(field);
        out.push('\n');
    }
    out.push_str(&ts.to_string());
    out
}

/// The signed string for polling `GET /v1/inbox/<handle>?since=<n>` on `server`.
#[must_use]
pub fn poll_string(server: &str, handle: &str, since: u64, ts: i64) -> String {
    let path = format!("/v1/inbox/{handle}");
    request_string(server, &["GET", &path, &format!("since={since}")], ts)
}

/// The signed string for the SSE stream `GET /v1/inbox/<handle>/stream` on `server`.
#[must_use]
pub fn stream_string(server: &str, handle: &str, ts: i64) -> String {
    request_string(server, &["GET", &format!("/v1/inbox/{handle}/stream")], ts)
}

/// The signed string for releasing messages,
/// `DELETE /v1/inbox/<handle>?through=<n>` on `server` (SPEC §7.2).
#[must_use]
pub fn release_string(server: &str, handle: &str, through: u64, ts: i64) -> String {
    let path = format!("/v1/inbox/{handle}");
    request_string(
        server,
        &["DELETE", &path, &format!("through={through}")],
        ts,
    )
}

/// Lowercase hex SHA-256 of the endpoint's UTF-8 (SPEC §10.2): binds a
/// signature to one endpoint without putting a long URL in the signed string.
#[must_use]
pub fn endpoint_hash(endpoint: &str) -> String {
    hex::encode(Sha256::digest(endpoint.as_bytes()).as_slice())
}

/// The signed string for `POST /v1/push/subscriptions` on `server` (SPEC §10.2).
#[must_use]
pub fn subscribe_string(server: &str, handle: &str, endpoint: &str, ts: i64) -> String {
    let hash = endpoint_hash(endpoint);
    request_string(
        server,
        &["POST", "/v1/push/subscriptions", handle, &hash],
        ts,
    )
}

/// The signed string for `DELETE /v1/push/subscriptions` on `server` (SPEC §10.2).
#[must_use]
pub fn unsubscribe_string(server: &str, handle: &str, endpoint: &str, ts: i64) -> String {
    let hash = endpoint_hash(endpoint);
    request_string(
        server,
        &["DELETE", "/v1/push/subscriptions", handle, &hash],
        ts,
    )
}

/// The signed string for `GET /v1/push/subscriptions/{handle}?endpoint=` on
/// `server` (SPEC §10.2).
#[must_use]
pub fn check_string(server: &str, handle: &str, endpoint: &str, ts: i64) -> String {
    let path = format!("/v1/push/subscriptions/{handle}");
    request_string(server, &["GET", &path, &endpoint_hash(endpoint)], ts)
}

/// A `<ts>:<sig>` credential split but not yet verified.
pub struct Credential {
    ts: i64,
    sig: SignatureHex,
}

impl Credential {
    /// Splits and parses `<ts>:<sig>`.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let (ts, sig) = s.split_once(':').ok_or(AuthError::Malformed)?;
        if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Malformed);
        }
        let ts = ts.parse().map_err(|_| AuthError::Malformed)?;
        let sig = SignatureHex::parse(sig).ok_or(AuthError::Malformed)?;
        Ok(Self { ts, sig })
    }

    /// The client's timestamp, needed to rebuild the signed string.
    pub fn ts(&self) -> i64 {
        self.ts
    }

    /// Checks freshness against `now` (unix seconds), then the signature over `signed`.
    pub fn verify(&self, key: &Identity, signed: &str, now: i64) -> Result<(), AuthError> {
        if (now - self.ts).abs() > MAX_SKEW_SECS {
            return Err(AuthError::Stale);
        }
        if key.verify(signed.as_bytes(), &self.sig) {
            Ok(())
        } else {
            Err(AuthError::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn cred(sk: &SigningKey, msg: &str, ts: i64) -> Credential {
        Credential::parse(&format!(
            "{ts}:{}",
            hex::encode(sk.sign(msg.as_bytes()).to_bytes())
        ))
        .unwrap()
    }

    #[test]
    fn signed_strings_are_distinct_per_endpoint() {
        assert_eq!(
            poll_string("a.test", "bob", 0, 5),
            "kez.chat.req.v2\na.test\nGET\n/v1/inbox/bob\nsince=0\n5"
        );
        assert_eq!(
            stream_string("a.test", "bob", 5),
            "kez.chat.req.v2\na.test\nGET\n/v1/inbox/bob/stream\n5"
        );
        let sk = SigningKey::from_bytes(&[3; 32]);
        let id = Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        let poll = cred(&sk, &poll_string("a.test", "bob", 0, 100), 100);
        assert_eq!(
            poll.verify(&id, &poll_string("a.test", "bob", 0, 100), 100),
            Ok(())
        );
        assert_eq!(
            poll.verify(&id, &stream_string("a.test", "bob", 100), 100),
            Err(AuthError::BadSignature)
        );
        let stream = cred(&sk, &stream_string("a.test", "bob", 100), 100);
        assert_eq!(
            stream.verify(&id, &poll_string("a.test", "bob", 0, 100), 100),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn push_strings_are_distinct_and_bind_the_endpoint() {
        let e = "https://push.example/abc";
        let h = endpoint_hash(e);
        assert_eq!(h.len(), 64);
        assert_eq!(
            endpoint_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            subscribe_string("a.test", "bob", e, 5),
            format!("kez.chat.req.v2\na.test\nPOST\n/v1/push/subscriptions\nbob\n{h}\n5")
        );
        assert_eq!(
            unsubscribe_string("a.test", "bob", e, 5),
            format!("kez.chat.req.v2\na.test\nDELETE\n/v1/push/subscriptions\nbob\n{h}\n5")
        );
        assert_eq!(
            check_string("a.test", "bob", e, 5),
            format!("kez.chat.req.v2\na.test\nGET\n/v1/push/subscriptions/bob\n{h}\n5")
        );
        let all = [
            subscribe_string("a.test", "bob", e, 5),
            unsubscribe_string("a.test", "bob", e, 5),
            check_string("a.test", "bob", e, 5),
            poll_string("a.test", "bob", 0, 5),
            stream_string("a.test", "bob", 5),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(
            subscribe_string("a.test", "bob", e, 5),
            subscribe_string("a.test", "bob", "https://push.example/abd", 5)
        );
    }

    #[test]
    fn every_string_names_its_server() {
        let e = "https://push.example/abc";
        type Build = fn(&str) -> String;
        let builders: [Build; 5] = [
            |srv| poll_string(srv, "bob", 0, 5),
            |srv| stream_string(srv, "bob", 5),
            |srv| subscribe_string(srv, "bob", "https://push.example/abc", 5),
            |srv| unsubscribe_string(srv, "bob", "https://push.example/abc", 5),
            |srv| check_string(srv, "bob", "https://push.example/abc", 5),
        ];
        for build in builders {
            let (a, b) = (build("a.test"), build("b.test"));
            assert!(a.starts_with("kez.chat.req.v2\na.test\n"), "{a}");
            assert_ne!(a, b);
        }
        assert_ne!(
            subscribe_string("a.test", "bob", e, 5),
            subscribe_string("a.test\nPOST", "bob", e, 5)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let id = Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap();
        let s = stream_string("a.test", "bob", 1000);
        assert_eq!(
            cred(&sk, &s, 1000).verify(&id, &s, 1301),
            Err(AuthError::Stale)
        );
        assert_eq!(
            cred(&sk, &s, 1000).verify(&id, &s, 699),
            Err(AuthError::Stale)
        );
        assert_eq!(cred(&sk, &s, 1000).verify(&id, &s, 1300), Ok(()));
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            "",
            ":",
            "abc",
            "12:zz",
            "-1:aa",
            &format!("1:{}", "A".repeat(128)),
        ] {
            assert!(
                matches!(Credential::parse(bad), Err(AuthError::Malformed)),
                "{bad}"
            );
        }
    }
}
