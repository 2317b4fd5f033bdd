//! The NATS auth callout (SPEC §11 "Auth callout", ADR-26): who may connect
//! to the deployment's nats-server, and with which permissions.
//!
//! nats-server publishes an `authorization_request` JWT on
//! `$SYS.REQ.USER.AUTH` for every connecting client; [`CalloutService`]
//! answers it with [`Authorizer::authorize`], a pure decision apart from the
//! [`Directory`] lookup of a key's handle. Two kinds of client get in:
//!
//! - **instances** (other server processes, §11 fan-out) with the shared
//!   instance token (`auth_token` of CONNECT): publish and subscribe on
//!   `kez.chat.inbox.>`;
//! - **identities**: a client whose CONNECT `nkey` is the user-nkey form of
//!   a KEZ primary (§1) registered here, with a valid `sig` of the nonce:
//!   subscribe to its own inbox subject only, publish nothing.
//!
//! Everything else gets an `authorization_response` with `nats.error`.

mod jwt;
pub mod keys;
mod service;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::kez::{Handle, Identity};
use jwt::{Permission, UserGrant};
pub use service::{CalloutService, CalloutStats};

/// The subject nats-server sends authorization requests on.
pub const CALLOUT_SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// The queue group the instances answer in, so one of them answers each.
pub const CALLOUT_QUEUE: &str = "kez-chat-callout";
/// Largest request JWT read; a larger one is refused unread (bytes).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Most subscriptions an identity connection may hold.
pub const IDENTITY_MAX_SUBS: i64 = 8;
/// Seconds a request's `exp` may lie in the past (clock skew).
const EXP_LEEWAY_SECS: i64 = 30;

/// Why a request was not answered with a user JWT. The `Display` text goes
/// into `nats.error`, which nats-server logs: it never names a key or handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Over [`MAX_REQUEST_BYTES`].
    #[error("authorization request too large")]
    TooLarge,
    /// Not a JWT of JSON parts.
    #[error("malformed authorization request")]
    Malformed,
    /// `alg` other than `ed25519-nkey`.
    #[error("unsupported JWT algorithm")]
    BadAlgorithm,
    /// Not signed by the server key in `iss`, or `iss` is not `server_id.id`.
    #[error("authorization request not signed by the asking server")]
    BadSignature,
    /// `aud` other than `nats-authorization-request`, or another `type`.
    #[error("not an authorization request")]
    WrongAudience,
    /// `exp` in the past.
    #[error("authorization request expired")]
    Expired,
    /// No or a malformed `user_nkey`.
    #[error("authorization request without a user nkey")]
    NoUserNkey,
    /// An `auth_token` that is not the instance token.
    #[error("unknown instance token")]
    BadToken,
    /// An `nkey` without a valid signature of the nonce.
    #[error("nonce signature missing or invalid")]
    BadNonceSignature,
    /// An `nkey` that is not a registered KEZ primary here.
    #[error("unknown identity")]
    UnknownIdentity,
    /// No token and no nkey.
    #[error("no accepted credentials")]
    NoCredentials,
}

/// What became of one request, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Admitted as a server instance.
    Instance,
    /// Admitted as a registered identity.
    Identity,
    /// Answered with `nats.error`.
    Refused(RequestError),
}

/// Looks up the handle registered here for a KEZ primary (the store in the
/// server, a map in unit tests).
pub trait Directory {
    /// The handle whose primary is `id`, if any; a lookup failure is `None`.
    fn handle_of(&self, id: Identity) -> impl Future<Output = Option<Handle>> + Send;
}

impl Directory for crate::store::Store {
    async fn handle_of(&self, id: Identity) -> Option<Handle> {
        match self.handle_by_primary(id).await {
            Ok(found) => found.map(|r| r.handle),
            Err(e) => {
                tracing::warn!(error = %e, "auth callout: cannot look a key up");
                None
            }
        }
    }
}

/// The callout's settings: who signs, where users go, what proves an instance.
pub struct Authorizer {
    /// The account nkey (`auth_callout.issuer`) that signs every answer.
    issuer: nkeys::KeyPair,
    /// The account admitted users are placed in (`aud` of the user JWT).
    account: String,
    /// SHA-256 of the instance token (compared in constant time).
    instance_token: [u8; 32],
    /// `--server`, for identities' inbox subjects.
    domain: String,
    /// Lifetime of a user JWT in seconds.
    ttl_secs: u64,
}

/// Counters of [`Outcome`]s.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Admitted instances.
    pub instance: AtomicU64,
    /// Admitted identities.
    pub identity: AtomicU64,
    /// Refused requests.
    pub refused: AtomicU64,
}

