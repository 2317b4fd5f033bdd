//! Public profiles (SPEC §14.5): a handle's signed display name and
//! (scrambled) picture. `PUT /v1/profile` checks the document and stores
//! its bytes as sent; `GET /v1/u/{handle}/profile` serves them to anyone,
//! from any origin, cacheable and revalidated by ETag.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{AppError, Result};
use crate::extract::{AppPath, StrictJsonBytes};
use crate::kez::Handle;
use crate::kez::json;
use crate::kez::profile::{self, MAX_PROFILE_BYTES, ProfileError};
use crate::rate_limit::{Profiles, RateLimited};
use crate::state::AppState;
use crate::store::PutProfile;

/// The public read path, as an `edge` pattern (`*` = one segment): its
/// answers carry `Access-Control-Allow-Origin: *`, errors included.
pub const PUBLIC_PATH: &str = "/v1/u/*/profile";
/// `Cache-Control` of a served profile: shared caches may keep it a minute.
pub const CACHE_CONTROL: &str = "public, max-age=60";

/// Routes owned by profiles.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/profile",
            put(put_profile).layer(DefaultBodyLimit::max(MAX_PROFILE_BYTES)),
        )
        .route("/v1/u/{handle}/profile", get(get_profile))
}

/// # `PUT /v1/profile`
/// Checks the signed document in SPEC §14.5 order (the rate-limit token is
/// taken before the body is read), then stores the body bytes as sent.
/// 200 `{"updated_at": "<the document's>"}`.
async fn put_profile(
    State(state): State<AppState>,
    _: RateLimited<Profiles>,
    StrictJsonBytes(bytes): StrictJsonBytes,
) -> Result<Json<Value>> {
    let body = json::parse_strict(&bytes)?;
    let checked = profile::verify_profile(&body, &state.config.server, Some(chrono::Utc::now()))
        .map_err(|e| refusal(&e))?;
    // Strict JSON parsing has already refused invalid UTF-8.
    let document = String::from_utf8(bytes.to_vec()).map_err(AppError::internal)?;
    let updated_at = checked.updated_at.timestamp();
    let handle_hash = state.redact.hash(checked.handle.as_str());
    let etag = etag_of(&document);
    state.check_room()?;
    let outcome = state
        .store
        .put_profile(checked.handle, checked.primary, updated_at, document, etag)
        .await?;
    match outcome {
        PutProfile::Stored => {
            tracing::info!(handle = %handle_hash, "profile stored");
            Ok(Json(
                json!({"updated_at": crate::time::rfc3339(updated_at)}),
            ))
        }
        PutProfile::UnknownHandle => Err(AppError::not_found(
            "no handle on this server has that name",
        )),
        PutProfile::WrongPrimary => Err(AppError::conflict(
            "wrong_primary",
            "that handle is registered to another key",
        )),
        PutProfile::Stale => Err(AppError::conflict(
            "stale_profile",
            "the stored profile is as new or newer; sign a later updated_at",
        )),
    }
}

/// SPEC §14.5 statuses: an unsafe number is a malformed request, a bad
/// signature an authentication failure, anything else a broken rule.
fn refusal(e: &ProfileError) -> AppError {
    let message = e.to_string();
    match e {
        ProfileError::UnsafeNumber => AppError::bad_request(e.code(), message),
        ProfileError::InvalidSignature => AppError::unauthorized(e.code(), message),
        _ => AppError::unprocessable(e.code(), message),
    }
}

/// # `GET /v1/u/{handle}/profile`
/// The stored document byte for byte with a strong ETag (b64url SHA-256 of
/// the bytes, computed when it was stored); `If-None-Match` naming it → 304. Unknown handle, impossible
/// handle or no profile → 404 `not_found`. HEAD is answered by axum.
async fn get_profile(
    State(state): State<AppState>,
    AppPath(handle): AppPath<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let not_found = || AppError::not_found("no profile for that handle");
    let handle = Handle::parse(&handle).map_err(|_| not_found())?;
    let (document, stored_etag) = state.store.profile(handle).await?.ok_or_else(not_found)?;
    // Hashed once at PUT: an unlimited public GET does no SHA-256 of up to
    // 256 KiB (only a row from before the etag column is hashed here).
    let etag = if stored_etag.is_empty() {
        etag_of(&document)
    } else {
        stored_etag
    };
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| etag_listed(v, &etag)));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], document).into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(AppError::internal)?,
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
    Ok(res)
}

/// The strong entity tag of a stored document (SPEC §14.5): `"<b64url of
/// SHA-256 of the bytes>"`, quotes included.
fn etag_of(document: &str) -> String {
    format!(
        "\"{}\"",
        URL_SAFE_NO_PAD.encode(Sha256::digest(document.as_bytes()))
    )
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, RFC 9110
/// §13.1.2: a `W/` prefix is ignored) or is `*`.
pub(crate) fn etag_listed(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::etag_listed;

    #[test]
    fn if_none_match_lists() {
        let tag = "\"abc\"";
        for yes in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(etag_listed(yes, tag), "{yes}");
        }
        for no in ["\"abcd\"", "abc", "\"ab\"", ""] {
            assert!(!etag_listed(no, tag), "{no}");
        }
    }
}
