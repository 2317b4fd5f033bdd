//! Sigchains (SPEC §15): this server keeps the chain of every key registered
//! here. `POST /v1/sigchains/ed25519/{hex}` appends one signed link after
//! the kez-core checks; `GET` serves the chain to anyone, from any origin,
//! revalidated by ETag.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::{AppError, Result};
use crate::extract::{AppPath, StrictJsonBytes};
use crate::kez::Identity;
use crate::kez::json;
use crate::kez::sigchain::{self, Chain, Link, LinkError};
use crate::rate_limit::{RateLimited, Sigchains};
use crate::state::AppState;
use crate::store::{AppendLink, NewLink, StoredLink};

mod proofs;
pub use proofs::{
    ANSWER_WITHIN_TIMEOUTS as PROOF_ANSWER_WITHIN_TIMEOUTS, Claims as ProofClaims,
    FAILED_TTL as PROOF_FAILED_TTL, MAX_CACHED as MAX_CACHED_PROOFS,
    MAX_CACHED_CHAINS as MAX_CACHED_PROOF_CHAINS, MAX_FLIGHTS as MAX_PROOF_FLIGHTS, ProofChecker,
    ProofView, Status as ProofStatus, VERIFIED_TTL as PROOF_VERIFIED_TTL,
};

/// The chain path, as an `edge` pattern (`*` = one segment): its answers
/// carry `Access-Control-Allow-Origin: *`, errors included.
pub const PUBLIC_PATH: &str = "/v1/sigchains/ed25519/*";
/// The proofs path (SPEC §15.5), as an `edge` pattern: read from any
/// origin too, errors included.
pub const PROOFS_PATH: &str = "/v1/sigchains/ed25519/*/proofs";
/// Largest accepted append body, in bytes (the link itself is at most
/// [`sigchain::MAX_LINK_BYTES`] of JCS).
pub const MAX_APPEND_BYTES: usize = 8 * 1024;

/// Routes owned by sigchains (the proof checks of SPEC §15.5 included). With `external` (`--sig-server-url` set,
/// SPEC §15.3) the chains live elsewhere: `GET` and `POST` answer 404
/// `not_found`, so no link is accepted here that readers never see.
pub fn router(external: bool) -> Router<AppState> {
    let path = "/v1/sigchains/ed25519/{hex}";
    let proofs_path = "/v1/sigchains/ed25519/{hex}/proofs";
    if external {
        return Router::new()
            .route(path, post(elsewhere).get(elsewhere))
            .route(proofs_path, get(elsewhere));
    }
    Router::new()
        .route(
            path,
            post(append_link)
                .layer(DefaultBodyLimit::max(MAX_APPEND_BYTES))
                .get(get_chain),
        )
        .route(proofs_path, get(proofs::get_proofs).head(get_only))
}

/// `HEAD` of the proofs path: 405 with `Allow: GET`. A GET there takes a
/// rate-limit token and may start fetches and fill the verdict cache;
/// axum would run it for a HEAD too and drop only the body (SPEC §15.5).
async fn get_only() -> Response {
    let mut res =
        AppError::method_not_allowed("this endpoint answers GET only, not HEAD").into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    res
}

/// Both methods when an external sigchain service keeps the chains.
async fn elsewhere() -> AppError {
    AppError::not_found("this server does not keep sigchains: read the key's sigchain_url")
}

/// The key a path names: `{hex}` must make `ed25519:<hex>` a valid
/// identity (SPEC §1), else 400 `invalid_key`.
fn path_key(hex: &str) -> Result<Identity> {
    Ok(Identity::parse(&format!("ed25519:{hex}"))?)
}

fn unregistered() -> AppError {
    AppError::not_found("no handle on this server has that key")
}

/// # `GET /v1/sigchains/ed25519/{hex}`
/// 200 `{"primary": "ed25519:<hex>", "links": [<envelope's JCS>, …]}`
/// in seq order (`[]` for a registered key without links), `ETag:
/// "<n>-<hash of link n>"` (`"0"` when empty; a chain only grows, so its
/// head names it), `If-None-Match` naming it → 304, `Cache-Control:
/// no-cache` (edge); a revalidation reads the head only. 404 `not_found`
/// for a key not registered here, 400
/// `invalid_key` for a malformed one.
async fn get_chain(
    State(state): State<AppState>,
    AppPath(hex): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let primary = path_key(&hex)?;
    // The head names the chain: a revalidation reads it alone.
    let head = state
        .store
        .sigchain_head(primary.clone(), 0)
        .await?
        .ok_or_else(unregistered)?;
    let etag = etag_of(head.len, head.hash.as_deref());
    let fresh = headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| crate::profile::etag_listed(v, &etag))
    });
    if fresh {
        return with_etag(StatusCode::NOT_MODIFIED.into_response(), &etag);
    }
    let links = state
        .store
        .sigchain(primary.clone())
        .await?
        .ok_or_else(unregistered)?;
    // Named from the links read: the chain may have grown since the head.
    let etag = etag_of(links.len() as u64, links.last().map(|l| l.hash.as_str()));
    // Each stored envelope is the JCS of a JSON object, so the list is
    // valid JSON without re-serialising the links.
    let envelopes: Vec<&str> = links.iter().map(|l| l.envelope.as_str()).collect();
    let body = format!(
        "{{\"primary\":\"{primary}\",\"links\":[{}]}}",
        envelopes.join(",")
    );
    let res = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    with_etag(res, &etag)
}

