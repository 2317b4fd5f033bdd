//! Regenerates `tests/vectors/sigchain.json` (SPEC §15): a valid chain (add
//! github, add https, revoke the first, add dns) with each link's hash, a
//! proof statement, and invalid links, chains and statements each with the
//! code it gets. Deterministic (fixed seeds and times): running it again
//! yields the same bytes. `crates/kez-core/tests/sigchain_vectors.rs` and the
//! web client's `web/tests/sigchain-vectors.test.ts` recompute every verdict.
//!
//! Every refusal carries the code SPEC §15's table gives it, written here
//! by hand and asserted against Rust, so a changed verdict stops the
//! generator; `.ci/run` regenerates and fails on any diff.
//!
//! `cargo run --example gen-sigchain-vectors` (writes the file itself).

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::sigchain::{
    self, Body, Chain, Claim, LINK_TYPE, MAX_ACTIVE_CLAIMS, MAX_LINK_BYTES, MAX_LINKS, link_hash,
    proof_payload, sign_link, sign_proof,
};
use kez_chat_server::kez::{Identity, json};
use serde_json::{Value, json};

mod links;

const SEED: [u8; 32] = [7; 32];
const OTHER_SEED: [u8; 32] = [8; 32];
/// The clock single links are checked against (±5 min).
const NOW: &str = "2026-05-25T03:05:00Z";
const GIST: &str = "https://gist.github.com/alice-kez/0123456789abcdef0123456789abcdef";

fn key(seed: &[u8; 32]) -> (SigningKey, Identity) {
    let sk = SigningKey::from_bytes(seed);
    let id = Identity::from_bytes(sk.verifying_key().as_bytes()).expect("valid key");
    (sk, id)
}

fn at(minute: u32) -> String {
    format!("2026-05-25T03:{minute:02}:00Z")
}

fn github() -> Claim {
    Claim::parse("github", "alice-kez", GIST).expect("claim")
}

/// `github()`'s login in other case: the same GitHub account.
fn github_upper() -> Claim {
    let proof = GIST.replace("alice-kez", "Alice-KEZ");
    Claim::parse("github", "Alice-KEZ", &proof).expect("claim")
}

fn https() -> Claim {
    let proof = "https://alice.example/.well-known/kez-proof.txt";
    Claim::parse("https", "alice.example", proof).expect("claim")
}

fn dns() -> Claim {
    Claim::parse("dns", "alice.example", "dns:_kez.alice.example").expect("claim")
}

/// The valid chain: add github, add https, revoke the first, add dns.
fn valid_chain() -> Vec<Value> {
    let (sk, id) = key(&SEED);
    let mut links: Vec<Value> = Vec::new();
    let mut first = String::new();
    let bodies = [
        Body::Add(github()),
        Body::Add(https()),
        Body::Revoke(String::new()),
        Body::Add(dns()),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let body = match body {
            Body::Revoke(_) => Body::Revoke(first.clone()),
            b => b,
        };
        let prev = links.last().map(link_hash);
        let seq = u64::try_from(i + 1).expect("small");
        let minute = u32::try_from(i).expect("small");
        let payload = sigchain::link_payload(&id, seq, prev.as_deref(), &at(minute), &body);
        let link = sign_link(&sk, &payload);
        if i == 0 {
            first = link_hash(&link);
        }
        links.push(link);
    }
    Chain::verify(&id, &links).expect("the valid chain verifies");
    links
}

/// Chains that must verify beyond the main one: a claim revoked and added
/// again, every link at one `created_at` (SPEC §15.2 allows both).
fn valid_chains() -> Vec<Value> {
    let (sk, id) = key(&SEED);
    let first = valid_chain().swap_remove(0);
    let h0 = link_hash(&first);
    let revoke = sign_link(
        &sk,
        &sigchain::link_payload(&id, 2, Some(&h0), &at(0), &Body::Revoke(h0.clone())),
    );
    let h1 = link_hash(&revoke);
    let again = sign_link(
        &sk,
        &sigchain::link_payload(&id, 3, Some(&h1), &at(0), &Body::Add(github())),
    );
    let links = vec![first, revoke, again];
    let chain = Chain::verify(&id, &links).expect("re-add verifies");
    assert_eq!(chain.active_claims().count(), 1);
    vec![
        json!({"name": "a claim revoked and added again, all at one created_at",
                "links": links, "active": 1}),
    ]
}

/// The valid chain's first link as text with whitespace and an escape: its
/// hash is the SHA-256 of the JCS of the parsed link, not of these bytes.
fn text_link() -> Value {
    let first = &valid_chain()[0];
    let text = serde_json::to_string_pretty(first)
        .expect("json")
        .replace("\"sigchain_link\"", "\"sigchain_\\u006cink\"");
    let parsed = json::parse_strict(text.as_bytes()).expect("strict");
    assert_eq!(&parsed, first);
    json!({"text": text, "hash": link_hash(first)})
}

