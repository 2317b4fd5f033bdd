//! Serving the web client: static files from `--web-dir` with a fallback to
//! `index.html` for client-side routes, or a placeholder page without one.
//! Unknown API paths never fall through to the SPA: they get JSON 404s.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::AppError;
use crate::state::AppState;

/// Path prefixes that belong to the API, never to the SPA.
const API_PREFIXES: &[&str] = &["/v1/", "/.well-known/", "/internal/"];

/// Cache policy for content-hashed build output (Vite's `/assets/`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[cfg(not(feature = "embed-web"))]
const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kez-chat server</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">
<h1>kez-chat home server</h1>
<p>This server is running. The web client is not being served: start the server
with <code>--web-dir</code> pointing at the built client (<code>web/dist</code>).</p>
<p>API health: <a href="/v1/healthz">/v1/healthz</a></p>
</body></html>"#;

/// Whether `path` belongs to the API (never served from the SPA).
pub(crate) fn is_api_path(path: &str) -> bool {
    API_PREFIXES
        .iter()
        .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
}

/// The router's fallback: SPA files, the placeholder, or a JSON 404.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if is_api_path(path) {
        return AppError::not_found("no such endpoint").into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return AppError::method_not_allowed("only GET and HEAD are served here").into_response();
    }
    match &state.config.web_dir {
        Some(dir) => serve_dir(dir.clone(), req).await,
        None => serve_builtin(path),
    }
}

/// Without `--web-dir`: the client compiled into the binary, if any.
#[cfg(feature = "embed-web")]
fn serve_builtin(path: &str) -> Response {
    embedded::serve(path)
}

/// Without `--web-dir` and without an embedded client: a placeholder page.
#[cfg(not(feature = "embed-web"))]
fn serve_builtin(path: &str) -> Response {
    if path == "/" || path == "/index.html" {
        axum::response::Html(PLACEHOLDER).into_response()
    } else {
        AppError::not_found("nothing here").into_response()
    }
}

#[cfg(feature = "embed-web")]
mod embedded {
    use axum::http::{HeaderValue, header};
    use axum::response::{IntoResponse, Response};

    use crate::error::AppError;

    #[derive(rust_embed::Embed)]
    #[folder = "web/dist"]
    struct Assets;

    /// Serves an embedded file, falling back to `index.html` for client routes.
    pub(super) fn serve(path: &str) -> Response {
        let name = path.trim_start_matches('/');
        let name = if name.is_empty() { "index.html" } else { name };
        let last = name.rsplit('/').next().unwrap_or("");
        let (name, file) = match Assets::get(name) {
            Some(f) => (name, f),
            None if !last.contains('.') => match Assets::get("index.html") {
                Some(f) => ("index.html", f),
                None => {
                    return AppError::not_found("the web client was not built in").into_response();
                }
            },
            None => return AppError::not_found("no such file").into_response(),
        };
        let mime = mime_guess::from_path(name).first_or_octet_stream();
        let mut res = file.data.into_owned().into_response();
        let headers = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        super::with_cache_policy(res, path)
    }
}

async fn serve_dir(dir: PathBuf, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let index = dir.join("index.html");
    let res = match ServeDir::new(&dir).oneshot(req).await {
        Ok(res) => res.map(Body::new),
        Err(never) => match never {},
    };
    let last_segment = path.rsplit('/').next().unwrap_or("");
    let res = if res.status() == StatusCode::NOT_FOUND && !last_segment.contains('.') {
        // A client-side route such as /chats/alice: hand it to the SPA.
        match ServeFile::new(index)
            .oneshot(Request::new(Body::empty()))
            .await
        {
            Ok(res) => res.map(Body::new),
            Err(never) => match never {},
        }
    } else if res.status() == StatusCode::NOT_FOUND {
        return AppError::not_found("no such file").into_response();
    } else {
        res
    };
    with_cache_policy(res, &path)
}

fn with_cache_policy(mut res: Response, path: &str) -> Response {
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let policy = if path.starts_with("/assets/") {
            IMMUTABLE
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    res
}
