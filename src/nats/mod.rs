//! NATS integration: cross-instance fan-out of new messages (`fanout`,
//! enabled by `--nats-url`, SPEC §11), and the auth-callout endpoint, which
//! still answers 501 honestly (see TODO.md: nats-server's auth callout is
//! NATS request/reply, not HTTP, so the real one subscribes to
//! `$SYS.REQ.USER.AUTH`).

pub mod fanout;

use axum::Router;
use axum::routing::post;

use crate::error::AppError;
use crate::state::AppState;

/// Routes owned by the NATS module.
pub fn router() -> Router<AppState> {
    Router::new().route("/internal/nats/auth", post(auth_callout))
}

/// # `POST /internal/nats/auth`
async fn auth_callout() -> AppError {
    AppError::not_implemented("the NATS auth callout is not implemented yet")
}