/// A seq-2 link after the valid chain's first, with its payload altered.
fn altered(f: impl Fn(&mut Value)) -> Value {
    let (sk, id) = key(&SEED);
    let first = &valid_chain()[0];
    let mut p = sigchain::link_payload(&id, 2, Some(&link_hash(first)), &at(1), &Body::Add(dns()));
    f(&mut p);
    sign_link(&sk, &p)
}

/// The array forms of the good envelope `ok` (SPEC §2: objects only): the
/// envelope, its signature block, and its payload re-signed, each with the
/// values in field order; each is `invalid_body`.
fn array_forms(ok: &Value, payload_fields: &[&str]) -> Vec<(&'static str, Value)> {
    let (sk, _) = key(&SEED);
    let s = &ok["signature"];
    let mut sig = ok.clone();
    sig["signature"] = json!([s["alg"], s["key"], s["sig"]]);
    let payload: Vec<Value> = payload_fields
        .iter()
        .map(|f| ok["payload"][*f].clone())
        .collect();
    let tag = ok["kez"].as_str().expect("tag");
    // Only the payload is signed, so the link signer serves every tag.
    let mut resigned = sign_link(&sk, &Value::Array(payload));
    resigned["kez"] = json!(tag);
    vec![
        ("envelope as an array", json!([ok["kez"], ok["payload"], s])),
        ("signature as an array", sig),
        ("payload as an array", resigned),
    ]
}

/// The valid chain's first `keep` links, then `last` signed by `seed`.
/// The valid chain's first `keep` links, then `last`, refused at
/// `want` = (index, code) as SPEC §15's table says (checked here).
fn chain_case(name: &str, want: (usize, &str), keep: usize, last: Value) -> Value {
    let mut links: Vec<Value> = valid_chain().into_iter().take(keep).collect();
    links.push(last);
    let (_, id) = key(&SEED);
    let err = Chain::verify(&id, &links).expect_err(name);
    assert_eq!((err.index, err.error.code()), want, "{name}");
    json!({"name": name, "links": links, "index": want.0, "code": want.1})
}

fn invalid_chains() -> Vec<Value> {
    let (sk, id) = key(&SEED);
    let chain = valid_chain();
    let h = |i: usize| link_hash(&chain[i]);
    let next = |seq: u64, prev: Option<&str>, minute: u32, body: &Body| {
        sign_link(
            &sk,
            &sigchain::link_payload(&id, seq, prev, &at(minute), body),
        )
    };
    let (other_sk, other) = key(&OTHER_SEED);
    let foreign = sign_link(
        &other_sk,
        &sigchain::link_payload(&other, 1, None, &at(0), &Body::Add(dns())),
    );
    vec![
        chain_case("another key's link", (0, "primary_mismatch"), 0, foreign),
        chain_case(
            "seq skips one",
            (1, "seq_mismatch"),
            1,
            next(3, Some(&h(0)), 1, &Body::Add(dns())),
        ),
        chain_case(
            "prev is not the last hash",
            (2, "prev_mismatch"),
            2,
            next(3, Some(&h(0)), 2, &Body::Add(dns())),
        ),
        chain_case(
            "created_at before the previous",
            (2, "created_at_regression"),
            2,
            next(3, Some(&h(1)), 0, &Body::Add(dns())),
        ),
        chain_case(
            "revoke of an unknown hash",
            (2, "revoke_unknown"),
            2,
            next(3, Some(&h(1)), 2, &Body::Revoke("0".repeat(64))),
        ),
        chain_case(
            "revoke of a revoke",
            (3, "revoke_unknown"),
            3,
            next(4, Some(&h(2)), 3, &Body::Revoke(h(2))),
        ),
        chain_case(
            "second revoke of one add",
            (3, "already_revoked"),
            3,
            next(4, Some(&h(2)), 3, &Body::Revoke(h(0))),
        ),
        chain_case(
            "a GitHub login again in other case",
            (1, "duplicate_claim"),
            1,
            next(2, Some(&h(0)), 1, &Body::Add(github_upper())),
        ),
        chain_case(
            "the same claim added twice",
            (2, "duplicate_claim"),
            2,
            next(3, Some(&h(1)), 2, &Body::Add(https())),
        ),
    ]
}

