//! The bounds of the proof checks (SPEC §15.5) over HTTP against the local
//! stand-in: detached checks, the per-chain and server-wide fetch bounds,
//! the per-network rate limit, CORS, transient upstream answers and bodies
//! without a length.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::proofs::{GIST, WELL_KNOWN, gist, github, https, proofs, statement, verdict};
use super::{add_dns, hex_of};
use crate::helpers::proof_stand::{Answer, Stand};
use crate::helpers::*;

fn proofs_url(app: &TestApp, id: &TestIdentity) -> String {
    app.url(&format!("/v1/sigchains/ed25519/{}/proofs", hex_of(id)))
}

/// Appends an https claim per host to `id`'s chain.
async fn claim_hosts(app: &TestApp, id: &TestIdentity, hosts: &[String]) {
    let mut prev: Option<String> = None;
    for (i, host) in hosts.iter().enumerate() {
        let (body, _) = https(host);
        prev = Some(app.append(id, i as u64 + 1, prev.as_deref(), body).await);
    }
}

#[tokio::test]
async fn an_abandoned_request_leaves_its_check_running_and_its_verdict_cached() {
    // Arrange: the host answers only once the gate opens.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, claim) = https("alice.example");
    let gate = Arc::new(Semaphore::new(0));
    let good = statement(&alice, &alice, &claim);
    stand.answer(WELL_KNOWN, Answer::Gate(Arc::clone(&gate), good));
    app.append(&alice, 1, None, body).await;

    // Act: a request starts the fetch, then its client goes away.
    let request = tokio::spawn(app.client.get(proofs_url(&app, &alice)).send());
    wait_for(10, "the fetch", async || stand.seen(WELL_KNOWN).len() == 1).await;
    request.abort();
    // Time for a server that cancels to cancel (the stand-in would see it).
    for _ in 0..50 {
        if stand.abandoned() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gate.add_permits(100);
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("verified", "ok"));
    assert_eq!(stand.abandoned(), 0, "the fetch was not cancelled");
    assert_eq!(
        stand.seen(WELL_KNOWN).len(),
        1,
        "one fetch for both requests"
    );
}

#[tokio::test]
async fn proof_checks_are_rate_limited_per_network_and_readable_from_any_origin() {
    let app = spawn_app_with(|c| c.proofs.proof_rate_per_minute = 1).await;
    let alice = app.user("alice").await;
    let get = || {
        app.client
            .get(proofs_url(&app, &alice))
            .header("origin", "https://reader.example")
    };

    let first = get().send().await.unwrap();
    let second = get().send().await.unwrap();

    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "access-control-allow-origin"), "*");
    assert_eq!(second.status(), 429);
    assert_eq!(header(&second, "access-control-allow-origin"), "*");
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}

#[tokio::test]
async fn one_chain_cannot_take_every_fetch_slot() {
    // Arrange: 4 slots, so a chain may use 1; Alice's six hosts never answer.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_checks_in_flight = 4;
        c.proofs.proof_timeout_ms = 30_000;
    })
    .await;
    stand.answer(WELL_KNOWN, Answer::Never);
    let alice = app.user("alice").await;
    let hosts: Vec<String> = (0..6).map(|i| format!("a{i}.example")).collect();
    claim_hosts(&app, &alice, &hosts).await;
    let bob = app.user("bob").await;
    let (body, claim) = github("bob-kez");
    let good = gist("bob-kez", &statement(&bob, &bob, &claim));
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(good));
    app.append(&bob, 1, None, body).await;

    // Act
    let _alice = tokio::spawn(app.client.get(proofs_url(&app, &alice)).send());
    wait_for(10, "Alice's first fetch", async || {
        !stand.seen(WELL_KNOWN).is_empty()
    })
    .await;
    let p = proofs(&app, &bob).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("verified", "ok"), "Bob got a slot");
    assert_eq!(stand.seen(WELL_KNOWN).len(), 1, "Alice holds one slot only");
}

#[tokio::test]
async fn concurrent_requests_share_one_fetch_and_fetches_stay_within_the_bound() {
    // Arrange: 2 slots; three chains whose hosts answer once the gate opens.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_checks_in_flight = 2;
    })
    .await;
    let gate = Arc::new(Semaphore::new(0));
    let mut users = Vec::new();
    for i in 0..3 {
        let id = app.user(&format!("user{i}")).await;
        let host = format!("u{i}.example");
        let (body, claim) = https(&host);
        let good = statement(&id, &id, &claim);
        stand.answer_host(&host, WELL_KNOWN, Answer::Gate(Arc::clone(&gate), good));
        app.append(&id, 1, None, body).await;
        users.push(id);
    }

    // Act: five requests per chain at once.
    let requests: Vec<_> = (0..15).map(|i| proofs(&app, &users[i % 3])).collect();
    let all = futures_util::future::join_all(requests);
    let opener = async {
        wait_for(10, "two fetches", async || {
            stand.seen(WELL_KNOWN).len() == 2
        })
        .await;
        // A third fetch would come at once if the bound did not hold.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = stand.seen(WELL_KNOWN).len();
        gate.add_permits(100);
        held
    };
    let (answers, held) = tokio::join!(all, opener);

    // Assert
    assert_eq!(held, 2, "no third fetch while two run");
    assert!(answers.iter().all(|p| verdict(&p[0]) == ("verified", "ok")));
    assert_eq!(stand.seen(WELL_KNOWN).len(), 3, "one fetch per chain");
    assert!(stand.most_running() <= 2);
}

