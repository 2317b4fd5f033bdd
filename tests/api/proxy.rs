//! `--trust-proxy`: a forwarded header is believed only from a peer in
//! `--trusted-proxies`; any other peer is known by its socket address.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Registers a fresh handle `handle` claiming to come from `forwarded`.
async fn register_as(app: &TestApp, handle: &str, forwarded: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/register"))
        .header("x-forwarded-for", forwarded)
        .json(&TestIdentity::generate().registration(handle, SERVER))
        .send()
        .await
        .unwrap()
}

/// A server that trusts the proxy header, with `trusted` as its proxies and
/// room for two registrations per client IP.
async fn behind_proxy(trusted: &str) -> TestApp {
    let trusted = trusted.parse().unwrap();
    spawn_app_with(|c| {
        c.trust_proxy = true;
        c.trusted_proxies = trusted;
        c.register_rate_per_minute = 2;
    })
    .await
}

#[tokio::test]
async fn a_direct_client_rotating_x_forwarded_for_hits_the_register_limit() {
    // Arrange: our peer, 127.0.0.1, is not one of the proxies.
    let app = behind_proxy("10.0.0.0/8").await;

    // Act
    let mut statuses = Vec::new();
    for n in 0..3 {
        let res = register_as(&app, &format!("rotate{n}"), &format!("198.51.100.{n}")).await;
        statuses.push(res.status().as_u16());
        if n == 2 {
            assert_error(res, 429, "rate_limited").await;
        }
    }

    // Assert
    assert_eq!(statuses, [201, 201, 429]);
}

#[tokio::test]
async fn a_trusted_proxy_still_reports_each_client() {
    // Arrange: the default proxies (loopback) include our peer.
    let app = behind_proxy("127.0.0.0/8,::1/128").await;

    // Act
    let mut statuses = Vec::new();
    for n in 0..3 {
        let res = register_as(&app, &format!("client{n}"), &format!("198.51.100.{n}")).await;
        statuses.push(res.status().as_u16());
    }

    // Assert: three clients, one registration each.
    assert_eq!(statuses, [201, 201, 201]);
}

#[tokio::test]
async fn a_request_id_is_kept_only_from_a_trusted_proxy() {
    for (trusted, kept) in [("10.0.0.0/8", false), ("127.0.0.1", true)] {
        // Arrange
        let app = behind_proxy(trusted).await;

        // Act
        let res = app
            .client
            .get(app.url("/v1/healthz"))
            .header("x-request-id", "proxy-id-42")
            .send()
            .await
            .unwrap();

        // Assert
        assert_eq!(
            header(&res, "x-request-id") == "proxy-id-42",
            kept,
            "{trusted}"
        );
    }
}

#[tokio::test]
async fn a_direct_client_is_held_to_the_per_ip_connection_cap() {
    // Arrange
    let app = spawn_app_with(|c| {
        c.trust_proxy = true;
        c.trusted_proxies = "10.0.0.0/8".parse().unwrap();
        c.max_connections_per_ip = 1;
    })
    .await;
    let mut held = TcpStream::connect(app.addr()).await.unwrap();
    held.write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        within(10, "the first answer", held.read(&mut buf))
            .await
            .unwrap()
            > 0
    );

    // Act: a second connection from the same address.
    let mut second = TcpStream::connect(app.addr()).await.unwrap();
    let _ = second
        .write_all(b"GET /v1/healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), second.read_to_end(&mut got)).await;

    // Assert: closed unanswered.
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "second connection was served: {}",
        String::from_utf8_lossy(&got)
    );
}
