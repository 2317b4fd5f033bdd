//! The auth callout's JWTs (ADR-26): reading nats-server's
//! `authorization_request`, writing the `authorization_response` and the user
//! JWT inside it, as `github.com/nats-io/jwt/v2` shapes them.
//!
//! A NATS JWT is `b64url(header) "." b64url(claims) "." b64url(sig)` (no
//! padding), header `{"typ":"JWT","alg":"ed25519-nkey"}`, `sig` an Ed25519
//! signature of the first two parts by the `iss` nkey, and `jti` the base32
//! (RFC 4648, no padding) SHA-512/256 of the claims JSON written without it.
//! The request is read with lenient structs: every field we do not use may
//! be missing or new (nats-jwt-rs' strict decoder fails on 2.15.1's requests).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha512_256};

use super::RequestError;

/// The header every NATS JWT we write carries, and the `alg` we accept.
const ALG: &str = "ed25519-nkey";
/// The `aud` of every authorization request.
pub(super) const REQUEST_AUDIENCE: &str = "nats-authorization-request";

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// The claims of an `authorization_request` we read; the rest is ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RequestClaims {
    pub(super) iss: String,
    /// The issuer account the request is for (`auth_callout.issuer`).
    pub(super) sub: String,
    pub(super) aud: String,
    pub(super) exp: Option<i64>,
    pub(super) nats: RequestNats,
}

/// `nats` of an authorization request.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RequestNats {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) server_id: ServerId,
    /// The user nkey nats-server generated for this connection: the `sub`
    /// of our answer and of the user JWT.
    pub(super) user_nkey: String,
    pub(super) client_info: ClientInfo,
    pub(super) connect_opts: ConnectOpts,
}

/// `nats.server_id`: the asking server (`id` is its public nkey `N…`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ServerId {
    pub(super) id: String,
}

/// `nats.client_info`: `nonce` is set when the client sent a `sig`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ClientInfo {
    pub(super) nonce: String,
}

/// `nats.connect_opts`: what the client sent in its CONNECT.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ConnectOpts {
    pub(super) auth_token: String,
    pub(super) nkey: String,
    /// The client's signature of the nonce, base64url.
    pub(super) sig: String,
}

/// A request JWT split and decoded, its signature not yet checked.
pub(super) struct Unverified {
    pub(super) claims: RequestClaims,
    signing_input: String,
    sig: Vec<u8>,
}

/// Splits and decodes a request JWT. Errors: [`RequestError::Malformed`]
/// for anything that is not three base64url parts of JSON,
/// [`RequestError::BadAlgorithm`] for another `alg`.
pub(super) fn decode(token: &str) -> Result<Unverified, RequestError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::Malformed);
    };
    let header: Header = from_b64_json(h)?;
    let claims: RequestClaims = from_b64_json(p)?;
    if header.alg != ALG {
        return Err(RequestError::BadAlgorithm);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| RequestError::Malformed)?;
    Ok(Unverified {
        claims,
        signing_input: format!("{h}.{p}"),
        sig,
    })
}

fn from_b64_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, RequestError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| RequestError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| RequestError::Malformed)
}

impl Unverified {
    /// Checks the request is signed by the server key in its `iss`.
    pub(super) fn signed_by_issuer(&self) -> bool {
        let iss = &self.claims.iss;
        iss.starts_with('N')
            && nkeys::KeyPair::from_public_key(iss)
                .and_then(|k| k.verify(self.signing_input.as_bytes(), &self.sig))
                .is_ok()
    }
}

/// Checks a client's nonce signature (`sig` of CONNECT, base64url as the
/// NATS clients send it; padded standard base64 accepted too, as the
/// server does) with its user nkey `U…`. False on any malformed part.
pub(super) fn nonce_signed(user_nkey: &str, nonce: &str, sig: &str) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| STANDARD_NO_PAD.decode(sig.trim_end_matches('=')))
    else {
        return false;
    };
    !nonce.is_empty()
        && user_nkey.starts_with('U')
        && nkeys::KeyPair::from_public_key(user_nkey)
            .and_then(|k| k.verify(nonce.as_bytes(), &sig))
            .is_ok()
}

