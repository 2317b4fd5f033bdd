//! `tests/vectors/sigchain.json` (SPEC §15), every verdict recomputed; the
//! web client's Vitest suite reads the same file.

mod common;

use common::{load, s};
use ed25519_dalek::SigningKey;
use kez_core::Identity;
use kez_core::sigchain::{
    self, Body, Chain, Claim, MAX_ACTIVE_CLAIMS, MAX_LINK_BYTES, MAX_LINKS, link_hash, sign_link,
};
use kez_core::time::strict_utc_seconds;
use serde_json::Value;
use sha2::Digest as _;

fn list(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap()
}

fn primary(doc: &Value) -> Identity {
    Identity::parse(s(&doc["primary"])).unwrap()
}

#[test]
fn limits_match() {
    let doc = load("sigchain.json");
    assert_eq!(doc["limits"]["max_links"], MAX_LINKS);
    assert_eq!(doc["limits"]["max_link_bytes"], MAX_LINK_BYTES);
    assert_eq!(doc["limits"]["max_active_claims"], MAX_ACTIVE_CLAIMS);
}

#[test]
fn the_valid_chain_verifies_with_its_hashes_and_active_claims() {
    let doc = load("sigchain.json");
    let links = list(&doc["chain"]["links"]);
    let hashes: Vec<String> = links.iter().map(link_hash).collect();
    let want: Vec<&str> = list(&doc["chain"]["hashes"]).iter().map(s).collect();
    assert_eq!(hashes, want);
    let chain = Chain::verify(&primary(&doc), links).unwrap();
    let active: Vec<(String, String, String)> = chain
        .active_claims()
        .map(|(h, c)| (c.service.as_str().to_owned(), c.name.clone(), h.to_owned()))
        .collect();
    let expected: Vec<(String, String, String)> = list(&doc["chain"]["active"])
        .iter()
        .map(|a| {
            (
                s(&a["service"]).into(),
                s(&a["name"]).into(),
                s(&a["link"]).into(),
            )
        })
        .collect();
    assert_eq!(active, expected);
    // Signing is deterministic: the seed re-signs the same links.
    let sk = SigningKey::from_bytes(&common::bytes::<32>(&doc["seed"]));
    for l in links {
        assert_eq!(&sign_link(&sk, &l["payload"]), l);
    }
}

#[test]
fn invalid_links_get_their_codes() {
    let doc = load("sigchain.json");
    let now = strict_utc_seconds(s(&doc["now"])).unwrap();
    let cases = list(&doc["invalid_links"]);
    assert!(cases.len() >= 25);
    for c in cases {
        let err = sigchain::verify_link(&c["link"], Some(now)).unwrap_err();
        assert_eq!(err.code(), s(&c["code"]), "{}", c["name"]);
    }
}

#[test]
fn invalid_chains_stop_at_the_stated_link() {
    let doc = load("sigchain.json");
    for c in list(&doc["invalid_chains"]) {
        let err = Chain::verify(&primary(&doc), list(&c["links"])).unwrap_err();
        assert_eq!(
            (err.index as u64, err.error.code()),
            (c["index"].as_u64().unwrap(), s(&c["code"])),
            "{}",
            c["name"]
        );
    }
}

#[test]
fn bounds_rebuilt_from_the_recipe_are_refused() {
    let doc = load("sigchain.json");
    let sk = SigningKey::from_bytes(&common::bytes::<32>(&doc["seed"]));
    let id = primary(&doc);
    for c in list(&doc["bounds"]) {
        let full = s(&c["name"]) == "257 links";
        let mut links: Vec<Value> = Vec::new();
        for i in 0..usize::try_from(c["count"].as_u64().unwrap()).unwrap() {
            let body = if full && i % 2 == 1 {
                Body::Revoke(link_hash(&links[i - 1]))
            } else {
                let host = format!("h{i}.example");
                Body::Add(Claim::parse("dns", &host, &format!("dns:_kez.{host}")).unwrap())
            };
            let prev = links.last().map(link_hash);
            let p = sigchain::link_payload(
                &id,
                i as u64 + 1,
                prev.as_deref(),
                "2026-05-25T03:00:00Z",
                &body,
            );
            links.push(sign_link(&sk, &p));
        }
        assert_eq!(link_hash(&links[0]), s(&c["first_link_hash"]));
        let err = Chain::verify(&id, &links).unwrap_err();
        assert_eq!(
            (err.index as u64, err.error.code()),
            (c["index"].as_u64().unwrap(), s(&c["code"]))
        );
    }
}

#[test]
fn the_proof_statement_verifies_and_the_invalid_ones_get_their_codes() {
    let doc = load("sigchain.json");
    let p = &doc["proof"];
    let ok = sigchain::verify_proof(&p["statement"]).unwrap();
    assert_eq!(ok.primary, primary(&doc));
    assert_eq!(
        (ok.service.as_str(), ok.name.as_str()),
        (s(&p["claim"]["service"]), s(&p["claim"]["name"]))
    );
    let jcs = kez_core::json::canonical_bytes(&p["statement"]["payload"]);
    assert_eq!(jcs, s(&p["payload_jcs"]).as_bytes());
    for c in list(&doc["invalid_proofs"]) {
        let err = sigchain::verify_proof(&c["statement"]).unwrap_err();
        assert_eq!(err.code(), s(&c["code"]), "{}", c["name"]);
    }
}

#[test]
fn the_other_valid_chains_verify_and_a_text_link_hashes_its_jcs() {
    let doc = load("sigchain.json");
    for c in list(&doc["valid_chains"]) {
        let chain = Chain::verify(&primary(&doc), list(&c["links"])).unwrap();
        assert_eq!(
            chain.active_claims().count() as u64,
            c["active"].as_u64().unwrap()
        );
    }
    let text = s(&doc["text_link"]["text"]);
    let parsed = kez_core::json::parse_strict(text.as_bytes()).unwrap();
    assert_eq!(link_hash(&parsed), s(&doc["text_link"]["hash"]));
    let raw = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    assert_ne!(
        raw,
        s(&doc["text_link"]["hash"]),
        "the hash is of the JCS, not the text"
    );
}
