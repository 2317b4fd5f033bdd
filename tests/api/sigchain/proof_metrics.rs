//! The proof checker's `/metrics` figures (README) moved by real checks
//! against the local stand-in, with no key, name or host in them; and a
//! claimed host that refuses the connection (SPEC §15.5 `connect_error`).

use std::collections::HashMap;

use super::hex_of;
use super::proofs::{GIST, WELL_KNOWN, gist, github, https, proofs, statement, verdict};
use super::recheck::proofs_no_cache;
use crate::helpers::proof_stand::{Answer, Stand};
use crate::helpers::*;

const FINISHED: &str = "kez_proof_checks_finished_total";

/// The `kez_proof_` series of one scrape, by name and labels; and the text.
async fn proof_metrics(app: &TestApp) -> (HashMap<String, f64>, String) {
    let text = app.metrics_text().await;
    let series = text
        .lines()
        .filter(|l| l.starts_with("kez_proof_"))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    (series, text)
}

/// One series' value, 0 when it is not there yet.
fn at(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn finished(status: &str, reason: &str) -> String {
    format!("{FINISHED}{{status=\"{status}\",reason=\"{reason}\"}}")
}

fn with_metrics(stand: &Stand, c: &mut kez_chat_server::config::Config) {
    stand.configure(c);
    c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
}

#[tokio::test]
async fn checks_verdicts_and_cache_hits_are_counted_without_identifiers() {
    // Arrange: a verified gist and a website with nothing published (404).
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| with_metrics(&stand, c)).await;
    let alice = app.user("alice").await;
    let (gh, claim) = github("alice-kez");
    let content = statement(&alice, &alice, &claim);
    stand.answer(
        &format!("/gists/{GIST}"),
        Answer::Body(gist("alice-kez", &content)),
    );
    let h1 = app.append(&alice, 1, None, gh).await;
    app.append(&alice, 2, Some(&h1), https("alice.example").0)
        .await;
    let (before, _) = proof_metrics(&app).await;

    // Act
    let first = proofs(&app, &alice).await;
    let (checked, _) = proof_metrics(&app).await;
    proofs(&app, &alice).await;
    let (cached, text) = proof_metrics(&app).await;

    // Assert
    assert_eq!(verdict(&first[0]), ("verified", "ok"));
    assert_eq!(verdict(&first[1]), ("failed", "not_found"));
    assert_eq!(at(&before, "kez_proof_checks_started_total"), 0.0);
    assert_eq!(at(&checked, "kez_proof_checks_started_total"), 2.0);
    assert_eq!(at(&checked, &finished("verified", "ok")), 1.0);
    assert_eq!(at(&checked, &finished("failed", "not_found")), 1.0);
    assert_eq!(at(&checked, "kez_proof_check_seconds_count"), 2.0);
    assert!(at(&checked, "kez_proof_check_seconds_sum") >= 0.0);
    assert_eq!(at(&checked, "kez_proof_cache_hits_total"), 0.0);
    // The second answer came from the cache: nothing checked again.
    assert_eq!(at(&cached, "kez_proof_cache_hits_total"), 2.0);
    assert_eq!(at(&cached, "kez_proof_checks_started_total"), 2.0);
    assert_eq!(at(&cached, "kez_proof_check_seconds_count"), 2.0);
    assert_eq!(at(&cached, "kez_proof_busy_total"), 0.0);
    assert_eq!(at(&cached, "kez_proof_requests_rate_limited_total"), 0.0);
    for secret in ["alice", &hex_of(&alice), GIST, "example", &stand.origin] {
        assert!(!text.contains(secret), "{secret} in /metrics");
    }
}

#[tokio::test]
async fn busy_answers_and_refused_requests_are_counted() {
    // Arrange: one slot per chain, five hosts that never answer (300 ms
    // each, 1.5 s in all), a request that waits 4 timeouts (1.2 s): the
    // last ones are busy in its answer.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        with_metrics(&stand, c);
        c.proofs.proof_checks_in_flight = 4;
        c.proofs.proof_timeout_ms = 300;
        c.proofs.proof_rate_per_minute = 1;
    })
    .await;
    stand.answer(WELL_KNOWN, Answer::Never);
    let alice = app.user("alice").await;
    let mut prev: Option<String> = None;
    for (i, host) in [
        "a0.example",
        "a1.example",
        "a2.example",
        "a3.example",
        "a4.example",
    ]
    .iter()
    .enumerate()
    {
        prev = Some(
            app.append(&alice, i as u64 + 1, prev.as_deref(), https(host).0)
                .await,
        );
    }

    // Act: the one request the limit allows, then a refused one.
    let first = proofs(&app, &alice).await;
    let refused = app
        .get(&format!("/v1/sigchains/ed25519/{}/proofs", hex_of(&alice)))
        .await;
    wait_for(20, "all five checked", async || {
        let (m, _) = proof_metrics(&app).await;
        at(&m, &finished("unreachable", "timeout")) == 5.0
    })
    .await;
    let (m, _) = proof_metrics(&app).await;

    // Assert
    let busy = first
        .iter()
        .filter(|p| verdict(p) == ("unreachable", "busy"));
    let busy = u32::try_from(busy.count()).unwrap();
    assert!(busy >= 1, "{first:?}");
    assert_eq!(at(&m, "kez_proof_busy_total"), f64::from(busy));
    assert_eq!(refused.status(), 429);
    assert_eq!(at(&m, "kez_proof_requests_rate_limited_total"), 1.0);
    assert_eq!(at(&m, "kez_proof_checks_started_total"), 5.0);
    assert_eq!(at(&m, "kez_proof_check_seconds_count"), 5.0);
}

#[tokio::test]
async fn a_host_refusing_the_connection_is_unreachable_and_checked_again_when_asked() {
    // Arrange: the claimed host is a local port nobody listens on.
    let stand = Stand::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let app = spawn_app_with(|c| {
        with_metrics(&stand, c);
        c.proofs.proof_https_test_origin = Some(format!("http://{closed}"));
        c.proofs.proof_recheck_after_secs = 0;
    })
    .await;
    let alice = app.user("alice").await;
    let (body, claim) = https("alice.example");
    app.append(&alice, 1, None, body).await;

    // Act
    let first = proofs(&app, &alice).await;
    let plain = proofs(&app, &alice).await;
    let (refused, _) = proof_metrics(&app).await;
    // The host comes up on that port, and the user asks again.
    let up = tokio::net::TcpListener::bind(closed).await.unwrap();
    let content = statement(&alice, &alice, &claim);
    let site = axum::Router::new().route(
        WELL_KNOWN,
        axum::routing::get(move || std::future::ready(content.clone())),
    );
    tokio::spawn(async move { axum::serve(up, site).await.unwrap() });
    let fresh = proofs_no_cache(&app, &alice).await;
    let (m, _) = proof_metrics(&app).await;

    // Assert: unreachable, not failed; cached with a time to look again.
    assert_eq!(verdict(&first[0]), ("unreachable", "connect_error"));
    assert!(first[0]["recheck_at"].is_string(), "{first:?}");
    assert!(first[0].get("detail").is_none());
    assert_eq!(plain, first, "a plain request is answered from the cache");
    assert_eq!(at(&refused, &finished("unreachable", "connect_error")), 1.0);
    assert_eq!(at(&refused, "kez_proof_cache_hits_total"), 1.0);
    assert_eq!(verdict(&fresh[0]), ("verified", "ok"));
    assert_eq!(at(&m, &finished("verified", "ok")), 1.0);
    assert_eq!(at(&m, "kez_proof_checks_started_total"), 2.0);
}
