//! `Cache-Control: no-cache` on `GET …/proofs` (SPEC §15.5): a claim whose
//! cached verdict is not `verified` is checked again once that verdict is
//! `--proof-recheck-after-secs` old, never sooner; a verified one is not.

use serde_json::Value;

use super::hex_of;
use super::proofs::{WELL_KNOWN, gist, github, https, statement, verdict};
use crate::helpers::proof_stand::{Answer, Stand};
use crate::helpers::*;

/// The proofs answer for `id`'s chain asked with `Cache-Control: no-cache`.
pub(super) async fn proofs_no_cache(app: &TestApp, id: &TestIdentity) -> Vec<Value> {
    let url = app.url(&format!("/v1/sigchains/ed25519/{}/proofs", hex_of(id)));
    let res = within(
        30,
        "the proofs answer",
        app.client
            .get(url)
            .header("cache-control", "no-cache")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["proofs"].as_array().unwrap().clone()
}

#[tokio::test]
async fn no_cache_checks_a_failed_proof_again_once_old_enough() {
    // Arrange: the file is not published yet when the claim is first checked.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_recheck_after_secs = 0;
    })
    .await;
    let alice = app.user("alice").await;
    let (body, claim) = https("alice.example");
    app.append(&alice, 1, None, body).await;
    let first = proofs_no_cache(&app, &alice).await;
    assert_eq!(verdict(&first[0]), ("failed", "not_found"));
    assert!(first[0]["recheck_at"].is_string(), "{first:?}");

    // Act: published, then asked again without and with no-cache.
    stand.answer(WELL_KNOWN, Answer::Body(statement(&alice, &alice, &claim)));
    let cached = super::proofs::proofs(&app, &alice).await;
    let fresh = proofs_no_cache(&app, &alice).await;
    let after = proofs_no_cache(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&cached[0]), ("failed", "not_found"), "cached");
    assert_eq!(verdict(&fresh[0]), ("verified", "ok"));
    assert!(fresh[0].get("recheck_at").is_none());
    assert_eq!(verdict(&after[0]), ("verified", "ok"));
    assert_eq!(
        stand.seen(WELL_KNOWN).len(),
        2,
        "a verified verdict is not fetched again"
    );
}

#[tokio::test]
async fn no_cache_does_not_check_again_before_the_minimum() {
    // Arrange: the default minimum (30 s).
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    stand.answer("/gists/0123456789abcdef0123", Answer::Status(404));
    app.append(&alice, 1, None, body).await;
    let first = proofs_no_cache(&app, &alice).await;

    // Act
    stand.answer(
        "/gists/0123456789abcdef0123",
        Answer::Body(gist("alice-kez", &statement(&alice, &alice, &claim))),
    );
    let again = proofs_no_cache(&app, &alice).await;

    // Assert: the same cached verdict, saying when it can be checked again.
    assert_eq!(verdict(&again[0]), ("failed", "not_found"));
    assert_eq!(again[0]["checked_at"], first[0]["checked_at"]);
    let checked = chrono::DateTime::parse_from_rfc3339(first[0]["checked_at"].as_str().unwrap());
    let recheck = chrono::DateTime::parse_from_rfc3339(again[0]["recheck_at"].as_str().unwrap());
    assert_eq!((recheck.unwrap() - checked.unwrap()).num_seconds(), 30);
    assert_eq!(stand.seen("/gists/0123456789abcdef0123").len(), 1);
}
