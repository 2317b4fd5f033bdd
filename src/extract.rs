//! Request extractors whose rejections use our JSON error format.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde_json::Value;

use crate::config::{ClientIpHeader, Config};
use crate::error::AppError;
use crate::kez::json;
use crate::state::AppState;

/// A JSON body parsed strictly (duplicate keys, invalid UTF-8 and trailing
/// data rejected) after checking the content type; the size limit is the
/// route's `DefaultBodyLimit`, enforced while reading.
pub struct StrictJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for StrictJson {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime_guess::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        if !is_json {
            return Err(AppError::unsupported_media_type(
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::payload_too_large("the request body is too large")
            } else {
                AppError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
        Ok(StrictJson(json::parse_strict(&bytes)?))
    }
}

/// The client's IP: the TCP peer, or with `--trust-proxy` and a peer in
/// `--trusted-proxies` the address that proxy reports (`CF-Connecting-IP`,
/// else the last `X-Forwarded-For` hop, which is the one our proxy
/// appended). Any other peer's forwarded header is ignored.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("no peer address on request")))?;
        if is_trusted_proxy(&state.config, peer)
            && let Some(ip) = forwarded_ip(parts, state.config.client_ip_header)
        {
            return Ok(Self(ip.to_canonical()));
        }
        Ok(Self(peer.to_canonical()))
    }
}

/// Whether headers from the TCP peer `peer` speak for the client: with
/// `--trust-proxy` and `peer` inside `--trusted-proxies` only. Everything
/// that believes a proxy's header (client IP, `X-Request-Id`, the per-IP
/// connection cap's exemption) asks this.
pub fn is_trusted_proxy(config: &Config, peer: IpAddr) -> bool {
    config.trust_proxy && config.trusted_proxies.contains(peer)
}

fn forwarded_ip(parts: &Parts, from: ClientIpHeader) -> Option<IpAddr> {
    let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    match from {
        ClientIpHeader::CfConnectingIp => header_str("cf-connecting-ip")?.trim().parse().ok(),
        // The proxy appends: to the last line, or as a line of its own below
        // the client's (HAProxy), so only the last hop of the last line counts.
        ClientIpHeader::XForwardedFor => parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()?
            .to_str()
            .ok()?
            .rsplit(',')
            .next()
            .and_then(|v| v.trim().parse().ok()),
    }
}

/// `axum::extract::Path` whose rejection (e.g. invalid UTF-8 after
/// percent-decoding) is our JSON 400 instead of plain text.
pub struct AppPath<T>(pub T);

impl<T, S> FromRequestParts<S> for AppPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| AppError::bad_request("invalid_path", e.body_text()))
    }
}

/// `axum::extract::Query` whose rejection is our JSON 400 `invalid_query`.
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| AppError::invalid_query(e.body_text()))
    }
}
