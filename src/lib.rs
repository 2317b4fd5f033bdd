//! kez-chat-server: the home server of kez-chat. One module per capability;
//! `app` assembles their routers and the cross-cutting layers.
#![warn(missing_docs)]

pub mod auth;
pub mod broker;
pub mod config;
pub mod disk;
pub mod edge;
pub mod error;
pub mod extract;
pub mod inbox;
pub mod messages;
pub mod metrics;
pub mod nats;
pub mod nostr;
pub mod private_file;
pub mod profile;
pub mod push;
pub mod rate_limit;
pub mod refmap;
pub mod registry;
pub mod sender_keys;
pub mod server;
pub mod sigchain;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod time;
pub mod web;
pub mod webfinger;

/// The KEZ core (`crates/kez-core`), under its old path so `crate::kez::…` keeps working.
pub use kez_core as kez;

use std::net::SocketAddr;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{AppError, InternalErrorReport};
use crate::state::AppState;

/// Content-Security-Policy for everything we serve when nostr is off: the
/// SPA loads only its own scripts and talks only to this origin.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The Content-Security-Policy for this configuration, built once at start.
/// With `--nostr-relays` (SPEC §12), `connect-src` adds the exact origin of
/// every advertised relay (so a `ws://` one, e.g. a local relay, works too)
/// and `wss:`, so a relay a user adds in Settings is reachable: the client's
/// relay list is editable, and what it sends there is sealed envelopes signed
/// by one-time keys, nothing a relay of the user's own choosing may not see.
/// Plain `ws:` stays limited to the advertised relays (an `https` page could
/// not use it anyway). Each advertised relay's `http(s)` origin (ws → http,
/// wss → https) is added too, so the client can read its NIP-11 document
/// (`max_message_length`); relays users add have none readable (SPEC §12).
/// With `--sig-server-url` (SPEC §5, §15.3), its origin is added too: the
/// page reads its own and its contacts' chains there.
/// Without relays or a sig server the policy is [`CSP`].
pub fn csp(config: &config::Config) -> String {
    let relays = &config.nostr_relays.0;
    let sig = config
        .sig_server_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    if relays.is_empty() && sig.is_none() {
        return CSP.to_owned();
    }
    let mut connect = vec!["'self'".to_owned()];
    for r in relays {
        if let Ok(url) = url::Url::parse(r) {
            let origin = url.origin().ascii_serialization();
            if origin == "null" {
                continue;
            }
            let info = match (origin.strip_prefix("wss://"), origin.strip_prefix("ws://")) {
                (Some(host), _) => format!("https://{host}"),
                (_, Some(host)) => format!("http://{host}"),
                _ => origin.clone(),
            };
            for o in [origin, info] {
                if !connect.contains(&o) {
                    connect.push(o);
                }
            }
        }
    }
    if let Some(o) = sig
        && !connect.contains(&o)
    {
        connect.push(o);
    }
    if !relays.is_empty() {
        connect.push("wss:".to_owned());
    }
    CSP.replace(
        "connect-src 'self'",
        &format!("connect-src {}", connect.join(" ")),
    )
}

/// An incoming `X-Request-Id` goes into every log line of the request, so it
/// is kept only from a trusted proxy (`extract::is_trusted_proxy` on the TCP
/// peer) and only when short and plain; otherwise a fresh id is made.
fn keep_request_id_only_from_proxy(req: &mut Request, config: &config::Config) {
    let trust_proxy = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| extract::is_trusted_proxy(config, peer.ip()));
    let plain = |v: &header::HeaderValue| {
        (1..=64).contains(&v.len())
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let name = HeaderName::from_static("x-request-id");
    if !(trust_proxy && req.headers().get(&name).is_some_and(plain)) {
        req.headers_mut().remove(&name);
    }
}

/// Builds the full HTTP application.
pub fn app(state: AppState) -> Router {
    let request_timeout = Duration::from_secs(state.config.request_timeout_secs);
    let config = state.config.clone();
    // Relay URLs were validated at parse time, so the policy is a valid header value.
    let csp_value =
        HeaderValue::from_str(&csp(&config)).unwrap_or_else(|_| HeaderValue::from_static(CSP));
    Router::new()
        .merge(registry::router())
        .merge(webfinger::router())
        .merge(messages::router())
        .merge(inbox::router())
        .merge(push::router())
        .merge(profile::router())
        .merge(sigchain::router(config.sig_server_url.is_some()))
        .fallback(web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(log_internal_errors))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    AppError::request_timeout()
                }))
                .timeout(request_timeout),
        )
        .layer(axum::middleware::from_fn(edge::request_limits))
        .layer(axum::middleware::from_fn(edge::response_headers))
        .layer(axum::middleware::from_fn(edge::close_unread_bodies))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            // The route template, never the raw path or query: paths
                            // carry handles and the stream's query carries a signature.
                            let route = req
                                .extensions()
                                .get::<MatchedPath>()
                                .map_or("<fallback>", MatchedPath::as_str);
                            let id = req
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), route = %route, id = %id)
                        })
                        .on_request(())
                        .on_response(DefaultOnResponse::new().level(Level::INFO))
                        // Every answer is already logged once above, with its
                        // status; internal errors again with their cause
                        // (`log_internal_errors`). The default would add an
                        // ERROR line for every 5xx, and a client refused
                        // with 507 `mailbox_full` could flood the error log.
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .layer(axum::middleware::map_request(move |mut req: Request| {
            keep_request_id_only_from_proxy(&mut req, &config);
            std::future::ready(req)
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            HeaderName::from_static(auth::AUTH_HEADER),
        ]))
        .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp_value,
        ))
        .with_state(state)
}

fn security_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

async fn method_not_allowed() -> AppError {
    AppError::method_not_allowed("this endpoint does not support that method")
}

async fn log_internal_errors(res: Response) -> Response {
    if let Some(InternalErrorReport(e)) = res.extensions().get::<InternalErrorReport>() {
        tracing::error!(error.message = %e, error.cause_chain = ?e, "internal error");
    }
    res.into_response()
}
