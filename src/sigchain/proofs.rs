//! Proof checks by the home server (SPEC §15.5): `GET
//! /v1/sigchains/ed25519/{hex}/proofs` fetches each active claim's proof
//! statement (gist, well-known file, TXT record) and says whether it proves
//! the claim. Verdicts are cached per add link, one request per chain
//! checks at a time, and fetches share a server-wide bound.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::ProofConfig;
use crate::error::{AppError, Result};
use crate::extract::AppPath;
use crate::kez::Identity;
use crate::kez::sigchain::{Claim, Service};
use crate::rate_limit::{Proofs, RateLimited};
use crate::state::AppState;

mod cache;
mod fetch;
mod flight;
mod judge;
mod stats;
#[cfg(test)]
mod tests;

pub use cache::{Claims, FAILED_TTL, MAX_CACHED, MAX_CACHED_CHAINS, VERIFIED_TTL};
pub use flight::MAX_FLIGHTS;
use judge::{asks_no_cache, judge};

/// A request waits at most this many fetch timeouts for its chain's check
/// (20 s with the default 5 s, below the default 30 s request timeout).
pub const ANSWER_WITHIN_TIMEOUTS: u32 = 4;

/// A verdict's class (SPEC §15.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The statement proves the claim.
    Verified,
    /// The place answered, and what it holds does not prove the claim.
    Failed,
    /// The place could not be read (timeout, refused address, DNS error…).
    Unreachable,
}

impl Status {
    /// The SPEC §15.5 name (also the `/metrics` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Failed => "failed",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Why a claim is not verified: a status and a SPEC §15.5 reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fail {
    status: Status,
    reason: String,
    detail: Option<&'static str>,
}

impl Fail {
    fn failed(reason: impl Into<String>) -> Self {
        Self {
            status: Status::Failed,
            reason: reason.into(),
            detail: None,
        }
    }

    fn unreachable(reason: &str) -> Self {
        Self {
            status: Status::Unreachable,
            reason: reason.to_owned(),
            detail: None,
        }
    }

    fn bad_statement(code: &'static str) -> Self {
        Self {
            detail: Some(code),
            ..Self::failed("bad_statement")
        }
    }
}

/// One entry of the answer's `proofs` list.
#[derive(Debug, Clone, Serialize)]
pub struct ProofView {
    /// Hash of the claim's add link.
    pub link: String,
    /// `github`, `https` or `dns`.
    pub service: &'static str,
    /// The claimed name.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// `ok` or a SPEC §15.5 reason code.
    pub reason: String,
    /// The kez-core code of a `bad_statement`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
    /// When the verdict was reached, RFC 3339 UTC seconds.
    pub checked_at: String,
    /// Not `verified`: the earliest time a `Cache-Control: no-cache`
    /// request checks the claim again (absent for `busy`, never cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck_at: Option<String>,
}

/// The checker in [`AppState`]: fetcher, caches, per-chain single flight
/// and the bounds on fetches. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ProofChecker(Arc<Inner>);

struct Inner {
    fetcher: fetch::Fetcher,
    verdicts: cache::Verdicts,
    claims: cache::ChainClaims,
    flights: flight::Flights,
    slots: Semaphore,
    per_chain: usize,
    timeout: Duration,
    recheck_after: Duration,
    stats: stats::Stats,
}

impl ProofChecker {
    /// Builds the checker from `--github-api-url`, `--doh-url` and the
    /// other SPEC §15.5 flags; a chain's check may use a quarter of
    /// `--proof-checks-in-flight` (at least 1). Fails if the HTTP client
    /// cannot be built or a base URL is refused.
    pub fn new(c: &ProofConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(c.proof_timeout_ms);
        let slots = c.proof_checks_in_flight as usize;
        Ok(Self(Arc::new(Inner {
            fetcher: fetch::Fetcher::new(c, timeout)?,
            verdicts: cache::Verdicts::default(),
            claims: cache::ChainClaims::default(),
            flights: flight::Flights::default(),
            slots: Semaphore::new(slots),
            per_chain: (slots / 4).max(1),
            timeout,
            recheck_after: Duration::from_secs(c.proof_recheck_after_secs),
            stats: stats::Stats::default(),
        })))
    }

