//! HTTP/1.0 streams (as nginx sends them) and streams asking for
//! `connection: close`: served direct until the close, with the same bytes
//! as hyper's answer.

use super::{direct_opens, open_request, opens};
use crate::helpers::*;

/// The same request answered by hyper (as a kept-alive connection's second
/// request) and by the direct path (a fresh connection's first): status
/// line and header lines (the values of `date` and `x-request-id`, which
/// differ per answer, masked), and what follows the head on each.
async fn hyper_and_direct(app: &TestApp, request: &[u8]) -> [(String, Vec<String>, Raw); 2] {
    let names = |h: &[(String, String)]| {
        h.iter()
            .map(|(n, v)| match n.as_str() {
                "date" | "x-request-id" => format!("{n}: …"),
                _ => format!("{n}: {v}"),
            })
            .collect::<Vec<_>>()
    };
    let mut kept = Raw::connect(app).await;
    kept.send(HEALTHZ).await;
    let (_, healthz) = kept.head().await;
    kept.body(&healthz).await;
    kept.send(request).await;
    let (hyper_status, hyper_headers) = kept.head().await;
    let mut raw = Raw::connect(app).await;
    raw.send(request).await;
    let (status, headers) = raw.head().await;
    [
        (hyper_status, names(&hyper_headers), kept),
        (status, names(&headers), raw),
    ]
}

#[tokio::test]
async fn an_http10_stream_as_nginx_sends_it_is_served_direct_until_the_close() {
    // Arrange: nginx's default upstream request (proxy_http_version 1.0).
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    app.send("bob", "one").await;
    let auth = bob.stream_auth("bob");
    let request = format!(
        "GET /v1/inbox/bob/stream?auth={auth} HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n"
    );

    // Act
    let [
        (hyper_status, hyper_names, mut hyper),
        (status, names, mut raw),
    ] = hyper_and_direct(&app, request.as_bytes()).await;

    // Assert: the head hyper writes for 1.0 (no chunked coding)…
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert_eq!((&status, &names), (&hyper_status, &hyper_names));
    assert!(
        !names.iter().any(|n| n.starts_with("transfer-encoding:")),
        "{names:?}"
    );
    // …then the bare body on both: `: open`, the replay, a live event.
    for stream in [&mut hyper, &mut raw] {
        let replayed = stream.bytes_until("id: 1\n").await;
        assert!(replayed.starts_with(": open\n\n"), "{replayed}");
    }
    app.send("bob", "two").await;
    for stream in [&mut hyper, &mut raw] {
        assert!(
            stream
                .bytes_until("id: 2\n")
                .await
                .contains("event: message\n")
        );
    }
    assert_eq!(opens(&app), (1, 2));
}

#[tokio::test]
async fn a_stream_asking_for_close_is_served_direct_and_says_so() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    app.send("bob", "one").await;
    let request = open_request(&bob, "bob", "connection: close\r\n");

    let [(hyper_status, hyper_names, _), (status, names, mut raw)] =
        hyper_and_direct(&app, &request).await;

    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!((&status, &names), (&hyper_status, &hyper_names));
    assert!(names.iter().any(|n| n == "connection: close"), "{names:?}");
    assert!(raw.chunks_until("id: 1\n").await.starts_with(": open\n\n"));
    assert_eq!(direct_opens(&app), 1);
}

#[tokio::test]
async fn a_refused_http10_or_closing_stream_gets_its_error_then_the_close() {
    let app = spawn_app().await;
    let _bob = app.user("bob").await;
    for (request, want) in [
        (
            &b"GET /v1/inbox/bob/stream?auth=bad HTTP/1.0\r\n\r\n"[..],
            "HTTP/1.0 401 Unauthorized",
        ),
        (
            &b"GET /v1/inbox/bob/stream?auth=bad HTTP/1.1\r\nconnection: close\r\n\r\n"[..],
            "HTTP/1.1 401 Unauthorized",
        ),
    ] {
        let [(hyper_status, hyper_names, _), (status, names, mut raw)] =
            hyper_and_direct(&app, request).await;
        assert_eq!(status, want);
        assert_eq!((&status, &names), (&hyper_status, &hyper_names));
        let rest = String::from_utf8(raw.rest().await).unwrap();
        assert!(rest.contains("malformed_auth"), "{rest}");
        assert!(rest.ends_with('}'), "more after the error: {rest}");
    }
    assert_eq!(direct_opens(&app), 0);
}
