//! The auth callout as an operator runs it (SPEC §11.1), against a real
//! nats-server with deploy/nats.conf: a cold start without a spurious
//! warning, a NATS restart, the kez servers down and up again, and user JWTs
//! expiring under a running fan-out.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kez_chat_server::nats::callout::keys;

use crate::helpers::*;
use crate::nats::wait_nats_ready;
use crate::nats_callout::{Deployment, assert_refused, deployment, wait_callout_ready};

/// Instances admitted by `app`'s callout so far.
fn admitted(app: &TestApp) -> u64 {
    let c = app.state().callout.clone().expect("callout on");
    c.decisions.instance.load(Ordering::Relaxed)
}

/// Posts to bob on `a` until one post reaches `stream` live (a fan-out that
/// just reconnected may miss the first), then one more that must.
async fn posts_cross_again(
    a: &TestApp,
    stream: &mut (impl futures_util::Stream<Item = eventsource_stream::Event> + Unpin),
) {
    let mut crossed = false;
    for _ in 0..20 {
        assert_eq!(a.send("bob", "again").await.status(), 201);
        if tokio::time::timeout(Duration::from_secs(1), next_message(stream))
            .await
            .is_ok()
        {
            crossed = true;
            break;
        }
    }
    assert!(crossed, "no message crossed instances");
}

/// A token connect to `d`'s nats-server, as another instance would.
async fn instance_connect(d: &Deployment) -> Result<async_nats::Client, async_nats::ConnectError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    async_nats::ConnectOptions::with_token(d.secret(keys::TOKEN_FILE))
        .connect(d.nats.url.as_str())
        .await
}

/// A lone instance's fan-out waits for its own callout, so its first
/// CONNECT is admitted: no "NATS unavailable" warning on a cold start.
#[tokio::test]
async fn a_cold_start_admits_the_fanout_without_a_warning() {
    let Some(d) = deployment().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let args = d.binary_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = start_binary(&dir.path().join("cold.db"), "info", &args).await;
    wait_for(15, "the fan-out to connect", async || {
        server.process.logged("connected to NATS")
    })
    .await;
    let log = server.process.kill().await;
    assert!(!log.contains("NATS unavailable"), "{log}");
}

#[tokio::test]
async fn callout_and_fanout_come_back_after_a_nats_restart() {
    let Some(d) = deployment().await else { return };
    // Arrange: two instances, bob streaming on B.
    let a = d.instance(None).await;
    let b = d.instance(Some(a.config.db.clone())).await;
    let bob = a.user("bob").await;
    let mut stream = b.open_stream(&bob, "bob", None).await;
    let before = admitted(&a) + admitted(&b);

    // Act
    let d = d.restart_nats().await;

    // Assert: both fan-outs re-admitted by a callout, and delivery works.
    wait_for(15, "both fan-outs to be re-admitted", async || {
        admitted(&a) + admitted(&b) >= before + 2
    })
    .await;
    posts_cross_again(&a, &mut stream).await;
    wait_callout_ready(&a).await;
    wait_callout_ready(&b).await;
    wait_nats_ready(&a).await;
    assert!(instance_connect(&d).await.is_ok());
}

#[tokio::test]
async fn clients_are_refused_while_no_kez_server_runs_and_admitted_after() {
    let Some(d) = deployment().await else { return };
    let mut a = d.instance(None).await;
    assert!(instance_connect(&d).await.is_ok());

    // Act: the only kez server stops; nobody answers the callout.
    a.server.take().unwrap().shutdown().await;
    assert_refused(instance_connect(&d).await);

    // Assert: once it is back, its own fan-out and other clients get in.
    a.restart().await;
    wait_callout_ready(&a).await;
    wait_nats_ready(&a).await;
    assert!(instance_connect(&d).await.is_ok());
}

#[tokio::test]
async fn an_expired_fanout_user_is_readmitted_and_delivery_goes_on() {
    let Some(d) = deployment().await else { return };
    // Arrange: user JWTs valid 2 s (the flag allows no less than 60).
    let short = |c: &mut kez_chat_server::config::Config| {
        c.nats_auth.nats_callout_user_ttl_secs = 2;
    };
    let a = d.instance_with(None, short).await;
    let b = d.instance_with(Some(a.config.db.clone()), short).await;
    let bob = a.user("bob").await;
    let mut stream = b.open_stream(&bob, "bob", None).await;
    let before = admitted(&a) + admitted(&b);

    // Act: wait for both fan-outs to expire and be admitted again.
    wait_for(20, "both fan-outs to be re-admitted", async || {
        admitted(&a) + admitted(&b) >= before + 2
    })
    .await;

    // Assert
    posts_cross_again(&a, &mut stream).await;
}