    /// Adds the `kez_proof_*` figures to a `/metrics` scrape (no identifiers).
    pub fn register_metrics(&self, r: &mut prometheus_client::registry::Registry) {
        self.0.stats.register(r);
    }

    /// Counts a `/proofs` request refused by `--proof-rate-per-minute`.
    pub fn count_rate_limited(&self) {
        self.0.stats.rate_limited();
    }

    /// Verdicts for `claims` of `primary`'s chain at `etag`, in order:
    /// cached ones reused, the others fetched, a chain's fetches at most
    /// `per_chain` at once. The check runs in its own task, joined by every
    /// request for the same chain head; an abandoned request leaves it
    /// running. The request waits at most [`ANSWER_WITHIN_TIMEOUTS`] fetch
    /// timeouts: claims not checked by then are `busy` (the check goes on
    /// and caches them). With [`flight::MAX_FLIGHTS`] checks running, the
    /// uncached claims are `busy`. With `fresh` (a `Cache-Control: no-cache`
    /// request), a cached verdict that is not `verified` and at least
    /// `--proof-recheck-after-secs` old is dropped first, so it is checked
    /// again. Errors: 500 if the check's task panicked.
    pub async fn check_chain(
        &self,
        primary: &Identity,
        etag: &str,
        claims: Claims,
        fresh: bool,
    ) -> Result<Vec<ProofView>> {
        if fresh {
            for (hash, _) in claims.iter() {
                self.0
                    .verdicts
                    .forget_unverified(hash, self.0.recheck_after);
            }
        }
        let check = Inner::check_all(&self.0, primary, &claims);
        let started = self
            .0
            .flights
            .join_or_start(&format!("{primary} {etag}"), check);
        let Some(flight) = started else {
            return Ok(self.0.cached_or_busy(&claims));
        };
        let within = self.0.timeout.saturating_mul(ANSWER_WITHIN_TIMEOUTS);
        let Ok(views) = tokio::time::timeout(within, flight).await else {
            return Ok(self.0.cached_or_busy(&claims));
        };
        let views =
            views.ok_or_else(|| AppError::internal(anyhow::anyhow!("proof check task failed")))?;
        Ok(views.as_ref().clone())
    }
}

impl Inner {
    /// Each claim's cached verdict, else `busy`.
    fn cached_or_busy(&self, claims: &[(String, Claim)]) -> Vec<ProofView> {
        claims
            .iter()
            .map(|(h, c)| {
                if let Some(view) = self.verdicts.get(h) {
                    self.stats.cache_hit();
                    return view;
                }
                self.stats.busy();
                view_of(h, c, Err(Fail::unreachable("busy")))
            })
            .collect()
    }

    /// The verdicts of `claims`, at most `per_chain` checked at once.
    fn check_all(
        me: &Arc<Self>,
        primary: &Identity,
        claims: &Claims,
    ) -> impl Future<Output = Vec<ProofView>> + Send + 'static {
        let each: Vec<_> = (0..claims.len())
            .map(|i| {
                let (me, primary, claims) = (Arc::clone(me), primary.clone(), Arc::clone(claims));
                async move {
                    let (hash, claim) = &claims[i];
                    me.verdict(&primary, hash, claim).await
                }
            })
            .collect();
        let per_chain = me.per_chain;
        futures_util::stream::iter(each)
            .buffered(per_chain)
            .collect()
    }

    async fn verdict(&self, primary: &Identity, hash: &str, claim: &Claim) -> ProofView {
        if let Some(view) = self.verdicts.get(hash) {
            self.stats.cache_hit();
            return view;
        }
        self.stats.started();
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(self.timeout, self.slots.acquire()).await {
            // One deadline for the whole claim (a gist and its raw files).
            Ok(Ok(_permit)) => tokio::time::timeout(self.timeout, self.check(primary, claim))
                .await
                .unwrap_or_else(|_| Err(Fail::unreachable("timeout"))),
            _ => Err(Fail::unreachable("busy")),
        };
        let busy = matches!(&outcome, Err(f) if f.reason == "busy");
        let mut view = view_of(hash, claim, outcome);
        if busy {
            self.stats.busy();
        } else {
            let seconds = started.elapsed().as_secs_f64();
            self.stats.finished(view.status, &view.reason, seconds);
            if view.status != Status::Verified {
                let now = Utc::now();
                view.checked_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
                let at = now + self.recheck_after;
                view.recheck_at = Some(at.to_rfc3339_opts(SecondsFormat::Secs, true));
            }
            self.verdicts.put(&view);
        }
        view
    }

    async fn check(&self, primary: &Identity, claim: &Claim) -> Result<(), Fail> {
        let candidates = match claim.service {
            Service::Github => self.fetcher.github(claim).await,
            Service::Https => self.fetcher.https(claim).await,
            Service::Dns => self.fetcher.dns(claim).await,
        };
        let mut first = None;
        for c in candidates {
            match c.and_then(|bytes| judge(&bytes, primary, claim)) {
                Ok(()) => return Ok(()),
                Err(f) => {
                    first.get_or_insert(f);
                }
            }
        }
        Err(first.unwrap_or_else(|| Fail::failed("not_found")))
    }
}

