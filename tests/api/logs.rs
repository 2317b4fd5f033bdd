//! What the server writes to its log: never handles, keys or signatures in
//! clear, even at debug level.

use kez_chat_server::kez::auth;
use kez_chat_server::push;

use crate::helpers::*;

/// A handle distinctive enough to search the log for.
const HANDLE: &str = "zq7canaryhandle";

/// Sends `auth` as `X-KEZ-Auth` on a GET of `path`.
async fn get_signed(server: &BinaryServer, path: &str, auth: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(path))
        .header("x-kez-auth", auth)
        .send()
        .await
        .unwrap()
}

/// Runs every path that logs something about `HANDLE`: registration, a push
/// subscription whose endpoint refuses connections (so the push path logs
/// its failures), a message, signed reads, a failing lookup and a bad
/// signature. Returns every secret the log must not contain.
async fn exercise_every_logging_path(server: &BinaryServer) -> Vec<String> {
    let id = server.user(HANDLE).await;
    let endpoint = "http://127.0.0.1:9/zq7-endpoint-canary";
    let sub_auth = id.auth(
        &auth::subscribe_string(SERVER, HANDLE, endpoint, now()),
        now(),
    );
    let keys = serde_json::json!({"p256dh": push::VapidKey::generate().public_b64(),
        "auth": "AAAAAAAAAAAAAAAAAAAAAA"});
    let res = server
        .client
        .post(server.url("/v1/push/subscriptions"))
        .header("x-kez-auth", &sub_auth)
        .json(&serde_json::json!({"handle": HANDLE, "endpoint": endpoint, "keys": keys}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = message_body(HANDLE, "canary-message-id-01", "SECRET-CIPHERTEXT");
    assert_eq!(server.post_json("/v1/messages", &body).await.status(), 201);
    let poll_auth = id.poll_auth(HANDLE, 0);
    let res = get_signed(server, &format!("/v1/inbox/{HANDLE}?since=0"), &poll_auth).await;
    assert_eq!(res.status(), 200);
    let stream_auth = id.stream_auth(HANDLE);
    let res = server
        .get(&format!("/v1/inbox/{HANDLE}/stream?auth={stream_auth}"))
        .await;
    assert_eq!(res.status(), 200);
    drop(res);
    server.get(&format!("/v1/u/{HANDLE}x")).await;
    let bad = "ab".repeat(64);
    server
        .get(&format!("/v1/inbox/{HANDLE}/stream?auth=1:{bad}"))
        .await;
    let signature = |auth: &str| auth.split_once(':').unwrap().1.to_owned();
    vec![
        HANDLE.to_owned(),
        id.primary().trim_start_matches("ed25519:").to_owned(),
        signature(&poll_auth),
        signature(&stream_auth),
        "SECRET-CIPHERTEXT".to_owned(),
        "canary-message-id-01".to_owned(),
        bad,
        "zq7-endpoint-canary".to_owned(),
        signature(&sub_auth),
    ]
}

#[tokio::test]
async fn logs_carry_no_handles_keys_or_signatures() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--allow-insecure-push-endpoints",
        "--push-coalesce-ms",
        "50",
    ];
    let server = start_binary(&dir.path().join("logs.db"), "debug", &args).await;

    // Act
    let secrets = exercise_every_logging_path(&server).await;
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
    for secret in &secrets {
        assert!(!log.contains(secret), "log contains {secret:?}:\n{log}");
    }
}

/// The request lines in `log`: `tower_http`'s one line per answered request.
fn request_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("finished processing request"))
        .collect()
}

