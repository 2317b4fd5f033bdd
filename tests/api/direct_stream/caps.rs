//! The connection caps (all clients, and per network) count direct
//! streams like any other connection.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{direct_opens, open_request};
use crate::helpers::*;

/// Registers `handle` on a client of its own that is gone on return, so
/// no pooled connection of the test's client holds a capped slot.
async fn user_without_a_kept_connection(app: &TestApp, handle: &str) -> TestIdentity {
    let api = Api::new(app.base.clone());
    api.user(handle).await
}

#[tokio::test]
async fn the_connection_cap_holds_for_direct_streams() {
    // Arrange: a direct stream holds the only slot.
    let app = spawn_app_with(|c| c.max_connections = 1).await;
    let bob = user_without_a_kept_connection(&app, "bob").await;
    let mut stream = Raw::connect(&app).await;
    stream.send(&open_request(&bob, "bob", "")).await;
    stream.head().await;

    // Act: another client asks for something.
    let mut second = Raw::connect(&app).await;
    second.send(HEALTHZ).await;

    // Assert: it waits until the stream closes.
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(200), second.s.read(&mut buf)).await;
    assert!(early.is_err(), "a connection over the cap was served");
    drop(stream);
    assert_eq!(second.head().await.0, "HTTP/1.1 200 OK");
    assert_eq!(direct_opens(&app), 1);
}

#[tokio::test]
async fn the_per_network_cap_holds_for_direct_streams() {
    let app = spawn_app_with(|c| c.max_connections_per_ip = 1).await;
    let bob = app.user("bob").await;
    let client = [127, 0, 0, 2];
    let mut stream = Raw::connect_from(&app, client).await;
    stream.send(&open_request(&bob, "bob", "")).await;
    stream.head().await;

    // A second connection from the same address is hung up on at once.
    let mut second = Raw::connect_from(&app, client).await;

    assert!(second.rest().await.is_empty());
    assert_eq!(direct_opens(&app), 1);
}