/// `"<n>-<hash of link n>"`, `"0"` for an empty chain.
fn etag_of(len: u64, head: Option<&str>) -> String {
    head.map_or_else(|| "\"0\"".to_owned(), |h| format!("\"{len}-{h}\""))
}

/// `res` with the chain's `ETag`, exposed to other origins.
fn with_etag(mut res: Response, etag: &str) -> Result<Response> {
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).map_err(AppError::internal)?,
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    Ok(res)
}

/// # `POST /v1/sigchains/ed25519/{hex}`
/// Checks one link in SPEC §15 order (the rate-limit token is taken before
/// the body is read), then appends its JCS; 201 `{"seq": n, "hash":
/// "<hex>"}`. The very link already stored at its seq (a retry after a lost
/// answer) is 200 with the same body. A seq or prev that does not extend
/// the stored chain (a racing append included) is 409 `chain_conflict`,
/// answered from the head alone before the chain is read: the client
/// refetches.
async fn append_link(
    State(state): State<AppState>,
    _: RateLimited<Sigchains>,
    AppPath(hex): AppPath<String>,
    StrictJsonBytes(bytes): StrictJsonBytes,
) -> Result<Response> {
    let primary = path_key(&hex)?;
    let body = json::parse_strict(&bytes)?;
    let link = tokio::task::spawn_blocking(move || {
        sigchain::verify_link(&body, Some(chrono::Utc::now())).map(|link| (link, body))
    })
    .await
    .map_err(AppError::internal)?;
    let (link, body) = link.map_err(|e| refusal(&e))?;
    if link.primary != primary {
        return Err(refusal(&LinkError::PrimaryMismatch));
    }
    let head = state
        .store
        .sigchain_head(primary.clone(), link.seq)
        .await?
        .ok_or_else(unregistered)?;
    if head.hash_at_seq.as_deref() == Some(link.hash.as_str()) {
        return Ok(link_answer(StatusCode::OK, link.seq, &link.hash));
    }
    if link.seq != head.len + 1 {
        return Err(refusal(&LinkError::SeqMismatch));
    }
    if link.prev != head.hash {
        return Err(refusal(&LinkError::PrevMismatch));
    }
    state.check_room()?;
    let stored = state
        .store
        .sigchain(primary.clone())
        .await?
        .ok_or_else(unregistered)?;
    let chain_key = primary.clone();
    let chain = tokio::task::spawn_blocking(move || rebuild(chain_key, &stored))
        .await
        .map_err(AppError::internal)??;
    chain.check_next(&link).map_err(|e| refusal(&e))?;
    stored_answer(&state, primary, link, &body).await
}

/// Stores a checked link as its JCS (the bytes its hash names, at most
/// [`sigchain::MAX_LINK_BYTES`]) and says so: 201, or 409 when a racing
/// append took its seq first.
async fn stored_answer(
    state: &AppState,
    primary: Identity,
    link: Link,
    body: &Value,
) -> Result<Response> {
    // JCS output is UTF-8 by construction.
    let envelope = String::from_utf8(json::canonical_bytes(body)).map_err(AppError::internal)?;
    let key_hash = state.redact.hash(&primary.to_string());
    let (seq, hash) = (link.seq, link.hash.clone());
    let outcome = state
        .store
        .append_sigchain_link(NewLink {
            primary,
            seq,
            prev: link.prev,
            hash: link.hash,
            created_at: link.created_at.timestamp(),
            envelope,
        })
        .await?;
    if outcome == AppendLink::Conflict {
        return Err(refusal(&LinkError::SeqMismatch));
    }
    tracing::info!(key = %key_hash, seq, "sigchain link stored");
    Ok(link_answer(StatusCode::CREATED, seq, &hash))
}

/// `{"seq", "hash"}` with `status`, never cached.
fn link_answer(status: StatusCode, seq: u64, hash: &str) -> Response {
    let mut res = (status, Json(json!({"seq": seq, "hash": hash}))).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(crate::edge::NO_STORE),
    );
    res
}

/// The chain state of the stored links (checked when they were stored, so
/// their signatures are not verified again).
fn rebuild(primary: Identity, stored: &[StoredLink]) -> Result<Chain> {
    let mut chain = Chain::new(primary);
    for row in stored {
        let value: Value =
            json::parse_strict(row.envelope.as_bytes()).map_err(AppError::internal)?;
        let link = sigchain::read_stored_link(&value).map_err(AppError::internal)?;
        chain.push(link).map_err(AppError::internal)?;
    }
    Ok(chain)
}

/// SPEC §15 statuses: an unsafe number is a malformed request, a bad
/// signature an authentication failure, a seq or prev that does not extend
/// the stored chain a conflict, anything else a broken rule.
fn refusal(e: &LinkError) -> AppError {
    let message = e.to_string();
    match e {
        LinkError::UnsafeNumber => AppError::bad_request(e.code(), message),
        LinkError::InvalidSignature => AppError::unauthorized(e.code(), message),
        LinkError::SeqMismatch | LinkError::PrevMismatch => AppError::conflict(
            "chain_conflict",
            format!("{message}; fetch the chain and sign the next link again"),
        ),
        _ => AppError::unprocessable(e.code(), message),
    }
}
