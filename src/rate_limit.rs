//! Per-client-IP token buckets (GCRA via `governor`) for the endpoints
//! strangers can hammer: posting messages and registering handles.
//!
//! IPv6 clients are keyed by their /64, since one host usually owns a whole /64.
//! A periodic sweep drops buckets that have refilled completely, so memory
//! stays bounded however many addresses pass by.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::AppError;
use crate::extract::ClientIp;
use crate::state::AppState;

/// Picks the limiter of one class of requests from the state.
pub trait Limit {
    /// The limiter this class draws tokens from.
    fn limiter(state: &AppState) -> &IpRateLimiter;

    /// Called when a request of this class is refused (counted where the
    /// class has a `/metrics` figure for it).
    fn refused(_state: &AppState) {}
}

/// `POST /v1/messages`.
pub struct Messages;
/// `POST /v1/messages?notify=false` (receipts, attachment chunks: SPEC §7.5).
pub struct SilentMessages;
/// `POST /v1/register`.
pub struct Registrations;
/// Push subscription changes.
pub struct PushChanges;
/// `PUT /v1/profile`.
pub struct Profiles;
/// `POST /v1/sigchains/ed25519/{hex}`.
pub struct Sigchains;
/// `GET /v1/sigchains/ed25519/{hex}/proofs` (SPEC §15.5): it starts fetches.
pub struct Proofs;

impl Limit for Messages {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.message_limiter
    }
}
impl Limit for SilentMessages {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.silent_limiter
    }
}
/// `POST /v1/messages?ephemeral=true` (typing, read receipts: SPEC §7.7).
pub struct EphemeralMessages;
impl Limit for EphemeralMessages {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.ephemeral_limiter
    }
}
impl Limit for Registrations {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.register_limiter
    }
}
impl Limit for PushChanges {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.push_limiter
    }
}
impl Limit for Profiles {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.profile_limiter
    }
}
impl Limit for Sigchains {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.sigchain_limiter
    }
}
impl Limit for Proofs {
    fn limiter(state: &AppState) -> &IpRateLimiter {
        &state.proof_limiter
    }

    fn refused(state: &AppState) {
        state.proofs.count_rate_limited();
    }
}

/// Extractor that takes a token for the client from `L`'s limiter. Listed
/// before the body extractor, it runs before the body is read, so a refused
/// request costs no buffering or parsing.
pub struct RateLimited<L>(std::marker::PhantomData<L>);

impl<L: Limit> axum::extract::FromRequestParts<AppState> for RateLimited<L> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        L::limiter(state)
            .check(ip)
            .inspect_err(|_| L::refused(state))?;
        Ok(Self(std::marker::PhantomData))
    }
}

/// The token of a message post, from the bucket its query names before the
/// body is read (SPEC §7.5): `?notify=false` takes it from the silent
/// bucket, and then the post never pushes, whatever its body says.
pub struct MessageToken {
    /// The post came with `?notify=false`.
    pub silent: bool,
    /// The post came with `?ephemeral=true` (SPEC §7.7): its token came
    /// from the ephemeral bucket, and its body must say `"ephemeral": true`.
    pub ephemeral: bool,
}

/// The query of a message post (SPEC §7.1): `?notify=false`,
/// `?ephemeral=true`; `true`/`false` only, each at most once.
#[derive(serde::Deserialize)]
struct MessageQuery {
    notify: Option<bool>,
    ephemeral: Option<bool>,
}

impl axum::extract::FromRequestParts<AppState> for MessageToken {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query: MessageQuery = crate::extract::parse_query(parts.uri.query().unwrap_or(""))?;
        let silent = query.notify == Some(false);
        let ephemeral = query.ephemeral == Some(true);
        if ephemeral {
            RateLimited::<EphemeralMessages>::from_request_parts(parts, state).await?;
            // The small bound is known before the body is read (SPEC §7.7).
            let declared = parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > crate::messages::MAX_EPHEMERAL_BODY_BYTES as u64) {
                return Err(AppError::payload_too_large(
                    "an ephemeral post is larger than 9 KiB",
                ));
            }
            // A chunked body is cut there too, not at the route's limit.
            parts.extensions.insert(crate::extract::BodyCap(
                crate::messages::MAX_EPHEMERAL_BODY_BYTES,
            ));
        } else if silent {
            RateLimited::<SilentMessages>::from_request_parts(parts, state).await?;
        } else {
            RateLimited::<Messages>::from_request_parts(parts, state).await?;
        }
        Ok(Self { silent, ephemeral })
    }
}

/// One class of rate limit (e.g. "message posts"), keyed by client network.
#[derive(Clone)]
pub struct IpRateLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    what: &'static str,
}

impl IpRateLimiter {
    /// A bucket of `burst` tokens refilled at `per_minute` tokens per minute.
    pub fn per_minute(per_minute: u32, burst: u32, what: &'static str) -> Self {
        let rate = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self::with_quota(Quota::per_minute(rate).allow_burst(burst), what)
    }

    /// A limiter with an explicit quota (tests use fast refills).
    pub fn with_quota(quota: Quota, what: &'static str) -> Self {
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            what,
        }
    }

    /// Takes one token for `ip`, or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), AppError> {
        self.limiter
            .check_key(&network_key(ip))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                AppError::too_many_requests(
                    "rate_limited",
                    format!("too many {} from your address; slow down", self.what),
                    wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                )
            })
    }

    /// Forgets buckets that are indistinguishable from fresh ones.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Buckets currently held.
    pub fn tracked_keys(&self) -> usize {
        self.limiter.len()
    }
}

/// The unit one client is counted by: IPv4 as is, IPv6 truncated to its /64
/// (IPv4-mapped addresses as IPv4), since one host usually owns a whole /64.
pub fn network_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_61st_request_in_a_minute_is_refused_with_retry_after() {
        let l = IpRateLimiter::per_minute(60, 60, "posts");
        for _ in 0..60 {
            l.check(ip("192.0.2.1")).unwrap();
        }
        match l.check(ip("192.0.2.1")) {
            Err(AppError::TooManyRequests {
                retry_after_secs, ..
            }) => assert!((1..=2).contains(&retry_after_secs), "{retry_after_secs}"),
            other => panic!("expected 429, got {other:?}"),
        }
        l.check(ip("192.0.2.2")).expect("another IP is unaffected");
    }

    #[test]
    fn ipv6_neighbours_in_one_64_share_a_bucket() {
        let l = IpRateLimiter::per_minute(1, 1, "posts");
        l.check(ip("2001:db8::1")).unwrap();
        assert!(l.check(ip("2001:db8::ffff")).is_err());
        l.check(ip("2001:db8:0:1::1")).unwrap();
    }

    #[test]
    fn sweep_frees_idle_buckets() {
        let quota = Quota::per_second(NonZeroU32::new(1000).unwrap());
        let l = IpRateLimiter::with_quota(quota, "posts");
        for i in 0..100u8 {
            l.check(IpAddr::from([10, 0, 0, i])).unwrap();
        }
        assert_eq!(l.tracked_keys(), 100);
        std::thread::sleep(Duration::from_millis(20));
        l.sweep();
        assert_eq!(l.tracked_keys(), 0);
    }
}
