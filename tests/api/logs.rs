//! What the server writes to its log: never handles, keys or signatures in
//! clear, even at debug level.

use std::time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn logs_carry_no_handles_keys_or_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let BinaryServer {
        mut child,
        base,
        log,
    } = start_binary(
        &dir.path().join("logs.db"),
        "debug",
        &["--allow-insecure-push-endpoints"],
    )
    .await;
    let client = http_client();

    // Arrange: a distinctive handle, its key, a message and signed reads.
    let id = TestIdentity::generate();
    let handle = "zq7canaryhandle";
    let res = client
        .post(format!("{base}/v1/register"))
        .json(&id.registration(handle, SERVER))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A push subscription whose endpoint refuses connections, so the push
    // path runs and logs its failures.
    let endpoint = "http://127.0.0.1:9/zq7-endpoint-canary";
    let ts = chrono::Utc::now().timestamp();
    let sub_auth = format!(
        "{ts}:{}",
        id.sign_hex(kez_chat_server::kez::auth::subscribe_string(handle, endpoint, ts).as_bytes())
    );
    let keys = serde_json::json!({"p256dh": kez_chat_server::push::VapidKey::generate().public_b64(),
        "auth": "AAAAAAAAAAAAAAAAAAAAAA"});
    let res = client
        .post(format!("{base}/v1/push/subscriptions"))
        .header("x-kez-auth", &sub_auth)
        .json(&serde_json::json!({"handle": handle, "endpoint": endpoint, "keys": keys}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = message_body(handle, "canary-message-id-01", "SECRET-CIPHERTEXT");
    assert_eq!(
        client
            .post(format!("{base}/v1/messages"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let poll_auth = id.poll_auth(handle, 0);
    let res = client
        .get(format!("{base}/v1/inbox/{handle}?since=0"))
        .header("x-kez-auth", &poll_auth)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stream_auth = id.stream_auth(handle);
    let res = client
        .get(format!(
            "{base}/v1/inbox/{handle}/stream?auth={stream_auth}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    // A failing lookup and a bad signature also log.
    client
        .get(format!("{base}/v1/u/{handle}x"))
        .send()
        .await
        .unwrap();
    client
        .get(format!(
            "{base}/v1/inbox/{handle}/stream?auth=1:{}",
            "ab".repeat(64)
        ))
        .send()
        .await
        .unwrap();
    // The push fires after its 2 s coalescing window; wait for its failure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !log.lock().unwrap().contains("push failed; retrying") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the push attempt was never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Assert
    let log = log.lock().unwrap().clone();
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
