//! Proof checks by the home server (SPEC §15.5) against real local
//! stand-ins (`helpers::proof_stand`) for the GitHub API, the DoH endpoint
//! and the claimed https host.

use kez_chat_server::kez::Identity;
use kez_chat_server::kez::json::canonical_bytes;
use kez_chat_server::kez::sigchain::{Claim, proof_payload, sign_proof};
use serde_json::{Value, json};

use super::{add_dns, hex_of};
use crate::helpers::proof_stand::{Answer, Stand};
use crate::helpers::*;

pub(super) const GIST: &str = "0123456789abcdef0123";
pub(super) const WELL_KNOWN: &str = "/.well-known/kez-proof.txt";

fn identity(id: &TestIdentity) -> Identity {
    Identity::parse(&id.primary()).unwrap()
}

/// `signer`'s statement for `claim` of `owner`'s chain, as its JCS text.
pub(super) fn statement(signer: &TestIdentity, owner: &TestIdentity, claim: &Claim) -> String {
    let payload = proof_payload(&identity(owner), claim, "2026-05-25T03:00:00Z");
    String::from_utf8(canonical_bytes(&sign_proof(&signer.sk, &payload))).unwrap()
}

pub(super) fn github(login: &str) -> (Value, Claim) {
    let proof = format!("https://gist.github.com/{login}/{GIST}");
    let body = json!({"op": "add", "claim": {"service": "github", "name": login, "proof": proof}});
    (body, Claim::parse("github", login, &proof).unwrap())
}

pub(super) fn https(host: &str) -> (Value, Claim) {
    let proof = format!("https://{host}{WELL_KNOWN}");
    let body = json!({"op": "add", "claim": {"service": "https", "name": host, "proof": proof}});
    (body, Claim::parse("https", host, &proof).unwrap())
}

/// A gist API answer owned by `login` holding `content`.
pub(super) fn gist(login: &str, content: &str) -> String {
    json!({"id": GIST, "owner": {"login": login},
           "files": {"kez-proof.json": {"filename": "kez-proof.json", "truncated": false, "content": content}}})
    .to_string()
}

/// The proofs answer for `id`'s chain, asserting 200.
pub(super) async fn proofs(app: &TestApp, id: &TestIdentity) -> Vec<Value> {
    let res = within(
        30,
        "the proofs answer",
        app.get(&format!("/v1/sigchains/ed25519/{}/proofs", hex_of(id))),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "cache-control"), "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["primary"], id.primary());
    body["proofs"].as_array().unwrap().clone()
}

pub(super) fn verdict(p: &Value) -> (&str, &str) {
    (p["status"].as_str().unwrap(), p["reason"].as_str().unwrap())
}

#[tokio::test]
async fn a_gist_of_the_claimed_owner_is_verified_then_served_from_the_cache() {
    // Arrange
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    stand.answer(
        &format!("/gists/{GIST}"),
        Answer::Body(gist("Alice-KEZ", &statement(&alice, &alice, &claim))),
    );
    let link = app.append(&alice, 1, None, body).await;

    // Act
    let first = proofs(&app, &alice).await;
    let second = proofs(&app, &alice).await;

    // Assert
    assert_eq!(first.len(), 1);
    assert_eq!(verdict(&first[0]), ("verified", "ok"));
    assert_eq!(first[0]["link"], link);
    assert_eq!(
        (first[0]["service"].as_str(), first[0]["name"].as_str()),
        (Some("github"), Some("alice-kez"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(first[0]["checked_at"].as_str().unwrap()).is_ok());
    assert_eq!(second, first, "the second answer is the cached verdict");
    let seen = stand.seen(&format!("/gists/{GIST}"));
    assert_eq!(seen.len(), 1, "one fetch for two requests");
    assert_eq!(seen[0].headers["accept"], "application/vnd.github+json");
    assert!(
        seen[0].headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("kez-chat-server/")
    );
}

#[tokio::test]
async fn a_gist_of_another_owner_is_wrong_owner() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    // gist.github.com/<any>/<id> serves any gist: the owner decides.
    stand.answer(
        &format!("/gists/{GIST}"),
        Answer::Body(gist("mallory", &statement(&alice, &alice, &claim))),
    );
    app.append(&alice, 1, None, body).await;

    let p = proofs(&app, &alice).await;

    assert_eq!(verdict(&p[0]), ("failed", "wrong_owner"));
}

#[tokio::test]
async fn an_https_statement_signed_by_another_key_is_wrong_key() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let mallory = TestIdentity::generate();
    let (body, claim) = https("alice.example");
    stand.answer(
        WELL_KNOWN,
        Answer::Body(statement(&mallory, &mallory, &claim)),
    );
    app.append(&alice, 1, None, body).await;

    let p = proofs(&app, &alice).await;

    assert_eq!(verdict(&p[0]), ("failed", "wrong_key"));
    let seen = stand.seen(WELL_KNOWN);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["host"], "alice.example");
}

