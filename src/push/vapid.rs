//! VAPID (RFC 8292): the server's P-256 key and the ES256 JWT that proves to
//! a push service that a push comes from the server the browser subscribed
//! with. Written by hand on `p256`: every push is empty, so none of the
//! payload encryption a web-push crate brings is needed.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use parking_lot::Mutex;
use url::Url;

/// How far ahead the JWT `exp` is set (RFC 8292 allows at most 24 h).
pub const JWT_LIFETIME_SECS: i64 = 12 * 3600;
/// Most `(audience, subject)` pairs whose signed header is kept; the push
/// services a server sends to are a handful (`--push-hosts`).
const MAX_CACHED_TOKENS: usize = 64;

/// The server's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    sk: SigningKey,
    public_b64: String,
    /// `Authorization` values by `"<aud> <sub>"`, with their `exp`: one
    /// ES256 signature serves a push service for half the token's life
    /// instead of one per push (on the async workers).
    tokens: Arc<Mutex<HashMap<String, (i64, String)>>>,
}

impl VapidKey {
    /// A fresh random key, used once on the first start.
    pub fn generate() -> Self {
        loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the OS random number generator is unavailable");
            // Fails only for zero or ≥ the group order: about 2^-32 odds.
            if let Ok(sk) = SigningKey::from_slice(&bytes) {
                return Self::from_signing_key(sk);
            }
        }
    }

    /// Loads the key stored as a base64url private scalar.
    pub fn from_private_b64(s: &str) -> anyhow::Result<Self> {
        let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(s)?;
        let sk = SigningKey::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("stored VAPID key is not a P-256 private key"))?;
        Ok(Self::from_signing_key(sk))
    }

    fn from_signing_key(sk: SigningKey) -> Self {
        let point = sk.verifying_key().to_sec1_point(false);
        let public_b64 = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Self {
            sk,
            public_b64,
            tokens: Arc::default(),
        }
    }

    /// The private scalar as base64url, for storage.
    pub fn private_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sk.to_bytes())
    }

    /// The uncompressed public point (65 bytes) as base64url: the
    /// `applicationServerKey` browsers take and the `k=` of the header.
    pub fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// A signed ES256 JWT with claims `aud`, `exp`, `sub`.
    pub fn jwt(&self, aud: &str, exp: i64, sub: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": aud, "exp": exp, "sub": sub});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        // ES256 in JWS is the raw r‖s (64 bytes), not DER.
        let sig: Signature = self.sk.sign(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(sig.to_bytes());
        format!("{signing_input}.{sig}")
    }

    /// The `Authorization` header value for a push to `endpoint` at `now`
    /// (unix seconds): the one made last for that origin and subject while
    /// at least half its lifetime is left, else a newly signed one.
    pub fn authorization(&self, endpoint: &Url, now: i64, sub: &str) -> String {
        let aud = audience(endpoint);
        let key = format!("{aud} {sub}");
        if let Some((exp, value)) = self.tokens.lock().get(&key)
            && exp - now >= JWT_LIFETIME_SECS / 2
        {
            return value.clone();
        }
        let exp = now + JWT_LIFETIME_SECS;
        let value = format!(
            "vapid t={}, k={}",
            self.jwt(&aud, exp, sub),
            self.public_b64
        );
        let mut tokens = self.tokens.lock();
        if tokens.len() >= MAX_CACHED_TOKENS {
            tokens.clear();
        }
        tokens.insert(key, (exp, value.clone()));
        value
    }
}

/// The JWT `aud`: the endpoint's origin, with the port when it is not the
/// scheme's default (some libraries drop it; RFC 8292 says origin).
pub fn audience(endpoint: &Url) -> String {
    endpoint.origin().ascii_serialization()
}

/// Special-use and private suffixes (RFC 2606, 6761, 6762, 8375 and the
/// `.internal`/`.lan` conventions) that no push service can reach.
const LOCAL_SUFFIXES: [&str; 8] = [
    "localhost",
    "local",
    "test",
    "example",
    "invalid",
    "internal",
    "lan",
    "home.arpa",
];

