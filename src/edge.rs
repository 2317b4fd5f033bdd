//! Rules for every answer, applied around the whole app (outside routing,
//! the request timeout and the handlers), so no error path can miss them:
//! the cache policy of each route, the CORS header of WebFinger and profiles,
//! `Connection: close` on answers given without reading the request's body,
//! and JSON 414/431 for request targets and headers over our limits.
//!
//! Those limits sit below hyper's own (a 65,534-byte URI, the
//! [`HYPER_MAX_HEADERS`] headers, a ~400 KiB head), whose refusals (and
//! its 400 for a request line that does not parse) have empty bodies: hyper
//! 1 writes them itself, before any service is called, with no hook to
//! give them one.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::extract::BodyRead;
use crate::webfinger;

/// The API's public routes, whose successes may be stored (and must be
/// revalidated): `*` stands for one non-empty path segment. Every other
/// API path (per-user, authenticated, health, unknown, added later) is
/// `no-store`, so a new per-user route is private unless listed here.
/// `/v1/healthz` stays out: a stored liveness answer would hide an outage.
const PUBLIC: &[&str] = &[
    "/v1/u/*",
    "/v1/u/*/profile",
    "/v1/sigchains/ed25519/*",
    "/v1/by-primary/*",
    "/.well-known/webfinger",
    "/v1/push/vapid-public-key",
    "/v1/server",
];

/// `Cache-Control` of everything that must not be stored: private routes
/// and every error of every route.
pub const NO_STORE: &str = "no-store";
/// `Cache-Control` of public answers, unless the handler chose its own
/// (the SPA's hashed assets are immutable).
pub const REVALIDATE: &str = "no-cache";

/// How a path's answers may be cached (README "Endpoints" lists it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// `no-store` on every answer: every API path not in the public list.
    Private,
    /// The lookups (`/v1/u`, `/v1/by-primary`, WebFinger, profiles), the VAPID key,
    /// `/v1/server` and the SPA's files (paths outside the API's prefixes).
    /// `no-cache` on successes (may be stored, must be revalidated) unless
    /// the handler chose its own, `no-store` on errors.
    Public,
}

/// The policy of `path`.
pub fn cache_policy(path: &str) -> CachePolicy {
    if !crate::web::is_api_path(path) || PUBLIC.iter().any(|p| matches(p, path)) {
        CachePolicy::Public
    } else {
        CachePolicy::Private
    }
}

/// Whether `path` matches `pattern`, segment by segment (`*` = any one
/// non-empty segment).
fn matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some("*"), Some(seg)) if !seg.is_empty() => {}
            (Some(w), Some(seg)) if w == seg => {}
            _ => return false,
        }
    }
}

/// Middleware: the per-path response headers.
pub async fn response_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // Read from other origins (SPEC §6, §14.5, §15), errors included.
    let cors = path == webfinger::PATH
        || matches(crate::profile::PUBLIC_PATH, path)
        || matches(crate::sigchain::PUBLIC_PATH, path)
        || matches(crate::sigchain::PROOFS_PATH, path);
    let policy = cache_policy(path);
    let mut res = next.run(req).await;
    if cors {
        webfinger::with_cors(&mut res);
    }
    let failed = res.status().is_client_error() || res.status().is_server_error();
    let headers = res.headers_mut();
    if failed || policy == CachePolicy::Private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    } else if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    }
    res
}

/// Middleware: a request that came with a body gets a [`BodyRead`] flag;
/// if the answer was made without reading that body to its end (a 415,
/// 429 or early 413, a 401, 404 or 405, a timeout), it says
/// `Connection: close`, and hyper closes the connection after it instead
/// of dropping it silently under a keep-alive client's next request.
pub async fn close_unread_bodies(mut req: Request, next: Next) -> Response {
    let read = has_body(req.headers()).then(BodyRead::default);
    if let Some(read) = &read {
        req.extensions_mut().insert(read.clone());
    }
    let mut res = next.run(req).await;
    if read.is_some_and(|r| !r.done()) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// A non-empty `Content-Length` or any `Transfer-Encoding`.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Longest request target (path and query) answered: longer is JSON 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers answered: more is JSON 431.
pub const MAX_HEADERS: usize = 100;
/// Most header bytes (names, values and `": \r\n"`) answered: more is JSON 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Headers hyper parses before refusing on its own (empty 431), above
/// [`MAX_HEADERS`] so that the usual excess gets our JSON answer.
pub const HYPER_MAX_HEADERS: usize = 4 * MAX_HEADERS;

/// The request id header (`tower_http`'s `x-request-id`).
const REQUEST_ID: &str = "x-request-id";

/// Middleware: JSON 414 and 431 for requests over our limits.
pub async fn request_limits(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return AppError::uri_too_long(format!("the request target is over {MAX_URI_BYTES} bytes"))
            .into_response();
    }
    let headers = req.headers();
    // The request id is set by our own layer before this one runs (the
    // client's is kept only from a trusted proxy): not counted.
    let own = headers.get_all(REQUEST_ID).iter().count();
    let bytes: usize = headers
        .iter()
        .filter(|(n, _)| *n != REQUEST_ID)
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() - own > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return AppError::headers_too_large(format!(
            "at most {MAX_HEADERS} request headers of {MAX_HEADER_BYTES} bytes in all"
        ))
        .into_response();
    }
    next.run(req).await
}
