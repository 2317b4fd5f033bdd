//! Static SPA serving, fallbacks, security headers and the JSON 404/405s.

use std::io::Write;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Sends a raw HTTP/1.1 request (reqwest would normalise `..` away).
async fn raw_get(app: &TestApp, target: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn web_fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "TOP-SECRET").unwrap();
    let dist = root.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>KEZ SPA</title>",
    )
    .unwrap();
    let mut js = std::fs::File::create(dist.join("assets/index-abc123.js")).unwrap();
    js.write_all(b"console.log('hi')").unwrap();
    std::fs::write(dist.join("manifest.webmanifest"), "{}").unwrap();
    root
}

#[cfg(not(feature = "embed-web"))]
#[tokio::test]
async fn without_web_dir_a_placeholder_page_is_served() {
    let app = spawn_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("kez-chat"));
}

/// With `--features embed-web` the binary serves the client built into it.
#[cfg(feature = "embed-web")]
#[tokio::test]
async fn embedded_client_is_served_without_web_dir() {
    let app = spawn_app().await;
    let index = app.get("/").await;
    assert_eq!(index.status(), 200);
    assert!(header(&index, "content-type").starts_with("text/html"));
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let html = index.text().await.unwrap();
    let built =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist/index.html"))
            .unwrap();
    assert_eq!(html, built);
    // A hashed asset referenced by index.html, with a long cache.
    let asset = html
        .split("src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a script tag");
    let js = app.get(asset).await;
    assert_eq!(js.status(), 200);
    assert!(header(&js, "content-type").contains("javascript"));
    assert!(header(&js, "cache-control").contains("immutable"));
    // Client-side routes fall back to index.html; API paths do not.
    assert_eq!(app.get("/chats/alice").await.text().await.unwrap(), built);
    assert_eq!(app.get("/assets/missing.js").await.status(), 404);
    assert_error(app.get("/v1/nope").await, 404, "not_found").await;
}

#[tokio::test]
async fn spa_files_fallback_and_cache_headers() {
    let root = web_fixture();
    let dist = root.path().join("dist");
    let app = spawn_app_with(|c| c.web_dir = Some(dist)).await;

    let index = app.get("/").await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(header(&index, "content-security-policy").contains("default-src 'self'"));
    assert!(index.text().await.unwrap().contains("KEZ SPA"));

    let js = app.get("/assets/index-abc123.js").await;
    assert_eq!(js.status(), 200);
    assert!(header(&js, "content-type").contains("javascript"));
    assert!(header(&js, "cache-control").contains("immutable"));

    // Client-side routes get index.html.
    let route = app.get("/chats/alice").await;
    assert_eq!(route.status(), 200);
    assert!(route.text().await.unwrap().contains("KEZ SPA"));

    // A missing file with an extension is a real 404, not the SPA.
    assert_eq!(app.get("/assets/missing.js").await.status(), 404);
    // API paths never fall back to the SPA.
    assert_error(app.get("/v1/nope").await, 404, "not_found").await;
    assert_error(app.get("/.well-known/nope").await, 404, "not_found").await;
    assert_error(app.get("/internal/nope").await, 404, "not_found").await;
}

#[tokio::test]
async fn no_file_outside_the_web_dir_is_ever_served() {
    let root = web_fixture();
    let app = spawn_app_with(|c| c.web_dir = Some(root.path().join("dist"))).await;
    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/%252e%252e/secret.txt",
    ] {
        let raw = raw_get(&app, target).await;
        assert!(!raw.contains("TOP-SECRET"), "{target} leaked: {raw}");
    }
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    for path in ["/", "/v1/healthz", "/v1/u/nobody"] {
        let res = app.get(path).await;
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer", "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn wrong_methods_get_405_json() {
    let app = spawn_app().await;
    let res = app.request(reqwest::Method::DELETE, "/v1/healthz").await;
    assert_error(res, 405, "method_not_allowed").await;
    let res = app.get("/v1/register").await;
    assert_error(res, 405, "method_not_allowed").await;
}

/// nats-server calls the auth callout over NATS (SPEC §11), so the old
/// HTTP placeholder is gone rather than a second way in.
#[tokio::test]
async fn the_old_http_nats_auth_placeholder_is_gone() {
    let app = spawn_app().await;
    let res = app.post_json("/internal/nats/auth", &Value::Null).await;
    assert_error(res, 404, "not_found").await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.get("/v1/healthz").await;
    let b = app.get("/v1/u/nobody").await;
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert!(!a.is_empty() && a != b);
    // Without a trusted proxy, a client can't choose what goes into the logs.
    let with_id = async |app: &TestApp, id: &str| {
        let res = app
            .client
            .get(app.url("/v1/healthz"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        res.headers()["x-request-id"].to_str().unwrap().to_owned()
    };
    assert_ne!(with_id(&app, "edge-42").await, "edge-42");
    // A trusted proxy's plain id is kept, so logs on both sides line up;
    // anything else is replaced.
    let proxied = spawn_app_with(|c| c.trust_proxy = true).await;
    assert_eq!(with_id(&proxied, "edge-42").await, "edge-42");
    for odd in ["two words", "a\"quote", &"x".repeat(65)] {
        let got = with_id(&proxied, odd).await;
        assert_ne!(got, odd);
        assert_eq!(got.len(), 36, "a fresh UUID: {got}");
    }
}

#[tokio::test]
async fn csp_lets_the_page_reach_the_advertised_relays() {
    // Nostr off: the page talks to this origin only.
    let plain = spawn_app().await;
    let res = plain.get("/").await;
    let csp = header(&res, "content-security-policy");
    assert!(csp.contains("connect-src 'self';"), "{csp}");

    // The listener may try these and fail; the header is what is checked.
    let relays =
        kez_chat_server::config::parse_relays("ws://127.0.0.1:9/, wss://relay.example.org/nostr")
            .unwrap();
    let app = spawn_app_with(|c| c.nostr_relays = relays).await;
    for path in ["/", "/v1/healthz"] {
        let res = app.get(path).await;
        let csp = header(&res, "content-security-policy");
        assert!(
            csp.contains(
                "connect-src 'self' ws://127.0.0.1:9 http://127.0.0.1:9 \
                 wss://relay.example.org https://relay.example.org wss:;"
            ),
            "{path}: {csp}"
        );
        assert!(csp.contains("default-src 'self'"), "{csp}");
    }
}