/// A chain of `MAX_ACTIVE_CLAIMS` adds plus one, and one of `MAX_LINKS`
/// plus one: each with its refusal at the last link.
fn bounds() -> Vec<Value> {
    let (sk, id) = key(&SEED);
    let grow = |n: usize, body: &dyn Fn(usize, &[Value]) -> Body| {
        let mut links: Vec<Value> = Vec::new();
        for i in 0..n {
            let prev = links.last().map(link_hash);
            let b = body(i, &links);
            let seq = u64::try_from(i + 1).expect("small");
            links.push(sign_link(
                &sk,
                &sigchain::link_payload(&id, seq, prev.as_deref(), &at(0), &b),
            ));
        }
        links
    };
    let host = |i: usize| {
        Body::Add(
            Claim::parse(
                "dns",
                &format!("h{i}.example"),
                &format!("dns:_kez.h{i}.example"),
            )
            .expect("claim"),
        )
    };
    let claims = grow(MAX_ACTIVE_CLAIMS + 1, &|i, _| host(i));
    let full = grow(MAX_LINKS + 1, &|i, links| {
        if i % 2 == 1 {
            Body::Revoke(link_hash(&links[i - 1]))
        } else {
            host(i)
        }
    });
    [
        ("33 active claims", claims, (32, "too_many_claims")),
        ("257 links", full, (256, "chain_full")),
    ]
    .into_iter()
    .map(|(name, links, want)| {
        let err = Chain::verify(&id, &links).expect_err(name);
        assert_eq!((err.index, err.error.code()), want, "{name}");
        json!({"name": name, "count": links.len(), "first_link_hash": link_hash(&links[0]),
               "index": want.0, "code": want.1})
    })
    .collect()
}

fn proof() -> (Value, Vec<Value>) {
    let (sk, id) = key(&SEED);
    let payload = proof_payload(&id, &github(), &at(0));
    let statement = sign_proof(&sk, &payload);
    let ok = json!({"claim": {"service": "github", "name": "alice-kez", "proof": GIST},
        "payload_jcs": String::from_utf8(json::canonical_bytes(&payload)).expect("utf-8"),
        "statement": statement});
    let bad = |name: &str, code: &str, f: &dyn Fn(&mut Value)| {
        let mut e = statement.clone();
        f(&mut e);
        let got = sigchain::verify_proof(&e).expect_err(name).code();
        assert_eq!(got, code, "{name}");
        json!({"name": name, "statement": e, "code": code})
    };
    let resign = |f: &dyn Fn(&mut Value)| {
        let mut p = payload.clone();
        f(&mut p);
        sign_proof(&sk, &p)
    };
    let mut invalid = vec![
        bad("link tag", "wrong_envelope_tag", &|e| {
            e["kez"] = json!("sigchain_link")
        }),
        bad("name changed after signing", "invalid_signature", &|e| {
            e["payload"]["name"] = json!("bob")
        }),
        bad("extra field", "invalid_body", &|e| {
            *e = resign(&|p| p["proof"] = json!(GIST))
        }),
        bad("unknown service", "unknown_service", &|e| {
            *e = resign(&|p| p["service"] = json!("mastodon"))
        }),
        bad("invalid login", "invalid_claim_name", &|e| {
            *e = resign(&|p| p["name"] = json!("-alice"))
        }),
        bad("offset timestamp", "invalid_timestamp", &|e| {
            *e = resign(&|p| p["created_at"] = json!("2026-05-25T03:00:00.000Z"))
        }),
        bad("link type", "wrong_payload_type", &|e| {
            *e = resign(&|p| p["type"] = json!(LINK_TYPE))
        }),
    ];
    let fields = [
        "type",
        "version",
        "primary",
        "service",
        "name",
        "created_at",
    ];
    for (name, form) in array_forms(&statement, &fields) {
        invalid.push(bad(name, "invalid_body", &|e| *e = form.clone()));
    }
    (ok, invalid)
}

fn main() {
    let id = key(&SEED).1;
    let chain = valid_chain();
    let hashes: Vec<String> = chain.iter().map(link_hash).collect();
    let (proof, invalid_proofs) = proof();
    let doc = json!({
        "description": "SPEC §15 sigchains: a valid chain, a proof statement, and refusals with their codes (generated by examples/gen_sigchain_vectors/main.rs)",
        "limits": {"max_links": MAX_LINKS, "max_link_bytes": MAX_LINK_BYTES, "max_active_claims": MAX_ACTIVE_CLAIMS},
        "seed": hex::encode(SEED),
        "primary": id.to_string(),
        "now": NOW,
        "chain": {"links": chain, "hashes": hashes,
                  "active": [{"service": "https", "name": "alice.example", "link": hashes[1]},
                             {"service": "dns", "name": "alice.example", "link": hashes[3]}]},
        "valid_chains": valid_chains(),
        "text_link": text_link(),
        "proof": proof,
        "invalid_links": links::invalid_links(),
        "invalid_chains": invalid_chains(),
        "bounds_recipe": "each link signed with the seed, created_at 2026-05-25T03:00:00Z; link i (0-based) adds dns h<i>.example (proof dns:_kez.h<i>.example), except that in \"257 links\" an odd i revokes link i-1",
        "bounds": bounds(),
        "invalid_proofs": invalid_proofs,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/sigchain.json");
    std::fs::write(path, text).expect("write tests/vectors/sigchain.json");
}
