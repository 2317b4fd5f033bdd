//! Request extractors whose rejections use our JSON error format.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::RequestExt;
use axum::body::{Bytes, HttpBody};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde_json::Value;

use crate::config::{ClientIpHeader, Config};
use crate::error::AppError;
use crate::kez::json;
use crate::state::AppState;

/// A JSON body parsed strictly (duplicate keys, invalid UTF-8 and trailing
/// data rejected) after checking the content type; the size limit is the
/// route's `DefaultBodyLimit`, checked against `Content-Length` before
/// reading and enforced while reading.
pub struct StrictJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for StrictJson {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(req, state).await?;
        Ok(StrictJson(json::parse_strict(&bytes)?))
    }
}

/// The exact bytes of a body that passed the [`StrictJson`] checks, for a
/// handler that must keep part of it verbatim (the message envelope).
pub struct StrictJsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for StrictJsonBytes {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json_body(req, state).await?;
        json::parse_strict(&bytes)?;
        Ok(StrictJsonBytes(bytes))
    }
}

/// Checks the content type (415 otherwise), then reads the body. Only
/// `application/json` (any case, parameters such as `charset` allowed) is
/// JSON here: SPEC §7.6 names that type, not `+json` or `text/json` ones.
async fn read_json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime_guess::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application" && m.subtype() == "json" && m.suffix().is_none()
        });
    if !is_json {
        return Err(AppError::unsupported_media_type(
            "send the body as Content-Type: application/json",
        ));
    }
    read_body(req, state).await
}

/// Reads the whole body within the route's `DefaultBodyLimit`. A body whose
/// declared `Content-Length` is over that limit is refused with 413 before
/// any of it is read (so `Expect: 100-continue` gets no `100 Continue`).
/// Once the body is read to its end, [`BodyRead`] says so.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let read = req.extensions().get::<BodyRead>().cloned();
    let cap = req.extensions().get::<BodyCap>().map(|c| c.0);
    let (parts, body) = req.into_parts();
    let extensions = parts.extensions.clone();
    // The limited body's size hint is capped at the route's limit.
    let body = Request::from_parts(parts, body).into_limited_body();
    let body = match cap {
        Some(cap) => axum::body::Body::new(http_body_util::Limited::new(body, cap)),
        None => body,
    };
    let max = HttpBody::size_hint(&body).upper();
    if declared.is_some_and(|len| max.is_some_and(|max| len > max)) {
        return Err(too_large());
    }
    let mut limited = Request::new(body);
    *limited.extensions_mut() = extensions;
    let bytes = Bytes::from_request(limited, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                AppError::bad_request(
                    "unreadable_body",
                    "the request body could not be read to its end",
                )
            }
        })?;
    if let Some(BodyRead(flag)) = read {
        flag.store(true, Ordering::Relaxed);
    }
    Ok(bytes)
}

fn too_large() -> AppError {
    AppError::payload_too_large("the request body is too large")
}

/// A tighter bound (bytes) than the route's `DefaultBodyLimit`, put on the
/// request by an extractor that knows it before the body is read (an
/// ephemeral post, SPEC §7.7): a body without `Content-Length` is cut there
/// too, with the same 413, instead of being read up to the route's limit.
#[derive(Clone, Copy)]
pub struct BodyCap(pub usize);

/// Put on a request that came with a body by `edge::close_unread_bodies`
/// and set once a handler has read that body to its end. A response to a
/// request whose body was not read (refused first: 415, 429, 413, 401, …)
/// says `Connection: close`: hyper closes such a connection after the
/// answer anyway, and a keep-alive client must know not to reuse it.
#[derive(Clone, Default)]
pub struct BodyRead(pub Arc<AtomicBool>);

impl BodyRead {
    /// Whether the body was read to its end.
    pub fn done(&self) -> bool {
        self.0.load(Ordering::Relaxed)
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
            .map_err(path_error)
    }
}

/// Our sentence for a path that does not fit its route; a route without
/// the parameters its handler asks for is our bug, not the client's.
fn path_error(rejection: PathRejection) -> AppError {
    match rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { .. } => AppError::bad_request(
                "invalid_path",
                "a path segment is not valid UTF-8 after percent-decoding",
            ),
            _ => AppError::bad_request("invalid_path", "a path segment does not fit this route"),
        },
        other => AppError::internal(anyhow::anyhow!("path parameters: {other}")),
    }
}

/// A query string parsed by the one rule every route follows (SPEC §7.6):
/// a parameter given twice, or a known one with a value of the wrong type,
/// is 400 `invalid_query` naming it; unknown parameters are ignored.
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Self)
    }
}

/// Parses `query` into `T` as [`AppQuery`] does, for an extractor that
/// reads the query itself (the message post's bucket, before the body).
pub fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, AppError> {
    if let Some(name) = repeated_parameter(query, &[]) {
        return Err(given_twice(&name));
    }
    let pairs = url::form_urlencoded::parse(query.as_bytes());
    serde_path_to_error::deserialize(serde_urlencoded::Deserializer::new(pairs)).map_err(|e| {
        let name = e.path().to_string();
        if name.is_empty() || name == "." {
            AppError::invalid_query("the query string could not be read")
        } else {
            AppError::invalid_query(format!(
                "the query parameter `{}` has a value of the wrong type",
                shown(&name)
            ))
        }
    })
}

/// The first parameter of `query` given more than once (after
/// percent-decoding), leaving out the `repeatable` ones.
pub fn repeated_parameter(query: &str, repeatable: &[&str]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name)
        .filter(|name| !repeatable.contains(&name.as_ref()))
        .find(|name| !seen.insert(name.clone()))
        .map(std::borrow::Cow::into_owned)
}

/// 400 `invalid_query` for a parameter given more than once.
pub fn given_twice(name: &str) -> AppError {
    AppError::invalid_query(format!(
        "the query parameter `{}` is given more than once; give it once",
        shown(name)
    ))
}

/// A client's parameter name as quoted back: at most 64 characters.
fn shown(name: &str) -> String {
    name.chars().take(64).collect()
}