#[tokio::test]
async fn without_rust_log_each_request_logs_one_line() {
    // Arrange: the real binary with no RUST_LOG at all.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"));
    cmd.args(["--bind", "127.0.0.1:0", "--server", SERVER])
        .arg("--db")
        .arg(dir.path().join("requests.db"))
        .env_remove("RUST_LOG");
    cmd.args(database_args_for(&dir.path().join("requests.db")).await);
    let (process, base) = LoggedChild::spawn(&mut cmd, "listening on ", 30).await;
    let api = Api::new(base);

    // Act: three requests, one of them an error.
    assert_eq!(api.get("/v1/healthz").await.status(), 200);
    assert_eq!(api.get("/v1/u/nobody").await.status(), 404);
    assert_eq!(api.get("/v1/healthz").await.status(), 200);
    wait_for(10, "three request lines", async || {
        request_lines(&process.log.lock().unwrap()).len() >= 3
    })
    .await;
    let log = process.kill().await;

    // Assert: one line each, with route template, status and latency.
    let lines = request_lines(&log);
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[1].contains("/v1/u/{handle}") && lines[1].contains("status=404"),
        "{log}"
    );
    assert!(lines.iter().all(|l| l.contains("latency=")), "{log}");
}

#[test]
fn the_deploy_files_keep_the_request_lines() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        "deploy/docker-compose.yml",
        "Dockerfile",
        "Dockerfile.runtime",
    ];
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains("RUST_LOG"), "{file}");
        for line in text.lines().filter(|l| l.contains("RUST_LOG")) {
            assert!(
                line.contains("tower_http=info") || line.trim_start().starts_with('#'),
                "{file}: {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_local_vapid_subject_is_warned_about_at_start() {
    for (subject, warned) in [
        ("mailto:admin@localhost", true),
        ("mailto:admin@chat.kez.lat", false),
    ] {
        // Arrange + Act: the warning comes before "listening on".
        let dir = tempfile::tempdir().unwrap();
        let server = start_binary(
            &dir.path().join("vapid.db"),
            "info",
            &["--vapid-subject", subject],
        )
        .await;

        // Assert
        let log = server.process.kill().await;
        assert_eq!(
            log.contains("is not a public name"),
            warned,
            "{subject}:\n{log}"
        );
    }
}

/// The auth callout at debug level (SPEC §11.1): an admitted instance (the
/// server's own fan-out), an admitted identity and refusals (a wrong token,
/// no credentials, an unregistered key) leave none of the secrets, the
/// handle, the primary or its user nkey in the server's log.
#[tokio::test]
async fn the_auth_callout_logs_no_secrets_keys_or_handles() {
    use crate::nats_callout::{assert_refused, connect_as, deployment};
    use kez_chat_server::nats::callout::keys;
    let Some(d) = deployment().await else { return };
    // Arrange: the binary with the callout and identities on.
    let dir = tempfile::tempdir().unwrap();
    let mut args = d.binary_args();
    args.push("--nats-callout-identities".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = start_binary(&dir.path().join("callout.db"), "debug", &args).await;
    wait_for(15, "the callout and fan-out to be ready", async || {
        server.process.logged("NATS auth callout ready")
            && server.process.logged("connected to NATS")
    })
    .await;
    let id = server.user(HANDLE).await;

    // Act
    let (client, _) = connect_as(&d.nats, &id).await.expect("admitted");
    client.flush().await.unwrap();
    let stranger = TestIdentity::generate();
    assert_refused(connect_as(&d.nats, &stranger).await);
    let url = d.nats.url.as_str();
    let wrong = async_nats::ConnectOptions::with_token("zq7-not-the-token".to_owned())
        .connect(url)
        .await;
    assert_refused(wrong);
    assert_refused(async_nats::connect(url).await);
    let log = server.process.kill().await;

    // Assert
    for seen in [
        "NATS auth callout ready",
        "refused a connection",
        "reason=\"unknown_identity\"",
    ] {
        assert!(log.contains(seen), "{seen} missing:\n{log}");
    }
    let primary = id.primary().trim_start_matches("ed25519:").to_owned();
    let user_nkey = |id: &TestIdentity| {
        nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, id.sk.to_bytes())
            .unwrap()
            .public_key()
    };
    let secrets = [
        d.secret(keys::ISSUER_SEED_FILE),
        d.secret(keys::PASSWORD_FILE),
        d.secret(keys::TOKEN_FILE),
        "zq7-not-the-token".to_owned(),
        HANDLE.to_owned(),
        primary,
        user_nkey(&id),
        user_nkey(&stranger),
    ];
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "log contains {secret:?}:\n{log}"
        );
    }
}
