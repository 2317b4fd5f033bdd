//! The handle registry: signed registration, lookup by handle and by key,
//! and the health check.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::local_handle;
use crate::error::{AppError, Result};
use crate::extract::{AppPath, StrictJson};
use crate::kez::Identity;
use crate::kez::signed;
use crate::rate_limit::{RateLimited, Registrations};
use crate::state::AppState;
use crate::store::HandleRecord;

/// Largest accepted registration body.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

/// Routes owned by the registry.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/healthz", get(healthz))
        .route("/v1/server", get(server_info))
        .route(
            "/v1/register",
            post(register).layer(DefaultBodyLimit::max(MAX_REGISTRATION_BYTES)),
        )
        .route("/v1/u/{handle}", get(lookup))
        .route("/v1/by-primary/{primary}", get(by_primary))
}

/// The public view of a registered handle (SPEC §5).
#[derive(Debug, Serialize)]
pub struct HandleView {
    handle: String,
    fqhn: String,
    primary: String,
    sigchain_url: String,
    registered_at: String,
}

impl HandleView {
    /// Renders a stored record for this server.
    pub fn new(state: &AppState, r: &HandleRecord) -> Self {
        Self {
            fqhn: format!("{}@{}", r.handle, state.config.server),
            sigchain_url: state.config.sigchain_url(&r.primary.hex()),
            registered_at: crate::time::rfc3339(r.registered_at),
            primary: r.primary.to_string(),
            handle: r.handle.to_string(),
        }
    }

    /// The handle's key, `ed25519:<hex>`.
    pub fn primary(&self) -> &str {
        &self.primary
    }

    /// The sigchain URL of the handle's key.
    pub fn sigchain_url(&self) -> &str {
        &self.sigchain_url
    }
}

/// # `GET /v1/healthz`
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "server": state.config.server,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// # `GET /v1/server`
/// What a client needs to know at start (SPEC §12):
/// `{"server": "<domain>", "version": "<semver>", "transports": ["server"]
/// or ["server", "nostr"], "nostr_relays": ["wss://…", …]}`. Public;
/// `Cache-Control: no-cache` (the edge layer's default for public routes).
async fn server_info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let relays = &state.config.nostr_relays.0;
    let transports: &[&str] = if relays.is_empty() {
        &["server"]
    } else {
        &["server", "nostr"]
    };
    Json(serde_json::json!({
        "server": state.config.server,
        "version": env!("CARGO_PKG_VERSION"),
        "transports": transports,
        "nostr_relays": relays,
    }))
}

/// # `POST /v1/register`
/// Verifies the signed envelope (SPEC §4) and stores the handle.
async fn register(
    State(state): State<AppState>,
    _: RateLimited<Registrations>,
    StrictJson(body): StrictJson,
) -> Result<(StatusCode, Json<HandleView>)> {
    let now = chrono::Utc::now();
    let reg = signed::verify_registration(&body, &state.config.server, now)?;
    state.check_room()?;
    let handle_hash = state.redact.hash(reg.handle.as_str());
    let record = state
        .store
        .register_handle(reg, body.to_string(), now.timestamp())
        .await?;
    tracing::info!(handle = %handle_hash, "handle registered");
    crate::metrics::RequestCounters::bump(&state.counters.registrations);
    if let Some(nostr) = &state.nostr {
        // The listener subscribes the new handle's addr within about a second.
        nostr.handles_changed();
    }
    Ok((StatusCode::CREATED, Json(HandleView::new(&state, &record))))
}

/// # `GET /v1/u/{handle}`
async fn lookup(
    State(state): State<AppState>,
    AppPath(handle): AppPath<String>,
) -> Result<Json<HandleView>> {
    find_by_handle(&state, &handle).await.map(Json)
}

/// Looks up a local handle; a syntactically impossible handle is simply not found.
pub async fn find_by_handle(state: &AppState, handle: &str) -> Result<HandleView> {
    let record = local_handle(state, handle).await?;
    Ok(HandleView::new(state, &record))
}

/// # `GET /v1/by-primary/{primary}`
/// Reverse lookup, so clients can show `@alice` instead of a key.
async fn by_primary(
    State(state): State<AppState>,
    AppPath(primary): AppPath<String>,
) -> Result<Json<HandleView>> {
    let id = Identity::parse(&primary)?;
    let record = state
        .store
        .handle_by_primary(id)
        .await?
        .ok_or_else(|| AppError::not_found("no handle on this server has that key"))?;
    Ok(Json(HandleView::new(&state, &record)))
}
