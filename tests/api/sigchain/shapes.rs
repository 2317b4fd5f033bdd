//! Signed documents in array form (review BLOCKER): serde's derive would
//! fill a struct from a JSON array, so each endpoint that takes an
//! `ed25519-sha512-jcs` envelope must refuse one with 422 `invalid_body`
//! and store nothing (SPEC §2: objects with exact fields).

use kez_chat_server::kez::Identity;
use kez_chat_server::kez::profile::sign_profile;
use kez_chat_server::kez::sigchain::sign_link;
use kez_chat_server::kez::visual;
use serde_json::{Value, json};

use super::{add_dns, hex_of, link, payload};
use crate::helpers::*;

/// `{kez, payload, signature}` → `[kez, payload, signature]`, and the
/// signature block `{alg, key, sig}` → `[alg, key, sig]`.
fn array_forms(good: &Value) -> [Value; 2] {
    let s = &good["signature"];
    let mut sig = good.clone();
    sig["signature"] = json!([s["alg"], s["key"], s["sig"]]);
    [json!([good["kez"], good["payload"], s]), sig]
}

async fn assert_invalid_body(res: reqwest::Response, case: &str) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_body")),
        "{case}: {body}"
    );
}

#[tokio::test]
async fn array_shaped_links_are_refused_and_not_stored() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let hex = hex_of(&alice);
    let good = link(&alice, 1, None, add_dns("alice.example"));
    let mut cases = array_forms(&good).to_vec();
    let claim = add_dns("alice.example")["claim"].clone();
    let as_list = json!([claim["service"], claim["name"], claim["proof"]]);
    cases.push(sign_link(
        &alice.sk,
        &payload(&alice, 1, None, json!({"op": "add", "claim": as_list})),
    ));
    cases.push(sign_link(
        &alice.sk,
        &payload(&alice, 1, None, json!(["add", claim])),
    ));
    for (i, doc) in cases.iter().enumerate() {
        assert_invalid_body(app.post_link(&hex, doc).await, &format!("link case {i}")).await;
    }
    let chain: Value = app.get_chain(&hex, None).await.json().await.unwrap();
    assert_eq!(chain["links"], json!([]));
}

#[tokio::test]
async fn array_shaped_registrations_and_profiles_are_refused() {
    let app = spawn_app().await;
    let bob = TestIdentity::generate();
    for (i, doc) in array_forms(&bob.registration("bob", SERVER))
        .iter()
        .enumerate()
    {
        assert_invalid_body(
            app.post_json("/v1/register", doc).await,
            &format!("registration {i}"),
        )
        .await;
    }
    let alice = app.user("alice").await;
    let me = Identity::parse(&alice.primary()).unwrap();
    let wrap = serde_json::to_value(visual::wrap_key(&[9; 32], &me)).unwrap();
    let p = json!({"type": "kez.chat.profile", "version": 1, "handle": "alice", "server": SERVER,
        "primary": alice.primary(), "display_name": null,
        "picture": null, "visual_keys": [], "updated_at": kez_chat_server::time::rfc3339(now())});
    let mut docs = array_forms(&sign_profile(&alice.sk, &p)).to_vec();
    let mut listed = p.clone();
    listed["visual_keys"] = json!([[wrap["epk"], wrap["nonce"], wrap["ct"]]]);
    docs.push(sign_profile(&alice.sk, &listed));
    for (i, doc) in docs.iter().enumerate() {
        let res = app
            .client
            .put(app.url("/v1/profile"))
            .json(doc)
            .send()
            .await
            .unwrap();
        assert_invalid_body(res, &format!("profile {i}")).await;
    }
}