impl Decisions {
    /// Counts `o`.
    pub fn count(&self, o: Outcome) {
        let c = match o {
            Outcome::Instance => &self.instance,
            Outcome::Identity => &self.identity,
            Outcome::Refused(_) => &self.refused,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl Authorizer {
    /// An authorizer signing with the account seed `issuer_seed` (`SA…`).
    /// Errors: a seed that is not an account seed, or an empty token.
    pub fn new(
        issuer_seed: &str,
        account: &str,
        instance_token: &str,
        domain: &str,
        ttl_secs: u64,
    ) -> anyhow::Result<Self> {
        let issuer = nkeys::KeyPair::from_seed(issuer_seed.trim())
            .map_err(|_| anyhow::anyhow!("the callout issuer seed is not an nkey seed"))?;
        anyhow::ensure!(
            issuer.key_pair_type() == nkeys::KeyPairType::Account,
            "the callout issuer seed must be an account seed (SA…)"
        );
        anyhow::ensure!(!instance_token.is_empty(), "the instance token is empty");
        anyhow::ensure!(!account.is_empty(), "the callout account is empty");
        Ok(Self {
            issuer,
            account: account.to_owned(),
            instance_token: Sha256::digest(instance_token.as_bytes()).into(),
            domain: domain.to_owned(),
            ttl_secs,
        })
    }

    /// The issuer's public key (`A…`), for `auth_callout.issuer`.
    pub fn issuer_public_key(&self) -> String {
        self.issuer.public_key()
    }

    /// Answers one `authorization_request` JWT received at `now` (unix
    /// seconds) with a signed `authorization_response` JWT and what it
    /// decided. Never fails: a request it refuses, or cannot read, gets a
    /// response with `nats.error` (addressed as well as the request allows).
    pub async fn authorize(
        &self,
        request: &[u8],
        now: i64,
        dir: &impl Directory,
    ) -> (String, Outcome) {
        let unverified = if request.len() > MAX_REQUEST_BYTES {
            Err(RequestError::TooLarge)
        } else {
            std::str::from_utf8(request)
                .map_err(|_| RequestError::Malformed)
                .and_then(jwt::decode)
        };
        let (user, server) = match &unverified {
            Ok(u) => (
                u.claims.nats.user_nkey.clone(),
                u.claims.nats.server_id.id.clone(),
            ),
            Err(_) => (String::new(), String::new()),
        };
        let decided = match unverified {
            Ok(u) => match check(&u, now) {
                Ok(()) => self.decide(&u.claims.nats, now, dir).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let (answer, outcome) = match decided {
            Ok((jwt, o)) => (Ok(jwt), o),
            Err(e) => (Err(e.to_string()), Outcome::Refused(e)),
        };
        let response = jwt::response_jwt(&self.issuer, &user, &server, answer, now);
        (response, outcome)
    }

    /// Who the client is, and its user JWT.
    async fn decide(
        &self,
        req: &jwt::RequestNats,
        now: i64,
        dir: &impl Directory,
    ) -> Result<(String, Outcome), RequestError> {
        let opts = &req.connect_opts;
        let (name, grant, outcome) = if !opts.auth_token.is_empty() {
            if !self.is_instance_token(&opts.auth_token) {
                return Err(RequestError::BadToken);
            }
            ("kez-instance", instance_grant(), Outcome::Instance)
        } else if !opts.nkey.is_empty() {
            let handle = self.identity(req, dir).await?;
            let subject = super::fanout::inbox_subject(&self.domain, handle.as_str());
            ("kez-identity", identity_grant(subject), Outcome::Identity)
        } else {
            return Err(RequestError::NoCredentials);
        };
        let user = jwt::user_jwt(
            &self.issuer,
            &req.user_nkey,
            &self.account,
            name,
            &grant,
            now,
            self.ttl_secs,
        );
        Ok((user, outcome))
    }

    /// The handle of a client connecting with an nkey that signed the nonce.
    async fn identity(
        &self,
        req: &jwt::RequestNats,
        dir: &impl Directory,
    ) -> Result<Handle, RequestError> {
        let opts = &req.connect_opts;
        if !jwt::nonce_signed(&opts.nkey, &req.client_info.nonce, &opts.sig) {
            return Err(RequestError::BadNonceSignature);
        }
        let Ok((_, raw)) = nkeys::from_public_key(&opts.nkey) else {
            return Err(RequestError::BadNonceSignature);
        };
        let id = Identity::from_bytes(&raw).map_err(|_| RequestError::UnknownIdentity)?;
        dir.handle_of(id).await.ok_or(RequestError::UnknownIdentity)
    }

    fn is_instance_token(&self, token: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Equal-time over the digests: no early exit on the first difference.
        given
            .iter()
            .zip(&self.instance_token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// The checks on the request itself: signed by the server it names, meant
/// for a callout, not expired, with a user nkey to answer about.
fn check(u: &jwt::Unverified, now: i64) -> Result<(), RequestError> {
    let c = &u.claims;
    if !u.signed_by_issuer() || c.iss != c.nats.server_id.id {
        return Err(RequestError::BadSignature);
    }
    if c.aud != jwt::REQUEST_AUDIENCE || c.nats.kind != "authorization_request" {
        return Err(RequestError::WrongAudience);
    }
    if c.exp
        .is_some_and(|exp| exp.saturating_add(EXP_LEEWAY_SECS) < now)
    {
        return Err(RequestError::Expired);
    }
    if !c.nats.user_nkey.starts_with('U') || nkeys::from_public_key(&c.nats.user_nkey).is_err() {
        return Err(RequestError::NoUserNkey);
    }
    Ok(())
}

/// An instance: publish and subscribe on every inbox subject (the §11
/// fan-out uses no request/reply, so no `_INBOX.>`).
fn instance_grant() -> UserGrant {
    let inboxes = vec![super::fanout::SUBJECT_WILDCARD.to_owned()];
    UserGrant {
        publish: Permission {
            allow: inboxes.clone(),
            deny: Vec::new(),
        },
        subscribe: Permission {
            allow: inboxes,
            deny: Vec::new(),
        },
        subs: -1,
    }
}

/// An identity: its own inbox subject to subscribe to, nothing to publish.
fn identity_grant(subject: String) -> UserGrant {
    UserGrant {
        publish: Permission {
            allow: Vec::new(),
            deny: vec![">".to_owned()],
        },
        subscribe: Permission {
            allow: vec![subject],
            deny: Vec::new(),
        },
        subs: IDENTITY_MAX_SUBS,
    }
}

#[cfg(test)]
mod tests;
