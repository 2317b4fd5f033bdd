//! What the server writes to its log: never handles, keys or signatures in
//! clear, even at debug level.

use crate::helpers::*;

#[tokio::test]
async fn logs_carry_no_handles_keys_or_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_binary(
        &dir.path().join("logs.db"),
        "debug",
        &[
            "--allow-insecure-push-endpoints",
            "--push-coalesce-ms",
            "50",
        ],
    )
    .await;

    // Arrange: a distinctive handle, its key, a message and signed reads.
    let handle = "zq7canaryhandle";
    let id = server.user(handle).await;
    // A push subscription whose endpoint refuses connections, so the push
    // path runs and logs its failures.
    let endpoint = "http://127.0.0.1:9/zq7-endpoint-canary";
    let sub_auth = id.auth(
        &kez_chat_server::push::subscribe_string(handle, endpoint, now()),
        now(),
    );
    let keys = serde_json::json!({"p256dh": kez_chat_server::push::VapidKey::generate().public_b64(),
        "auth": "AAAAAAAAAAAAAAAAAAAAAA"});
    let res = server
        .client
        .post(server.url("/v1/push/subscriptions"))
        .header("x-kez-auth", &sub_auth)
        .json(&serde_json::json!({"handle": handle, "endpoint": endpoint, "keys": keys}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = message_body(handle, "canary-message-id-01", "SECRET-CIPHERTEXT");
    assert_eq!(server.post_json("/v1/messages", &body).await.status(), 201);
    let poll_auth = id.poll_auth(handle, 0);
    let res = server
        .client
        .get(server.url(&format!("/v1/inbox/{handle}?since=0")))
        .header("x-kez-auth", &poll_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stream_auth = id.stream_auth(handle);
    let res = server
        .get(&format!("/v1/inbox/{handle}/stream?auth={stream_auth}"))
        .await;
    assert_eq!(res.status(), 200);
    drop(res);
    // A failing lookup and a bad signature also log.
    server.get(&format!("/v1/u/{handle}x")).await;
    server
        .get(&format!(
            "/v1/inbox/{handle}/stream?auth=1:{}",
            "ab".repeat(64)
        ))
        .await;
    // The push fires after its coalescing window; wait for its failure.
    wait_for(15, "the push attempt to be logged", async || {
        server.process.logged("push failed; retrying")
    })
    .await;
    let log = server.process.kill().await;

    // Assert
    assert!(
        log.contains("/v1/inbox/{handle}/stream"),
        "request lines use route templates:\n{log}"
    );
    let key_hex = id.primary().trim_start_matches("ed25519:").to_owned();
    let poll_sig = poll_auth.split(':').nth(1).unwrap().to_owned();
    let stream_sig = stream_auth.split(':').nth(1).unwrap().to_owned();
    for secret in [
        handle,
        key_hex.as_str(),
        &poll_sig,
        &stream_sig,
        "SECRET-CIPHERTEXT",
        "canary-message-id-01",
        &"ab".repeat(64),
        "zq7-endpoint-canary",
        &sub_auth[sub_auth.find(':').unwrap() + 1..],
    ] {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
}