#[tokio::test]
async fn a_dns_statement_split_over_txt_strings_is_verified_and_a_revoked_claim_is_not_listed() {
    // Arrange
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let claim = Claim::parse("dns", "alice.example", "dns:_kez.alice.example").unwrap();
    let text = statement(&alice, &alice, &claim);
    // Presentation form: quoted strings of at most 255 bytes, `"` escaped.
    let data: Vec<String> = text
        .as_bytes()
        .chunks(200)
        .map(|c| {
            format!(
                "\"{}\"",
                std::str::from_utf8(c).unwrap().replace('"', "\\\"")
            )
        })
        .collect();
    let answer = json!({"Status": 0, "Answer": [{"name": "_kez.alice.example", "type": 16, "data": data.join(" ")}]});
    stand.answer("/dns-query", Answer::Body(answer.to_string()));
    let h1 = app.append(&alice, 1, None, add_dns("old.example")).await;
    let h2 = app
        .append(&alice, 2, Some(&h1), add_dns("alice.example"))
        .await;
    app.append(&alice, 3, Some(&h2), json!({"op": "revoke", "link": h1}))
        .await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(p.len(), 1, "the revoked claim is not listed: {p:?}");
    assert_eq!(p[0]["link"], h2);
    assert_eq!(verdict(&p[0]), ("verified", "ok"));
    let seen = stand.seen("/dns-query");
    assert_eq!(seen.len(), 1, "only the active claim is checked");
    assert_eq!(seen[0].query, "name=_kez.alice.example&type=TXT");
    assert_eq!(seen[0].headers["accept"], "application/dns-json");
}

#[tokio::test]
async fn an_oversize_statement_is_too_large() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, _) = https("alice.example");
    stand.answer(WELL_KNOWN, Answer::Body("x".repeat(4097)));
    app.append(&alice, 1, None, body).await;

    let p = proofs(&app, &alice).await;

    assert_eq!(verdict(&p[0]), ("failed", "too_large"));
}

#[tokio::test]
async fn a_host_that_never_answers_is_a_timeout() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.proof_timeout_ms = 500;
    })
    .await;
    let alice = app.user("alice").await;
    let (body, _) = https("alice.example");
    // Never, not late: no machine is slow enough to make this an answer.
    stand.answer(WELL_KNOWN, Answer::Never);
    app.append(&alice, 1, None, body).await;

    // `proofs` bounds the wait (30 s); the fetch timeout is 500 ms here.
    let p = proofs(&app, &alice).await;

    assert_eq!(verdict(&p[0]), ("unreachable", "timeout"));
}

#[tokio::test]
async fn a_private_address_is_refused_without_the_test_switch() {
    // Arrange: the switch off, the GitHub API on a name resolving to loopback.
    let app = spawn_app_with(|c| c.proofs.github_api_url = "https://localhost:9".to_owned()).await;
    let alice = app.user("alice").await;
    let (body, _) = github("alice-kez");
    app.append(&alice, 1, None, body).await;

    // Act
    let p = proofs(&app, &alice).await;

    // Assert
    assert_eq!(verdict(&p[0]), ("unreachable", "private_address"));
}

