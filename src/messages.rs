//! `POST /v1/messages`: store an opaque end-to-end-encrypted envelope for a
//! local handle, durably, then publish it to that handle's live streams.
//! Also owns the retention task that deletes old messages.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::broker::Ephemeral;
use crate::error::{AppError, Result};
use crate::extract::{ClientIp, StrictJsonBytes};
use crate::kez::Handle;
use crate::rate_limit::{MessageToken, network_key};
use crate::state::AppState;
use crate::store::{NewMessage, Store, unix_now};

/// Largest envelope, measured as the bytes the client sent.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Largest request body (envelope plus the small wrapper and whitespace).
pub const MAX_BODY_BYTES: usize = 320 * 1024;
/// Largest ephemeral envelope (SPEC §7.7): a `read` of 100 ids fits.
pub const MAX_EPHEMERAL_ENVELOPE_BYTES: usize = 8 * 1024;
/// Largest declared body of an ephemeral post (SPEC §7.7).
pub const MAX_EPHEMERAL_BODY_BYTES: usize = 9 * 1024;

/// Routes owned by message posting.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/messages",
        post(post_message).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostBody {
    to: String,
    id: String,
    /// Kept as the exact bytes the client sent (SPEC §7.1): never parsed
    /// into a tree and re-encoded, so big integers, key order and escapes
    /// come back unchanged.
    envelope: Box<RawValue>,
    /// `false` stores and streams the message without waking the
    /// recipient's devices by Web Push (clients send their delivery
    /// receipts this way, so reading a chat does not buzz the sender).
    #[serde(default = "yes")]
    notify: bool,
    /// Live streams only, never stored (SPEC §7.7).
    #[serde(default)]
    ephemeral: bool,
}

fn yes() -> bool {
    true
}

/// # `POST /v1/messages`
/// 201 when stored, 200 with the original seq when `(to, id)` was already
/// stored, 202 for an ephemeral post (SPEC §7.7).
async fn post_message(
    State(state): State<AppState>,
    token: MessageToken,
    ClientIp(ip): ClientIp,
    StrictJsonBytes(body): StrictJsonBytes,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let body: PostBody = crate::kez::json::from_slice(&body).map_err(AppError::invalid_body)?;
    if body.ephemeral != token.ephemeral {
        return Err(AppError::invalid_body(
            "\"ephemeral\": true and ?ephemeral=true go together",
        ));
    }
    let recipient = local_recipient(&body.to, &state.config.server)?;
    if !valid_message_id(&body.id) {
        return Err(AppError::unprocessable(
            "invalid_message_id",
            "id must be 16-64 characters of A-Za-z0-9_-",
        ));
    }
    check_envelope(&body.envelope)?;
    if body.ephemeral {
        return post_ephemeral(&state, recipient, body).await;
    }
    let handle_hash = state.redact.hash(recipient.as_str());
    let broker = state.broker.clone();
    let to = recipient.clone();
    let outcome = state
        .store
        .post_message(
            NewMessage {
                recipient: recipient.clone(),
                client_id: body.id,
                envelope: body.envelope,
                // HMACs under the ring's keys, kept outside the database:
                // the DB never holds a sender's address nor what gives it back.
                sender: state.sender_keys.tags(&network_key(ip).to_string()),
            },
            state.mailbox_limits(),
            unix_now(),
            move |stored| broker.publish(&to, Arc::new(stored)),
        )
        .await?;
    tracing::debug!(to = %handle_hash, seq = outcome.seq.get(), created = outcome.created, "message stored");
    if outcome.created {
        crate::metrics::RequestCounters::bump(&state.counters.messages_stored);
    }
    // A post that took the silent bucket's token never pushes (SPEC §7.5).
    if outcome.created && body.notify && !token.silent {
        // Fire-and-forget: push delivery never delays or fails the post.
        state.push.notify(&recipient);
    }
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({
            "seq": outcome.seq,
            "received_at": crate::time::rfc3339(outcome.received_at),
        })),
    ))
}

/// An ephemeral post (SPEC §7.7): handed to the recipient's live streams
/// (here and over NATS), never written to the database. The answer is the
/// same whether anyone listened, so it never reveals presence.
async fn post_ephemeral(
    state: &AppState,
    recipient: Handle,
    body: PostBody,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    if body.envelope.get().len() > MAX_EPHEMERAL_ENVELOPE_BYTES {
        return Err(AppError::payload_too_large(
            "an ephemeral envelope is larger than 8 KiB",
        ));
    }
    // A read: the handle must be registered, as for a stored post.
    if state
        .store
        .handle_by_name(recipient.clone())
        .await?
        .is_none()
    {
        return Err(AppError::unknown_recipient());
    }
    state.broker.publish_ephemeral(
        &recipient,
        Arc::new(Ephemeral {
            id: body.id,
            envelope: body.envelope,
        }),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "accepted": true })),
    ))
}

/// The envelope as sent must be a JSON object of at most
/// [`MAX_ENVELOPE_BYTES`] without a carriage return: SSE (§7.4) has no way
/// to carry one, and in strict JSON it can only be insignificant whitespace.
fn check_envelope(envelope: &RawValue) -> Result<()> {
    let raw = envelope.get();
    if !raw.starts_with('{') {
        return Err(AppError::invalid_body("envelope must be a JSON object"));
    }
    if raw.len() > MAX_ENVELOPE_BYTES {
        return Err(AppError::payload_too_large(
            "the envelope is larger than 256 KiB",
        ));
    }
    if raw.contains('\r') {
        return Err(AppError::unprocessable(
            "invalid_envelope",
            "the envelope must not contain a carriage return (U+000D); use \\n or no whitespace",
        ));
    }
    Ok(())
}

/// Accepts `alice` or `alice@<this server>`.
fn local_recipient(to: &str, server: &str) -> Result<Handle> {
    let (name, domain) = match to.rsplit_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (to, None),
    };
    if let Some(d) = domain
        && !d.eq_ignore_ascii_case(server)
    {
        return Err(AppError::unprocessable(
            "foreign_recipient",
            "this server only accepts messages for its own handles",
        ));
    }
    Handle::parse(name).map_err(|_| AppError::unknown_recipient())
}

pub use crate::kez::valid_message_id;

/// One retention pass: deletes messages stored more than `retention` ago.
pub async fn purge_expired(store: Store, retention: Duration) {
    let cutoff = unix_now() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
    match store.purge_messages_before(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "retention purge"),
        Err(e) => tracing::warn!(error = %e, "retention purge failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_rule() {
        assert!(valid_message_id("abcdefghijklmnop"));
        assert!(valid_message_id(&"A_-9".repeat(16)));
        assert!(!valid_message_id("short"));
        assert!(!valid_message_id(&"a".repeat(65)));
        assert!(!valid_message_id("abcdefghijklmno!"));
        assert!(!valid_message_id("abcdefghijklmnoé"));
    }

    #[test]
    fn recipient_must_be_local() {
        assert_eq!(local_recipient("bob", "kez.lat").unwrap().as_str(), "bob");
        assert_eq!(
            local_recipient("bob@KEZ.lat", "kez.lat").unwrap().as_str(),
            "bob"
        );
        assert_eq!(
            local_recipient("bob@other.example", "kez.lat")
                .unwrap_err()
                .code(),
            "foreign_recipient"
        );
        assert_eq!(
            local_recipient("B!", "kez.lat").unwrap_err().code(),
            "unknown_recipient"
        );
    }
}