fn view_of(hash: &str, claim: &Claim, outcome: Result<(), Fail>) -> ProofView {
    let (status, reason, detail) = match outcome {
        Ok(()) => (Status::Verified, "ok".to_owned(), None),
        Err(f) => (f.status, f.reason, f.detail),
    };
    ProofView {
        link: hash.to_owned(),
        service: claim.service.as_str(),
        name: claim.name.clone(),
        status,
        reason,
        detail,
        checked_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        recheck_at: None,
    }
}

/// # `GET /v1/sigchains/ed25519/{hex}/proofs`
/// 200 `{"primary", "proofs": [{"link", "service", "name", "status",
/// "reason", "detail"?, "checked_at"}…]}` for the chain's active claims in
/// order (SPEC §15.5), `Cache-Control: no-store`; 404 `not_found` for a key
/// not registered here, 400 `invalid_key` for a malformed one, 429
/// `rate_limited` past `--proof-rate-per-minute` for the client's network.
/// `Cache-Control: no-cache` re-checks what is not verified (see
/// [`ProofChecker::check_chain`]).
pub(super) async fn get_proofs(
    State(state): State<AppState>,
    _: RateLimited<Proofs>,
    headers: HeaderMap,
    AppPath(hex): AppPath<String>,
) -> Result<Response> {
    let primary = super::path_key(&hex)?;
    let fresh = asks_no_cache(&headers);
    let (etag, claims) = active_claims(&state, &primary).await?;
    let proofs = state
        .proofs
        .check_chain(&primary, &etag, claims, fresh)
        .await?;
    let body = serde_json::json!({"primary": primary.to_string(), "proofs": proofs});
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(crate::edge::NO_STORE),
    );
    Ok(res)
}

/// The chain's ETag and active claims: from the cache while the head is
/// unchanged (one cheap head read), else read and rebuilt (on the blocking
/// pool) and cached. 404 for a key not registered here.
async fn active_claims(state: &AppState, primary: &Identity) -> Result<(String, Claims)> {
    let head = state
        .store
        .sigchain_head(primary.clone(), 0)
        .await?
        .ok_or_else(super::unregistered)?;
    let etag = super::etag_of(head.len, head.hash.as_deref());
    let name = primary.to_string();
    if let Some(claims) = state.proofs.0.claims.get(&name, &etag) {
        return Ok((etag, claims));
    }
    let stored = state
        .store
        .sigchain(primary.clone())
        .await?
        .ok_or_else(super::unregistered)?;
    // Named from the links read: the chain may have grown since the head.
    let etag = super::etag_of(stored.len() as u64, stored.last().map(|l| l.hash.as_str()));
    let key = primary.clone();
    let chain = tokio::task::spawn_blocking(move || super::rebuild(key, &stored))
        .await
        .map_err(AppError::internal)??;
    let claims: Claims = Arc::new(
        chain
            .active_claims()
            .map(|(h, c)| (h.to_owned(), c.clone()))
            .collect(),
    );
    state.proofs.0.claims.put(&name, &etag, &claims);
    Ok((etag, claims))
}