#[tokio::test]
async fn a_key_not_registered_here_has_no_proofs() {
    let app = spawn_app().await;
    let stranger = TestIdentity::generate();

    let res = app
        .get(&format!(
            "/v1/sigchains/ed25519/{}/proofs",
            hex_of(&stranger)
        ))
        .await;
    let bad = app.get("/v1/sigchains/ed25519/zz/proofs").await;

    assert_eq!(res.status(), 404);
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_gist_answer_past_its_bound_is_too_large_even_with_a_good_statement() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    let mut answer: Value =
        serde_json::from_str(&gist("alice-kez", &statement(&alice, &alice, &claim))).unwrap();
    // 64 KiB is the gist JSON's bound (SPEC §15.5).
    answer["files"]["padding.txt"] = json!({"truncated": false, "content": "x".repeat(65 * 1024)});
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(answer.to_string()));
    app.append(&alice, 1, None, body).await;

    let p = proofs(&app, &alice).await;

    assert_eq!(verdict(&p[0]), ("failed", "too_large"));
}

#[tokio::test]
async fn a_truncated_gist_file_is_read_from_the_raw_host_only() {
    // Arrange: two claims, one whose raw_url is on the configured raw host.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| {
        stand.configure(c);
        c.proofs.gist_raw_host = "127.0.0.1".to_owned();
    })
    .await;
    let alice = app.user("alice").await;
    let (body, claim) = github("alice-kez");
    let raw = format!("{}/raw/kez-proof.json", stand.origin);
    let file = json!({"truncated": true, "content": "", "raw_url": raw});
    let answer = json!({"owner": {"login": "alice-kez"}, "files": {"kez-proof.json": file}});
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(answer.to_string()));
    stand.answer(
        "/raw/kez-proof.json",
        Answer::Body(statement(&alice, &alice, &claim)),
    );
    let link = app.append(&alice, 1, None, body).await;
    // Alice's verdict is cached before Bob's gist replaces hers.
    let first = proofs(&app, &alice).await;
    let other = raw.replace("127.0.0.1", "localhost");
    let file = json!({"truncated": true, "content": "", "raw_url": other});
    let answer = json!({"owner": {"login": "bob-kez"}, "files": {"kez-proof.json": file}});
    let (body, _) = github("bob-kez");
    let bob = app.user("bob").await;
    stand.answer(&format!("/gists/{GIST}"), Answer::Body(answer.to_string()));
    app.append(&bob, 1, None, body).await;

    // Act
    let second = proofs(&app, &bob).await;

    // Assert
    assert_eq!(
        (verdict(&first[0]), &first[0]["link"]),
        (("verified", "ok"), &json!(link))
    );
    assert_eq!(verdict(&second[0]), ("failed", "bad_answer"));
    assert_eq!(
        stand.seen("/raw/kez-proof.json").len(),
        1,
        "never from another host"
    );
}

#[tokio::test]
async fn missing_redirected_and_refused_places_get_their_codes() {
    // Arrange: three hosts on one stand-in, told apart by their path.
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let cases = [
        (None, ("failed", "not_found")),
        (Some(301), ("failed", "http_301")),
        (Some(410), ("failed", "http_410")),
    ];
    for (i, (status, expected)) in cases.into_iter().enumerate() {
        let id = app.user(&format!("user{i}")).await;
        let (body, _) = https("alice.example");
        match status {
            Some(code) => stand.answer(WELL_KNOWN, Answer::Status(code)),
            None => stand.answers.lock().unwrap().clear(),
        }
        app.append(&id, 1, None, body).await;

        // Act
        let p = proofs(&app, &id).await;

        // Assert
        assert_eq!(verdict(&p[0]), expected, "answer {status:?}");
    }
    assert!(
        stand.seen("/elsewhere").is_empty(),
        "a redirect is not followed"
    );
}

#[tokio::test]
async fn an_nxdomain_is_not_found_and_a_resolver_failure_is_dns_error() {
    let stand = Stand::start().await;
    let app = spawn_app_with(|c| stand.configure(c)).await;
    let cases = [
        (3, ("failed", "not_found")),
        (2, ("unreachable", "dns_error")),
    ];
    for (i, (rcode, expected)) in cases.into_iter().enumerate() {
        let id = app.user(&format!("user{i}")).await;
        let answer = json!({"Status": rcode, "Answer": []});
        stand.answer("/dns-query", Answer::Body(answer.to_string()));
        app.append(&id, 1, None, add_dns("alice.example")).await;

        let p = proofs(&app, &id).await;

        assert_eq!(verdict(&p[0]), expected, "Status {rcode}");
    }
}
