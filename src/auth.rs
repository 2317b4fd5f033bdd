//! Request authentication (SPEC §7.2), shared by the inbox and push routes:
//! a request acts as a local handle by signing that endpoint's string with
//! the handle's key and sending `<unix seconds>:<signature>`, in the
//! `X-Kez-Auth` header or, for the SSE stream (browsers' `EventSource` cannot
//! set headers), in `?auth=`.

use axum::http::HeaderMap;

use crate::error::{AppError, Result};
use crate::kez::Handle;
use crate::kez::auth::Credential;
use crate::state::AppState;
use crate::store::{HandleRecord, unix_now};

/// Header carrying `<ts>:<sig>` (lowercase, as `HeaderName::from_static` needs).
pub const AUTH_HEADER: &str = "x-kez-auth";

/// Code of a request that sent no credential at all.
const MISSING_AUTH: &str = "missing_auth";

/// A local handle by name: 404 `not_found` when it is not registered, or
/// cannot be (a syntactically impossible handle is simply not there).
pub async fn local_handle(state: &AppState, handle: &str) -> Result<HandleRecord> {
    const NO_SUCH_HANDLE: &str = "no such handle on this server";
    let handle = Handle::parse(handle).map_err(|_| AppError::not_found(NO_SUCH_HANDLE))?;
    state
        .store
        .handle_by_name(handle)
        .await?
        .ok_or_else(|| AppError::not_found(NO_SUCH_HANDLE))
}

/// The `X-Kez-Auth` credential, `None` when the header is absent. A header
/// that is not even ASCII is malformed (it fails parsing), not missing.
pub fn header_credential(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTH_HEADER).map(|v| v.to_str().unwrap_or(""))
}

/// The stream's `?auth=` credential: 400 `missing_auth` without one, before
/// anything is looked up (the query is the request's shape, not its signer).
pub fn query_credential(auth: Option<&str>) -> Result<&str> {
    auth.ok_or_else(|| AppError::bad_request(MISSING_AUTH, "add ?auth=<unix seconds>:<signature>"))
}

/// Authenticates a request as `handle`: the handle must exist (404 first),
/// then `credential` (`None`: 401 `missing_auth`) must parse, be within
/// [`crate::kez::auth::MAX_SKEW_SECS`] of our clock and sign the endpoint's
/// string built by `signed(server, ts)` with this server's name
/// (`--server`, so a credential made for another server never verifies
/// here) and the credential's `ts` (401 with the `AuthError`'s code).
/// Returns the parsed, registered handle the request now acts as.
pub async fn authenticate(
    state: &AppState,
    handle: &str,
    credential: Option<&str>,
    signed: impl FnOnce(&str, i64) -> String,
) -> Result<Handle> {
    let record = local_handle(state, handle).await?;
    let Some(credential) = credential else {
        return Err(AppError::unauthorized(
            MISSING_AUTH,
            "send X-Kez-Auth: <unix seconds>:<signature>",
        ));
    };
    let cred = Credential::parse(credential)?;
    let string = signed(&state.config.server, cred.ts());
    cred.verify(&record.primary, &string, unix_now())?;
    Ok(record.handle)
}