/// The host of a VAPID subject that is not a public DNS name (`localhost`,
/// `.local` and the other special-use names, IP literals, single labels),
/// or `None` when it looks public. Push services (Apple's first) refuse a
/// token whose `sub` names such a host. `subject` is `mailto:…@host` (the
/// part after the last `@`, before any `?`) or an `https:` URL.
pub(super) fn local_subject_host(subject: &str) -> Option<String> {
    let host = match subject.strip_prefix("mailto:") {
        Some(address) => {
            let address = address.split('?').next().unwrap_or_default();
            address
                .rsplit_once('@')
                .map_or("", |(_, host)| host)
                .to_owned()
        }
        None => Url::parse(subject)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default(),
    };
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let local = bare.parse::<std::net::IpAddr>().is_ok()
        || !name.contains('.')
        || LOCAL_SUFFIXES
            .iter()
            .any(|s| name == *s || name.ends_with(&format!(".{s}")));
    local.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_header_is_reused_for_half_its_life_per_origin_and_subject() {
        let key = VapidKey::generate();
        let fcm = Url::parse("https://fcm.googleapis.com/fcm/send/a").unwrap();
        let fcm_other = Url::parse("https://fcm.googleapis.com/fcm/send/b").unwrap();
        let apple = Url::parse("https://web.push.apple.com/x").unwrap();
        let sub = "mailto:ops@example.org";
        let first = key.authorization(&fcm, 1_000, sub);
        // Same origin, another subscription, an hour later: the same token.
        assert_eq!(key.authorization(&fcm_other, 4_600, sub), first);
        assert_ne!(key.authorization(&apple, 1_000, sub), first);
        assert_ne!(
            key.authorization(&fcm, 1_000, "mailto:other@example.org"),
            first
        );
        // Past half its life, a new one with a later `exp`.
        let later = key.authorization(&fcm, 1_001 + JWT_LIFETIME_SECS / 2, sub);
        assert_ne!(later, first);
        assert_eq!(
            key.authorization(&fcm, 1_002 + JWT_LIFETIME_SECS / 2, sub),
            later
        );
    }
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;
    use serde_json::Value;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    #[test]
    fn jwt_verifies_with_the_public_key() {
        let key = VapidKey::generate();
        let url = Url::parse("https://push.example.net:8443/wpush/abc").unwrap();
        let header = key.authorization(&url, 1_000, "mailto:admin@kez.test");
        let (t, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(k, key.public_b64());
        let public = b64(k);
        assert_eq!((public.len(), public[0]), (65, 4));

        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let head: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
        assert_eq!(head, serde_json::json!({"typ": "JWT", "alg": "ES256"}));
        let claims: Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_000 + JWT_LIFETIME_SECS);
        assert_eq!(claims["sub"], "mailto:admin@kez.test");

        let vk = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let sig_bytes = b64(parts[2]);
        assert_eq!(sig_bytes.len(), 64);
        let sig = Signature::from_slice(&sig_bytes).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(vk.verify(input.as_bytes(), &sig).is_ok());
        assert!(vk.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn audience_keeps_only_non_default_ports() {
        for (url, aud) in [
            (
                "https://fcm.googleapis.com/fcm/send/x",
                "https://fcm.googleapis.com",
            ),
            ("https://push.example:443/x?y", "https://push.example"),
            ("https://push.example:8443/x", "https://push.example:8443"),
            ("http://127.0.0.1:39001/p/1", "http://127.0.0.1:39001"),
            ("http://127.0.0.1:80/p/1", "http://127.0.0.1"),
        ] {
            assert_eq!(audience(&Url::parse(url).unwrap()), aud, "{url}");
        }
    }

    #[test]
    fn stored_key_round_trips() {
        let key = VapidKey::generate();
        let again = VapidKey::from_private_b64(&key.private_b64()).unwrap();
        assert_eq!(again.public_b64(), key.public_b64());
        assert!(VapidKey::from_private_b64("AAAA").is_err());
        assert!(VapidKey::from_private_b64(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
    }

    #[test]
    fn local_subject_hosts_are_told_apart_from_public_names() {
        for local in [
            "mailto:admin@localhost",
            "mailto:admin@chat.localhost",
            "mailto:admin@box.local",
            "mailto:admin@kez.test",
            "mailto:admin@nas.home.arpa",
            "mailto:admin@intranet",
            "mailto:admin@192.168.1.10",
            "mailto:admin@[::1]",
            "mailto:admin@LOCALHOST.",
            "mailto:nobody",
            "https://localhost:8443/contact",
            "https://10.0.0.1/",
            "https://[fe80::1]/",
            "https://chat.local",
        ] {
            assert!(local_subject_host(local).is_some(), "{local}");
        }
        for public in [
            "mailto:admin@kez.lat",
            "mailto:ops@chat.example.org?subject=push",
            "https://kez.lat/contact",
            "https://push-admin.example.com",
        ] {
            assert_eq!(local_subject_host(public), None, "{public}");
        }
    }
}
