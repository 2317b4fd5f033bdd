//! What the callout decided about one request, and the counts of it for
//! `/metrics` (SPEC §11.1): fixed reasons, never a key or handle.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a request was not answered with a user JWT. The `Display` text goes
/// into `nats.error`, which nats-server logs: it never names a key or handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Over [`super::MAX_REQUEST_BYTES`].
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
    /// `sub` is not this callout's issuer: meant for another callout.
    #[error("authorization request for another issuer")]
    WrongIssuer,
    /// `exp` missing, or in the past.
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
    /// An `nkey` while identities are off (`--nats-callout-identities`).
    #[error("identities are not admitted")]
    IdentitiesOff,
    /// No token and no nkey.
    #[error("no accepted credentials")]
    NoCredentials,
    /// Not decided in time (the directory was too slow), or too many
    /// requests in progress.
    #[error("auth callout busy")]
    Busy,
}

impl RequestError {
    /// Every reason, for the metric's label set.
    pub const ALL: [Self; 14] = [
        Self::TooLarge,
        Self::Malformed,
        Self::BadAlgorithm,
        Self::BadSignature,
        Self::WrongAudience,
        Self::WrongIssuer,
        Self::Expired,
        Self::NoUserNkey,
        Self::BadToken,
        Self::BadNonceSignature,
        Self::UnknownIdentity,
        Self::IdentitiesOff,
        Self::NoCredentials,
        Self::Busy,
    ];

    /// The `reason` label of `kez_nats_callout_decisions_total`: a fixed
    /// name, never a key or handle.
    pub fn label(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed => "malformed",
            Self::BadAlgorithm => "bad_algorithm",
            Self::BadSignature => "bad_signature",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Expired => "expired",
            Self::NoUserNkey => "no_user_nkey",
            Self::BadToken => "bad_token",
            Self::BadNonceSignature => "bad_nonce_signature",
            Self::UnknownIdentity => "unknown_identity",
            Self::IdentitiesOff => "identities_off",
            Self::NoCredentials => "no_credentials",
            Self::Busy => "busy",
        }
    }
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

/// Counters of [`Outcome`]s.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Admitted instances.
    pub instance: AtomicU64,
    /// Admitted identities.
    pub identity: AtomicU64,
    /// Refused requests, all reasons.
    pub refused: AtomicU64,
    /// Refused requests by reason, indexed like [`RequestError::ALL`].
    by_reason: [AtomicU64; RequestError::ALL.len()],
}

impl Decisions {
    /// Counts `o`.
    pub fn count(&self, o: Outcome) {
        let c = match o {
            Outcome::Instance => &self.instance,
            Outcome::Identity => &self.identity,
            Outcome::Refused(why) => {
                if let Some(i) = RequestError::ALL.iter().position(|r| *r == why) {
                    self.by_reason[i].fetch_add(1, Ordering::Relaxed);
                }
                &self.refused
            }
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused for `why` so far.
    pub fn refused_for(&self, why: RequestError) -> u64 {
        RequestError::ALL
            .iter()
            .position(|r| *r == why)
            .map_or(0, |i| self.by_reason[i].load(Ordering::Relaxed))
    }
}
