//! Subscription routes (SPEC §10.2-10.4): register, withdraw, and the
//! self-heal check, each signed by the handle's key over its own string.

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint::MAX_ENDPOINT_BYTES;
use crate::auth::{authenticate, header_credential};
use crate::error::{AppError, Result};
use crate::extract::{AppPath, AppQuery, StrictJson};
use crate::kez::auth::{check_string, subscribe_string, unsubscribe_string};
use crate::rate_limit::{PushChanges, RateLimited};
use crate::state::AppState;
use crate::store::PushSubscription;

/// Largest body of a subscription request (real ones are under 1 KiB).
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The subscription routes, bodies capped at `MAX_BODY_BYTES`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/push/subscriptions",
            post(subscribe)
                .delete(unsubscribe)
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route("/v1/push/subscriptions/{handle}", get(check))
}

/// Most subscriptions one handle holds; registering another drops the least
/// recently (re-)registered one.
pub const MAX_SUBSCRIPTIONS_PER_HANDLE: usize = 10;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    handle: String,
    endpoint: String,
    keys: SubscriptionKeys,
    /// `PushSubscription.toJSON()` includes it; accepted and ignored.
    #[serde(default, rename = "expirationTime")]
    _expiration_time: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeBody {
    handle: String,
    endpoint: String,
}

#[derive(Deserialize)]
struct CheckQuery {
    endpoint: Option<String>,
}

/// 422 `invalid_endpoint`: an endpoint this server will not send to
/// (the sentence says why; `EndpointError`'s for a refused one).
fn invalid_endpoint(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::unprocessable("invalid_endpoint", message)
}

/// 422 `invalid_keys`: a `keys` member of the wrong size or shape.
fn invalid_keys(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::unprocessable("invalid_keys", message)
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &Value) -> Result<T> {
    crate::kez::json::from_object(body).map_err(AppError::invalid_body)
}

fn check_endpoint_len(endpoint: &str) -> Result<()> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_BYTES {
        return Err(invalid_endpoint("the endpoint must be 1-2048 bytes"));
    }
    Ok(())
}

/// Decodes a base64url key of exactly `len` bytes, returned re-encoded
/// without padding.
fn decode_key(value: &str, len: usize, what: &'static str) -> Result<(Vec<u8>, String)> {
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(value)
        .ok()
        .filter(|b| b.len() == len)
        .ok_or_else(|| invalid_keys(format!("keys.{what} must be {len} bytes in base64url")))?;
    let normalized = URL_SAFE_NO_PAD.encode(&bytes);
    Ok((bytes, normalized))
}

/// # `POST /v1/push/subscriptions`
/// 201 when new, 200 when `(handle, endpoint)` was already stored (keys refreshed).
async fn subscribe(
    State(state): State<AppState>,
    _: RateLimited<PushChanges>,
    headers: HeaderMap,
    StrictJson(body): StrictJson,
) -> Result<(StatusCode, Json<Value>)> {
    let body: SubscribeBody = parse_body(&body)?;
    state
        .push
        .accept_endpoint(&body.endpoint)
        .map_err(|e| invalid_endpoint(e.to_string()))?;
    let (p256dh_bytes, p256dh) = decode_key(&body.keys.p256dh, 65, "p256dh")?;
    if p256::PublicKey::from_sec1_bytes(&p256dh_bytes).is_err() {
        return Err(invalid_keys(
            "keys.p256dh is not an uncompressed P-256 point",
        ));
    }
    let (_, auth) = decode_key(&body.keys.auth, 16, "auth")?;
    let handle = authenticate(
        &state,
        &body.handle,
        header_credential(&headers),
        |server, ts| subscribe_string(server, &body.handle, &body.endpoint, ts),
    )
    .await?;
    state.check_room()?;
    let handle_hash = state.redact.hash(&body.handle);
    let endpoint_tag = state.redact.hash(&body.endpoint);
    let outcome = state
        .store
        .upsert_push_subscription(
            PushSubscription {
                handle,
                endpoint: body.endpoint,
                p256dh,
                auth,
            },
            MAX_SUBSCRIPTIONS_PER_HANDLE,
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    tracing::debug!(handle = %handle_hash, endpoint = %endpoint_tag, created = outcome.created,
        evicted = outcome.evicted, "push subscription stored");
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"subscribed": true, "evicted": outcome.evicted})),
    ))
}

/// # `DELETE /v1/push/subscriptions`
/// 204 whether or not it existed, so a retry is harmless.
async fn unsubscribe(
    State(state): State<AppState>,
    _: RateLimited<PushChanges>,
    headers: HeaderMap,
    StrictJson(body): StrictJson,
) -> Result<StatusCode> {
    let body: UnsubscribeBody = parse_body(&body)?;
    check_endpoint_len(&body.endpoint)?;
    let handle = authenticate(
        &state,
        &body.handle,
        header_credential(&headers),
        |server, ts| unsubscribe_string(server, &body.handle, &body.endpoint, ts),
    )
    .await?;
    let handle_hash = state.redact.hash(&body.handle);
    let deleted = state
        .store
        .delete_push_subscription(handle, body.endpoint)
        .await?;
    tracing::debug!(handle = %handle_hash, deleted, "push subscription withdrawn");
    Ok(StatusCode::NO_CONTENT)
}

/// # `GET /v1/push/subscriptions/{handle}?endpoint=<url>`
/// Self-heal: tells the client whether its endpoint is still stored.
async fn check(
    State(state): State<AppState>,
    AppPath(name): AppPath<String>,
    AppQuery(q): AppQuery<CheckQuery>,
    headers: HeaderMap,
) -> Result<Json<Value>> {
    let Some(endpoint) = q.endpoint else {
        return Err(AppError::invalid_query(
            "add ?endpoint=<the subscription's endpoint URL>",
        ));
    };
    check_endpoint_len(&endpoint)?;
    let handle = authenticate(&state, &name, header_credential(&headers), |server, ts| {
        check_string(server, &name, &endpoint, ts)
    })
    .await?;
    let subscribed = state.store.has_push_subscription(handle, endpoint).await?;
    Ok(Json(json!({ "subscribed": subscribed })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lengths_are_enforced() {
        let p = URL_SAFE_NO_PAD.encode([4u8; 65]);
        assert!(decode_key(&p, 65, "p256dh").is_ok());
        let padded = base64::engine::general_purpose::URL_SAFE.encode([7u8; 16]);
        assert_eq!(
            decode_key(&padded, 16, "auth").unwrap().1,
            URL_SAFE_NO_PAD.encode([7u8; 16])
        );
        assert!(decode_key(&URL_SAFE_NO_PAD.encode([7u8; 15]), 16, "auth").is_err());
        assert!(decode_key(&URL_SAFE_NO_PAD.encode([4u8; 64]), 65, "p256dh").is_err());
        assert!(decode_key("not base64!", 16, "auth").is_err());
    }
}
