//! Proof checks by the home server (SPEC §15.5): `GET
//! /v1/sigchains/ed25519/{hex}/proofs` fetches each active claim's proof
//! statement (gist, well-known file, TXT record) and says whether it proves
//! the claim. Verdicts are cached per add link, one request per chain
//! checks at a time, and fetches share a server-wide bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::ProofConfig;
use crate::error::{AppError, Result};
use crate::extract::AppPath;
use crate::kez::Identity;
use crate::kez::json::{self, JsonError};
use crate::kez::sigchain::{Claim, MAX_LINK_BYTES, Service, verify_proof};
use crate::state::AppState;

mod fetch;
#[cfg(test)]
mod tests;

/// How long a `verified` verdict is reused.
pub const VERIFIED_TTL: Duration = Duration::from_secs(3600);
/// How long any other verdict is reused.
pub const FAILED_TTL: Duration = Duration::from_secs(600);
/// Most verdicts cached (one per add link).
pub const MAX_CACHED: usize = 4096;

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
}

struct Cached {
    view: ProofView,
    expires: Instant,
}

/// The checker in [`AppState`]: fetcher, verdict cache, per-chain single
/// flight and the server-wide bound on fetches.
pub struct ProofChecker {
    fetcher: fetch::Fetcher,
    cache: Mutex<HashMap<String, Cached>>,
    chains: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    slots: Semaphore,
    timeout: Duration,
}

impl ProofChecker {
    /// Builds the checker from `--github-api-url`, `--doh-url` and the
    /// other SPEC §15.5 flags; fails only if the HTTP client cannot be built.
    pub fn new(c: &ProofConfig) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(c.proof_timeout_ms);
        Ok(Self {
            fetcher: fetch::Fetcher::new(c, timeout)?,
            cache: Mutex::new(HashMap::new()),
            chains: Mutex::new(HashMap::new()),
            slots: Semaphore::new(c.proof_checks_in_flight as usize),
            timeout,
        })
    }

    /// Verdicts for `claims` (`(add link hash, claim)`) of `primary`'s
    /// chain, in order: cached ones reused, the others fetched at once.
    pub async fn check_chain(
        &self,
        primary: &Identity,
        claims: &[(String, Claim)],
    ) -> Vec<ProofView> {
        let slot = ChainSlot::take(&self.chains, primary.to_string());
        let _guard = slot.lock.lock().await;
        join_all(
            claims
                .iter()
                .map(|(hash, claim)| self.verdict(primary, hash, claim)),
        )
        .await
    }

    async fn verdict(&self, primary: &Identity, hash: &str, claim: &Claim) -> ProofView {
        if let Some(view) = self.cached(hash) {
            return view;
        }
        let outcome = match tokio::time::timeout(self.timeout, self.slots.acquire()).await {
            Ok(Ok(_permit)) => self.check(primary, claim).await,
            _ => Err(Fail::unreachable("busy")),
        };
        let busy = matches!(&outcome, Err(f) if f.reason == "busy");
        let view = view_of(hash, claim, outcome);
        if !busy {
            self.remember(&view);
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

    fn cached(&self, hash: &str) -> Option<ProofView> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(hash)
            .filter(|c| c.expires > Instant::now())
            .map(|c| c.view.clone())
    }

    fn remember(&self, view: &ProofView) {
        let ttl = if view.status == Status::Verified {
            VERIFIED_TTL
        } else {
            FAILED_TTL
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_CACHED && !cache.contains_key(&view.link) {
            cache.retain(|_, c| c.expires > now);
        }
        if cache.len() >= MAX_CACHED && !cache.contains_key(&view.link) {
            // The one expiring first was checked first.
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, c)| c.expires)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        let expires = now + ttl;
        cache.insert(
            view.link.clone(),
            Cached {
                view: view.clone(),
                expires,
            },
        );
    }
}

/// A chain's single-flight lock, held from the map; dropping the last
/// holder (a finished or an abandoned request alike) removes the entry, so
/// the map holds only chains being checked.
struct ChainSlot<'a> {
    chains: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> ChainSlot<'a> {
    fn take(chains: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>, key: String) -> Self {
        let lock = {
            let mut map = chains.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(map.entry(key.clone()).or_default())
        };
        Self { chains, key, lock }
    }
}

impl Drop for ChainSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.chains.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's and ours: nobody else holds or waits on this chain.
        if Arc::strong_count(&self.lock) == 2 {
            map.remove(&self.key);
        }
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
    }
}

/// Whether `bytes` is a statement proving `claim` of `primary`'s chain
/// (SPEC §15.4): at most 4096 bytes, strict JSON, [`verify_proof`], then
/// the key (`wrong_key`) and the service and name (`wrong_claim`, the name
/// ASCII case-insensitively). Surrounding whitespace is ignored.
pub(super) fn judge(bytes: &[u8], primary: &Identity, claim: &Claim) -> Result<(), Fail> {
    if bytes.len() > MAX_LINK_BYTES {
        return Err(Fail::failed("too_large"));
    }
    let value = json::parse_strict(bytes.trim_ascii()).map_err(|e| match e {
        JsonError::UnsafeNumber => Fail::bad_statement("unsafe_number"),
        JsonError::Invalid(_) => Fail::bad_statement("invalid_json"),
    })?;
    let st = verify_proof(&value).map_err(|e| Fail::bad_statement(e.code()))?;
    if st.primary != *primary {
        return Err(Fail::failed("wrong_key"));
    }
    if st.service != claim.service || !st.name.eq_ignore_ascii_case(&claim.name) {
        return Err(Fail::failed("wrong_claim"));
    }
    Ok(())
}

/// # `GET /v1/sigchains/ed25519/{hex}/proofs`
/// 200 `{"primary", "proofs": [{"link", "service", "name", "status",
/// "reason", "checked_at"}…]}` for the chain's active claims in order
/// (SPEC §15.5), `Cache-Control: no-store`; 404 `not_found` for a key not
/// registered here, 400 `invalid_key` for a malformed one.
pub(super) async fn get_proofs(
    State(state): State<AppState>,
    AppPath(hex): AppPath<String>,
) -> Result<Response> {
    let primary = super::path_key(&hex)?;
    let stored = state
        .store
        .sigchain(primary.clone())
        .await?
        .ok_or_else(super::unregistered)?;
    let key = primary.clone();
    let chain = tokio::task::spawn_blocking(move || super::rebuild(key, &stored))
        .await
        .map_err(AppError::internal)??;
    let claims: Vec<(String, Claim)> = chain
        .active_claims()
        .map(|(h, c)| (h.to_owned(), c.clone()))
        .collect();
    let proofs = state.proofs.check_chain(&primary, &claims).await;
    let body = serde_json::json!({"primary": primary.to_string(), "proofs": proofs});
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(crate::edge::NO_STORE),
    );
    Ok(res)
}
