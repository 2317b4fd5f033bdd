//! Reverse lookup: from a key to its handle, unknown keys told apart from
//! malformed ones.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn reverse_lookup_round_trips() {
    let app = spawn_app().await;
    let alice = TestIdentity::generate();
    let created = app.register(&alice, "alice").await;
    let res = app
        .get(&format!("/v1/by-primary/{}", alice.primary()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn reverse_lookup_distinguishes_unknown_from_garbage() {
    let app = spawn_app().await;
    let stranger = TestIdentity::generate();
    assert_error(
        app.get(&format!("/v1/by-primary/{}", stranger.primary()))
            .await,
        404,
        "not_found",
    )
    .await;
    for garbage in [
        "ed25519:xyz",
        "nonsense",
        "ed25519:",
        &stranger.primary().to_uppercase(),
    ] {
        assert_error(
            app.get(&format!("/v1/by-primary/{garbage}")).await,
            400,
            "invalid_key",
        )
        .await;
    }
}