#[tokio::test]
async fn transient_upstream_answers_are_unreachable_and_a_plain_403_is_failed() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let cases = [
        (Answer::Status(503), ("unreachable", "http_503")),
        (Answer::Status(429), ("unreachable", "rate_limited")),
        (
            Answer::StatusWith(403, "x-ratelimit-remaining", "0"),
            ("unreachable", "rate_limited"),
        ),
        (Answer::Status(403), ("failed", "http_403")),
    ];
    for (i, (answer, expected)) in cases.into_iter().enumerate() {
        let id = app.user(&format!("user{i}")).await;
        let (body, _) = github(&format!("user{i}-kez"));
        stand.answer(&format!("/gists/{GIST}"), answer);
        app.append(&id, 1, None, body).await;

        let p = proofs(&app, &id).await;

        assert_eq!(verdict(&p[0]), expected, "case {i}");
    }
}

#[tokio::test]
async fn a_body_without_a_length_is_read_to_its_bound_only() {
    // Arrange: 100 KiB streamed unannounced (the stand-in's 10 s timeout).
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let big = Answer::Stream {
        chunk: 1024,
        n: 100,
        delay_ms: 0,
    };
    stand.answer(WELL_KNOWN, big);
    let alice = app.user("alice").await;
    claim_hosts(&app, &alice, &["big.example".into()]).await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("failed", "too_large"));
}

#[tokio::test]
async fn a_body_that_trickles_past_the_deadline_is_a_timeout() {
    // Arrange: a byte per 100 ms for a day: never done within 500 ms.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_timeout_ms = 500;
    })
    .await;
    let trickle = Answer::Stream {
        chunk: 1,
        n: 1_000_000,
        delay_ms: 100,
    };
    stand.answer(WELL_KNOWN, trickle);
    let alice = app.user("alice").await;
    claim_hosts(&app, &alice, &["slow.example".into()]).await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("unreachable", "timeout"));
}

#[tokio::test]
async fn a_claim_added_later_is_checked_once_the_chain_grows() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let h1 = app.append(&alice, 1, None, add_dns("one.example")).await;
    let before = proofs(&app, &alice).await;
    let h2 = app
        .append(&alice, 2, Some(&h1), add_dns("two.example"))
        .await;

    let after = proofs(&app, &alice).await;

    assert_eq!(before.len(), 1);
    let links: Vec<&Value> = after.iter().map(|p| &p["link"]).collect();
    assert_eq!(links, [&Value::from(h1), &Value::from(h2)]);
}

#[tokio::test]
async fn one_deadline_covers_a_claim_with_all_its_raw_files() {
    // Arrange: three truncated gist files whose raw answers never come.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.gist_raw_host = "127.0.0.1".to_owned();
        c.proofs.proof_timeout_ms = 2_000;
    })
    .await;
    let alice = app.user("alice").await;
    let (body, _) = github("alice-kez");
    let raw: Vec<String> = ["a", "b", "c"].map(|f| format!("/raw/{f}")).into();
    let files: serde_json::Map<String, Value> = raw
        .iter()
        .map(|path| {
            stand.answer(path, Answer::Never);
            let url = format!("{}{path}", stand.origin);
            (
                path.clone(),
                serde_json::json!({"truncated": true, "raw_url": url}),
            )
        })
        .collect();
    let answer = serde_json::json!({"owner": {"login": "alice-kez"}, "files": files});
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(answer.to_string()));
    app.append(&alice, 1, None, body).await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert: the claim's deadline ended it during the first raw fetch
    // (or, on a machine slow enough, before it).
    assert_eq!(verdict(&p[0]), ("unreachable", "timeout"));
    let fetched: usize = raw.iter().map(|path| stand.seen(path).len()).sum();
    assert!(fetched <= 1, "not one timeout per file: {fetched} fetched");
}

#[tokio::test]
async fn a_github_token_goes_to_the_gist_api_only() {
    // Arrange
    let stand = Stand::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("github-token");
    std::fs::write(&file, "ghp_test123\n").unwrap();
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.github_token_file = Some(file.clone());
    })
    .await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    let good = gist("alice-kez", &statement(&alice, &alice, &claim));
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(good));
    let h1 = app.append(&alice, 1, None, body).await;
    let (body, _) = https("alice.example");
    app.append(&alice, 2, Some(&h1), body).await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("verified", "ok"));
    let api = stand.seen(&format!("/gists/{GIST}"));
    assert_eq!(api[0].headers["authorization"], "Bearer ghp_test123");
    let host = stand.seen(WELL_KNOWN);
    assert!(
        !host[0].headers.contains_key("authorization"),
        "not to claimed hosts"
    );
}

#[tokio::test]
async fn a_long_check_answers_busy_in_time_and_caches_the_rest_for_later() {
    // Arrange: 1 slot per chain, six hosts that never answer (500 ms each,
    // 3 s in all), a request that waits 4 timeouts (2 s).
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_checks_in_flight = 4;
        c.proofs.proof_timeout_ms = 500;
    })
    .await;
    stand.answer(WELL_KNOWN, Answer::Never);
    let alice = app.user("alice").await;
    let hosts: Vec<String> = (0..6).map(|i| format!("a{i}.example")).collect();
    claim_hosts(&app, &alice, &hosts).await;

    // Act
    let first = proofs(&app, &alice).await;
    wait_for(20, "all six checked", async || {
        let p = proofs(&app, &alice).await;
        p.iter().all(|p| verdict(p) == ("unreachable", "timeout"))
    })
    .await;

    // Assert
    assert!(
        first.iter().any(|p| verdict(p) == ("unreachable", "busy")),
        "{first:?}"
    );
    assert_eq!(stand.seen(WELL_KNOWN).len(), 6, "each host fetched once");
}
