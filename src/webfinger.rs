//! WebFinger discovery (RFC 7033) so other servers and fediverse tools can
//! find a handle's KEZ key and sigchain.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::registry::find_by_handle;
use crate::state::AppState;

/// Property and link relation names under the KEZ namespace.
pub const REL_SIGCHAIN: &str = "https://kez.lat/ns/sigchain";
/// Property carrying the KEZ primary key.
pub const PROP_PRIMARY: &str = "https://kez.lat/ns/primary";

/// Where WebFinger answers. Every answer there, errors included, carries
/// `Access-Control-Allow-Origin: *` (RFC 7033 §5), set by [`with_cors`]
/// around the whole app so that 405, 408 and the edge's own errors get it too.
pub const PATH: &str = "/.well-known/webfinger";

/// Routes owned by WebFinger.
pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(webfinger))
}

/// Adds the CORS header to an answer of [`PATH`].
pub fn with_cors(res: &mut Response) {
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// # `GET /.well-known/webfinger?resource=acct:user@server[&rel=...]`
/// HEAD is answered by axum from the same handler, without the body.
async fn webfinger(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = query.as_deref().unwrap_or("");
    // `rel` is repeatable (RFC 7033 §4.3); any other parameter once, as on every route.
    if let Some(name) = crate::extract::repeated_parameter(query, &["rel"]) {
        return Err(crate::extract::given_twice(&name));
    }
    let params = parse_query(query);
    let resource = params
        .iter()
        .find(|(k, _)| k == "resource")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| invalid_resource("the resource parameter is required"))?;
    let user = ours(resource, &state.config.server)?;
    let view = find_by_handle(&state, user).await?;
    let subject = format!("acct:{user}@{}", state.config.server);
    let rels: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "rel")
        .map(|(_, v)| v.as_str())
        .collect();
    let links: Vec<_> = [
        json!({"rel": "self", "type": "application/json",
               "href": format!("https://{}/v1/u/{user}", state.config.server)}),
        json!({"rel": REL_SIGCHAIN, "type": "application/json", "href": view.sigchain_url()}),
    ]
    .into_iter()
    .filter(|l| rels.is_empty() || rels.iter().any(|r| l["rel"] == *r))
    .collect();
    let jrd = json!({
        "subject": subject,
        "aliases": [view.primary()],
        "properties": { PROP_PRIMARY: view.primary() },
        "links": links,
    });
    let mut res = Json(jrd).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jrd+json"),
    );
    Ok(res)
}

/// The handle a resource names on this server. A resource that is not a URI
/// (RFC 3986: `scheme ":" …`) or a malformed `acct:` (RFC 7565; the scheme
/// is case-insensitive) is 400 `invalid_resource`; a well-formed URI that is
/// not an account here (`https:`, `mailto:`, another server's `acct:`) is
/// 404 `not_found`, as RFC 7033 §4.2 asks.
fn ours<'r>(resource: &'r str, server: &str) -> Result<&'r str> {
    let (scheme, rest) = resource
        .split_once(':')
        .filter(|(scheme, _)| is_uri_scheme(scheme))
        .ok_or_else(|| invalid_resource("resource must be a URI such as acct:handle@server"))?;
    if !scheme.eq_ignore_ascii_case("acct") {
        return Err(AppError::not_found(
            "that resource is not an account on this server",
        ));
    }
    let (user, domain) = rest
        .rsplit_once('@')
        .filter(|(u, d)| !u.is_empty() && !d.is_empty())
        .ok_or_else(|| invalid_resource("resource must look like acct:handle@server"))?;
    if !domain.eq_ignore_ascii_case(server) {
        return Err(AppError::not_found("that account is not on this server"));
    }
    Ok(user)
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 §3.1).
fn is_uri_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn invalid_resource(msg: &'static str) -> AppError {
    AppError::bad_request("invalid_resource", msg)
}

/// Decodes `application/x-www-form-urlencoded` pairs, keeping repeated keys.
fn parse_query(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_repeated_keys_and_decodes() {
        let p = parse_query("resource=acct%3Aalice%40kez.lat&rel=self&rel=a+b");
        assert_eq!(
            p,
            vec![
                ("resource".to_owned(), "acct:alice@kez.lat".to_owned()),
                ("rel".to_owned(), "self".to_owned()),
                ("rel".to_owned(), "a b".to_owned()),
            ]
        );
    }
}
