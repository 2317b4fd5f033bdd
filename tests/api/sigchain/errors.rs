//! Every refusal of `POST /v1/sigchains/ed25519/{hex}` (SPEC §15 table),
//! each with its status and code.

use kez_chat_server::kez::sigchain::{link_hash, sign_link};
use serde_json::{Value, json};

use super::{add_dns, hex_of, link, payload, stamp};
use crate::helpers::*;

async fn refused(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A seq-2 link of `id` after `prev` whose payload `f` altered, signed.
fn altered(id: &TestIdentity, prev: &str, f: impl Fn(&mut Value)) -> Value {
    let mut p = payload(id, 2, Some(prev), add_dns("two.example"));
    f(&mut p);
    sign_link(&id.sk, &p)
}

#[tokio::test]
async fn each_malformed_or_misfit_link_gets_its_code() {
    // Arrange: alice has one link, so every case is otherwise a valid seq 2.
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let hex = hex_of(&alice);
    let h1 = app.append(&alice, 1, None, add_dns("alice.example")).await;
    let gist = "https://gist.github.com/alice/0123456789abcdef0123";
    let path = format!("/v1/sigchains/ed25519/{hex}");
    let ok = altered(&alice, &h1, |_| {});
    let with_env = |f: &dyn Fn(&mut Value)| {
        let mut e = ok.clone();
        f(&mut e);
        e
    };
    let cases: Vec<(u16, &str, Value)> = vec![
        (
            400,
            "unsafe_number",
            altered(&alice, &h1, |p| p["seq"] = json!(2.5)),
        ),
        (
            422,
            "link_too_large",
            altered(&alice, &h1, |p| {
                p["body"]["claim"]["proof"] = json!("x".repeat(4000))
            }),
        ),
        (
            422,
            "invalid_body",
            altered(&alice, &h1, |p| p["note"] = json!("hi")),
        ),
        (
            422,
            "invalid_body",
            altered(&alice, &h1, |p| p["body"] = json!({"op": "add"})),
        ),
        (
            422,
            "wrong_envelope_tag",
            with_env(&|e| e["kez"] = json!("sigchain_proof")),
        ),
        (
            422,
            "wrong_payload_type",
            altered(&alice, &h1, |p| p["type"] = json!("kez.chat.profile")),
        ),
        (
            422,
            "unsupported_version",
            altered(&alice, &h1, |p| p["version"] = json!(2)),
        ),
        (
            422,
            "key_mismatch",
            with_env(&|e| e["signature"]["key"] = json!(bob.primary())),
        ),
        (
            422,
            "unsupported_alg",
            with_env(&|e| e["signature"]["alg"] = json!("ed25519")),
        ),
        (
            422,
            "invalid_key",
            with_env(&|e| {
                e["payload"]["primary"] = json!("ed25519:00");
                e["signature"]["key"] = json!("ed25519:00");
            }),
        ),
        (
            401,
            "invalid_signature",
            with_env(&|e| e["payload"]["body"]["claim"]["name"] = json!("evil.example")),
        ),
        (
            422,
            "invalid_seq",
            altered(&alice, &h1, |p| p["seq"] = json!(0)),
        ),
        (
            422,
            "invalid_prev",
            altered(&alice, &h1, |p| p["prev"] = Value::Null),
        ),
        (
            422,
            "invalid_timestamp",
            altered(&alice, &h1, |p| p["created_at"] = json!("yesterday")),
        ),
        (
            422,
            "stale_timestamp",
            altered(&alice, &h1, |p| p["created_at"] = json!(stamp(-301))),
        ),
        (
            422,
            "stale_timestamp",
            altered(&alice, &h1, |p| p["created_at"] = json!(stamp(400))),
        ),
        (
            422,
            "unknown_service",
            altered(&alice, &h1, |p| {
                p["body"]["claim"]["service"] = json!("mastodon")
            }),
        ),
        (
            422,
            "invalid_claim_name",
            altered(&alice, &h1, |p| {
                p["body"]["claim"] = json!({"service": "github", "name": "a--b", "proof": gist})
            }),
        ),
        (
            422,
            "invalid_proof",
            altered(
                &alice,
                &h1,
                |p| p["body"]["claim"] = json!({"service": "github", "name": "alice", "proof": "https://gist.github.com/alice/xyz"}),
            ),
        ),
        (
            422,
            "invalid_link_ref",
            altered(&alice, &h1, |p| {
                p["body"] = json!({"op": "revoke", "link": "h1"})
            }),
        ),
        (
            422,
            "primary_mismatch",
            link(&bob, 1, None, add_dns("bob.example")),
        ),
        (
            409,
            "chain_conflict",
            altered(&alice, &h1, |p| p["seq"] = json!(3)),
        ),
        (
            409,
            "chain_conflict",
            altered(&alice, &h1, |p| p["prev"] = json!("0".repeat(64))),
        ),
        (
            409,
            "chain_conflict",
            link(&alice, 1, None, add_dns("again.example")),
        ),
        (
            422,
            "duplicate_claim",
            altered(&alice, &h1, |p| p["body"] = add_dns("alice.example")),
        ),
        (
            422,
            "revoke_unknown",
            altered(&alice, &h1, |p| {
                p["body"] = json!({"op": "revoke", "link": "0".repeat(64)})
            }),
        ),
    ];

    for (status, code, body) in cases {
        // Act
        let got = refused(app.post_link(&hex, &body).await).await;
        // Assert
        assert_eq!(got, (status, code.to_owned()), "{body}");
    }
    let raw_cases: [(&str, Vec<u8>, u16, &str); 3] = [
        ("text/plain", b"{}".to_vec(), 415, "unsupported_media_type"),
        (
            "application/json",
            vec![b' '; 9 * 1024],
            413,
            "payload_too_large",
        ),
        (
            "application/json",
            b"{\"a\":1,\"a\":2}".to_vec(),
            400,
            "invalid_json",
        ),
    ];
    for (ct, body, status, code) in raw_cases {
        let got = refused(app.post_raw(&path, ct, body).await).await;
        assert_eq!(got, (status, code.to_owned()), "{ct}");
    }
    assert_eq!(
        refused(app.post_link("zz", &ok).await).await,
        (400, "invalid_key".into())
    );
    // Stored first at +60 s, then a link at +0 s.
    let mut later = payload(&alice, 2, Some(&h1), add_dns("later.example"));
    later["created_at"] = json!(stamp(60));
    let later = sign_link(&alice.sk, &later);
    assert_eq!(app.post_link(&hex, &later).await.status(), 201);
    let earlier = link(
        &alice,
        3,
        Some(&link_hash(&later)),
        add_dns("three.example"),
    );
    let got = refused(app.post_link(&hex, &earlier).await).await;
    assert_eq!(got, (422, "created_at_regression".to_owned()));
}

#[tokio::test]
async fn revokes_and_active_claims_follow_the_chain_rules() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    let h1 = app.append(&alice, 1, None, add_dns("h0.example")).await;
    let h2 = app
        .append(&alice, 2, Some(&h1), json!({"op": "revoke", "link": h1}))
        .await;
    let res = app
        .post_link(
            &hex,
            &link(&alice, 3, Some(&h2), json!({"op": "revoke", "link": h1})),
        )
        .await;
    assert_eq!(refused(res).await, (422, "already_revoked".into()));
    let res = app
        .post_link(
            &hex,
            &link(&alice, 3, Some(&h2), json!({"op": "revoke", "link": h2})),
        )
        .await;
    assert_eq!(refused(res).await, (422, "revoke_unknown".into()));
    let mut head = h2;
    for i in 0..32u64 {
        head = app
            .append(
                &alice,
                3 + i,
                Some(&head),
                add_dns(&format!("c{i}.example")),
            )
            .await;
    }
    let res = app
        .post_link(
            &hex,
            &link(&alice, 35, Some(&head), add_dns("one-more.example")),
        )
        .await;
    assert_eq!(refused(res).await, (422, "too_many_claims".into()));
}

#[tokio::test]
async fn appends_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.sigchain_rate_per_minute = 1).await;
    let alice = app.user("alice").await;
    let h1 = app.append(&alice, 1, None, add_dns("alice.example")).await;
    let res = app
        .post_link(
            &hex_of(&alice),
            &link(&alice, 2, Some(&h1), add_dns("b.example")),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(refused(res).await, (429, "rate_limited".into()));
}
