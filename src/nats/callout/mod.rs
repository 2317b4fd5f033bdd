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
//! - **identities**, only with `--nats-callout-identities`: a client whose
//!   CONNECT `nkey` is the user-nkey form of a KEZ primary (§1) registered
//!   here, with a valid `sig` of the nonce: subscribe to its own inbox
//!   subject only, publish nothing, in an account of its own.
//!
//! Everything else gets an `authorization_response` with `nats.error`.

mod jwt;
pub mod keys;
mod outcome;
mod service;

use std::future::Future;

use sha2::{Digest, Sha256};

use crate::kez::{Handle, Identity};
use jwt::{Permission, UserGrant};
pub use outcome::{Decisions, Outcome, RequestError};
pub use service::{CalloutService, CalloutStats};

/// The subject nats-server sends authorization requests on.
pub const CALLOUT_SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// The queue group the instances answer in, so one of them answers each.
pub const CALLOUT_QUEUE: &str = "kez-chat-callout";
/// Largest request JWT read; a larger one is refused unread (bytes). Room
/// for a client certificate chain (PEM) under `tls { verify: true }`, and
/// still bounded by nats-server's `max_payload`.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most subscriptions an identity connection may hold.
pub const IDENTITY_MAX_SUBS: i64 = 8;
/// Seconds a request's `exp` may lie in the past (clock skew).
const EXP_LEEWAY_SECS: i64 = 30;

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
    /// The account admitted instances are placed in (`aud` of the user JWT).
    account: String,
    /// Where admitted identities go; `None`: identities are refused.
    identity_account: Option<String>,
    /// SHA-256 of the instance token (compared in constant time).
    instance_token: [u8; 32],
    /// `--server`, for identities' inbox subjects.
    domain: String,
    /// Lifetime of a user JWT in seconds.
    ttl_secs: u64,
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
            .ok()
            .filter(|k| k.key_pair_type() == nkeys::KeyPairType::Account)
            .ok_or_else(|| anyhow::anyhow!("not an account nkey seed (SA…)"))?;
        anyhow::ensure!(!instance_token.is_empty(), "the instance token is empty");
        anyhow::ensure!(!account.is_empty(), "the callout account is empty");
        Ok(Self {
            issuer,
            account: account.to_owned(),
            identity_account: None,
            instance_token: Sha256::digest(instance_token.as_bytes()).into(),
            domain: domain.to_owned(),
            ttl_secs,
        })
    }

    /// Admits identities too, into `account` (`--nats-callout-identities`);
    /// `None` keeps them refused.
    #[must_use]
    pub fn with_identities(mut self, account: Option<&str>) -> Self {
        self.identity_account = account.map(str::to_owned);
        self
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
        let (user, server) = addressee(request);
        let decided = match unverified {
            Ok(u) => match check(&u, &self.issuer.public_key(), now) {
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

    /// [`Self::authorize`] within `limit`: a decision that takes longer (a
    /// directory lookup waiting for the database) is answered
    /// [`RequestError::Busy`], in time for nats-server's `auth_timeout`.
    pub async fn authorize_within(
        &self,
        request: &[u8],
        now: i64,
        dir: &impl Directory,
        limit: std::time::Duration,
    ) -> (String, Outcome) {
        let decide = self.authorize(request, now, dir);
        match tokio::time::timeout(limit, decide).await {
            Ok(decided) => decided,
            Err(_) => {
                let why = RequestError::Busy;
                (self.refuse(request, now, why), Outcome::Refused(why))
            }
        }
    }

    /// A refusal for `why` of `request` (unverified, addressed as well as it
    /// allows), for a request that could not be decided.
    pub fn refuse(&self, request: &[u8], now: i64, why: RequestError) -> String {
        let (user, server) = addressee(request);
        jwt::response_jwt(&self.issuer, &user, &server, Err(why.to_string()), now)
    }

    /// Who the client is, and its user JWT.
    async fn decide(
        &self,
        req: &jwt::RequestNats,
        now: i64,
        dir: &impl Directory,
    ) -> Result<(String, Outcome), RequestError> {
        let opts = &req.connect_opts;
        let (name, account, grant, outcome) = if !opts.auth_token.is_empty() {
            if !self.is_instance_token(&opts.auth_token) {
                return Err(RequestError::BadToken);
            }
            let grant = instance_grant();
            ("kez-instance", &self.account, grant, Outcome::Instance)
        } else if !opts.nkey.is_empty() {
            // Refused before any signature check or lookup when off.
            let account = self
                .identity_account
                .as_ref()
                .ok_or(RequestError::IdentitiesOff)?;
            let handle = self.identity(req, dir).await?;
            let subject = super::fanout::inbox_subject(&self.domain, handle.as_str());
            (
                "kez-identity",
                account,
                identity_grant(subject),
                Outcome::Identity,
            )
        } else {
            return Err(RequestError::NoCredentials);
        };
        let user = jwt::user_jwt(
            &self.issuer,
            &req.user_nkey,
            account,
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

/// The connection's `user_nkey` and the asking server's id from an
/// unverified request, or empty strings when unreadable.
fn addressee(request: &[u8]) -> (String, String) {
    if request.len() > MAX_REQUEST_BYTES {
        return (String::new(), String::new());
    }
    std::str::from_utf8(request)
        .map_err(|_| RequestError::Malformed)
        .and_then(jwt::decode)
        .map(|u| (u.claims.nats.user_nkey, u.claims.nats.server_id.id))
        .unwrap_or_default()
}

/// The checks on the request itself: signed by the server it names, meant
/// for a callout and for `issuer` (`sub`), not expired, with a user nkey to
/// answer about.
fn check(u: &jwt::Unverified, issuer: &str, now: i64) -> Result<(), RequestError> {
    let c = &u.claims;
    if !u.signed_by_issuer() || c.iss != c.nats.server_id.id {
        return Err(RequestError::BadSignature);
    }
    if c.aud != jwt::REQUEST_AUDIENCE || c.nats.kind != "authorization_request" {
        return Err(RequestError::WrongAudience);
    }
    if c.sub != issuer {
        return Err(RequestError::WrongIssuer);
    }
    if c.exp
        .is_none_or(|exp| exp.saturating_add(EXP_LEEWAY_SECS) < now)
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
        connection_types: &["STANDARD"],
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
        connection_types: &["STANDARD", "WEBSOCKET"],
    }
}

#[cfg(test)]
mod tests;