/// What a user JWT grants (`nats` of jwt.go's `UserClaims`).
pub(super) struct UserGrant {
    /// Subjects it may publish to (`allow`), or `deny: [">"]` for none.
    pub(super) publish: Permission,
    /// Subjects it may subscribe to.
    pub(super) subscribe: Permission,
    /// Most subscriptions at once; -1 for no limit.
    pub(super) subs: i64,
    /// `allowed_connection_types` (jwt.go's `ConnectionTypeStandard`, …):
    /// a later leafnode or MQTT listener does not inherit the grant.
    pub(super) connection_types: &'static [&'static str],
}

/// jwt.go's `Permission`: an allow and a deny list of subjects.
#[derive(Default)]
pub(super) struct Permission {
    pub(super) allow: Vec<String>,
    pub(super) deny: Vec<String>,
}

impl Permission {
    /// `{"allow": [...], "deny": [...]}`, each list only when not empty.
    /// Built by hand, infallibly: a grant must never degrade to an empty
    /// (unrestricted) permission.
    fn to_json(&self) -> Value {
        let list = |l: &[String]| Value::Array(l.iter().cloned().map(Value::String).collect());
        let mut m = serde_json::Map::new();
        if !self.allow.is_empty() {
            m.insert("allow".to_owned(), list(&self.allow));
        }
        if !self.deny.is_empty() {
            m.insert("deny".to_owned(), list(&self.deny));
        }
        Value::Object(m)
    }
}

/// The user JWT for the connection `user_nkey` in `account`, issued by
/// `issuer` at `now` (unix seconds), valid `ttl_secs`, named `name`.
pub(super) fn user_jwt(
    issuer: &nkeys::KeyPair,
    user_nkey: &str,
    account: &str,
    name: &str,
    grant: &UserGrant,
    now: i64,
    ttl_secs: u64,
) -> String {
    let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
    let nats = json!({
        "pub": grant.publish.to_json(), "sub": grant.subscribe.to_json(), "subs": grant.subs,
        "data": -1, "payload": -1, "type": "user", "version": 2,
        "allowed_connection_types": grant.connection_types,
    });
    let claims = json!({
        "iat": now, "exp": now.saturating_add(ttl), "iss": issuer.public_key(),
        "name": name, "sub": user_nkey, "aud": account, "nats": nats,
    });
    encode(issuer, claims)
}

/// The `authorization_response` to `server_id` about `user_nkey`: a user
/// JWT, or an error message (never both).
pub(super) fn response_jwt(
    issuer: &nkeys::KeyPair,
    user_nkey: &str,
    server_id: &str,
    answer: Result<String, String>,
    now: i64,
) -> String {
    let mut nats = json!({"type": "authorization_response", "version": 2});
    match answer {
        Ok(jwt) => nats["jwt"] = json!(jwt),
        Err(e) => nats["error"] = json!(e),
    }
    let claims = json!({
        "iat": now, "iss": issuer.public_key(), "sub": user_nkey, "aud": server_id, "nats": nats,
    });
    encode(issuer, claims)
}

/// Adds `jti` to `claims` and signs them with `key`.
pub(super) fn encode(key: &nkeys::KeyPair, mut claims: Value) -> String {
    let digest = Sha512_256::digest(claims.to_string().as_bytes());
    claims["jti"] = json!(data_encoding::BASE32_NOPAD.encode(&digest));
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"typ":"JWT","alg":"{ALG}"}}"#));
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{body}");
    // Only a public-only key cannot sign, and the issuer is loaded from a
    // seed (checked at startup): a silent empty signature would be worse.
    let sig = key
        .sign(input.as_bytes())
        .expect("the callout issuer is loaded from a seed");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}
