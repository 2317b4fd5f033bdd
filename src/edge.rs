//! Rules for every answer, applied around the whole app (outside routing,
//! the request timeout and the handlers), so no error path can miss them:
//! WebFinger's CORS header.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::webfinger;

/// Middleware: the per-path response headers.
pub async fn response_headers(req: Request, next: Next) -> Response {
    let is_webfinger = req.uri().path() == webfinger::PATH;
    let mut res = next.run(req).await;
    if is_webfinger {
        webfinger::with_cors(&mut res);
    }
    res
}
