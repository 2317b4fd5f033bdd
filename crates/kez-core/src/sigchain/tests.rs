#![allow(clippy::needless_pass_by_value)] // call sites read better passing owned bodies

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use super::*;

const T0: &str = "2026-05-25T03:00:00Z";
const GIST: &str = "https://gist.github.com/alice/0123456789abcdef0123";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn id(sk: &SigningKey) -> Identity {
    Identity::from_bytes(sk.verifying_key().as_bytes()).unwrap()
}

fn now() -> DateTime<Utc> {
    strict_utc_seconds(T0).unwrap()
}

fn add(service: &str, name: &str, proof: &str) -> Value {
    json!({"op": "add", "claim": {"service": service, "name": name, "proof": proof}})
}

fn link(sk: &SigningKey, seq: u64, prev: Option<&str>, body: Value) -> Value {
    let payload = json!({"type": LINK_TYPE, "version": 1, "primary": id(sk).to_string(),
        "seq": seq, "prev": prev, "created_at": T0, "body": body});
    sign_link(sk, &payload)
}

fn first(sk: &SigningKey) -> Value {
    link(sk, 1, None, add("github", "alice", GIST))
}

#[test]
fn a_valid_chain_verifies_and_tracks_active_claims() {
    let sk = key(1);
    let l1 = first(&sk);
    let h1 = link_hash(&l1);
    let l2 = link(
        &sk,
        2,
        Some(&h1),
        add(
            "https",
            "alice.example",
            "https://alice.example/.well-known/kez-proof.txt",
        ),
    );
    let h2 = link_hash(&l2);
    let l3 = link(&sk, 3, Some(&h2), json!({"op": "revoke", "link": h1}));
    let h3 = link_hash(&l3);
    let l4 = link(
        &sk,
        4,
        Some(&h3),
        add("dns", "alice.example", "dns:_kez.alice.example"),
    );
    let chain = Chain::verify(&id(&sk), &[l1, l2, l3, l4]).unwrap();
    assert_eq!(chain.len(), 4);
    let active: Vec<_> = chain.active_claims().map(|(_, c)| c.service).collect();
    assert_eq!(active, [Service::Https, Service::Dns]);
}

fn single_code(envelope: &Value) -> &'static str {
    verify_link(envelope, Some(now())).unwrap_err().code()
}

#[test]
fn each_single_link_failure_has_its_own_code() {
    let sk = key(1);
    let other = key(2);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut p = first(&sk)["payload"].clone();
        f(&mut p);
        sign_link(&sk, &p)
    };
    let cases: Vec<(&str, Value)> = vec![
        ("unsafe_number", with(&|p| p["seq"] = json!(1.5))),
        (
            "link_too_large",
            with(&|p| p["body"]["claim"]["name"] = json!("a".repeat(4000))),
        ),
        ("invalid_body", with(&|p| p["extra"] = json!(1))),
        (
            "invalid_body",
            with(&|p| {
                p.as_object_mut().unwrap().remove("prev");
            }),
        ),
        (
            "invalid_body",
            with(&|p| p["body"] = json!({"op": "rename"})),
        ),
        (
            "invalid_body",
            with(&|p| p["body"]["claim"]["x"] = json!(1)),
        ),
        ("wrong_envelope_tag", {
            let mut e = first(&sk);
            e["kez"] = json!("sigchain_proof");
            e
        }),
        (
            "wrong_payload_type",
            with(&|p| p["type"] = json!("kez.sigchain.proof")),
        ),
        ("unsupported_version", with(&|p| p["version"] = json!(2))),
        ("key_mismatch", {
            let mut e = first(&sk);
            e["signature"]["key"] = json!(id(&other).to_string());
            e
        }),
        ("unsupported_alg", {
            let mut e = first(&sk);
            e["signature"]["alg"] = json!("ed25519");
            e
        }),
        ("invalid_key", {
            let mut e = with(&|p| p["primary"] = json!("ed25519:00"));
            e["signature"]["key"] = json!("ed25519:00");
            e
        }),
        ("invalid_signature", {
            let mut e = first(&sk);
            e["payload"]["created_at"] = json!("2026-05-25T03:00:01Z");
            e
        }),
        ("invalid_seq", with(&|p| p["seq"] = json!(0))),
        (
            "invalid_prev",
            with(&|p| p["prev"] = json!("ab".repeat(32))),
        ),
        (
            "invalid_prev",
            with(&|p| {
                p["seq"] = json!(2);
                p["prev"] = Value::Null;
            }),
        ),
        (
            "invalid_prev",
            with(&|p| {
                p["seq"] = json!(2);
                p["prev"] = json!("AB".repeat(32));
            }),
        ),
        (
            "invalid_timestamp",
            with(&|p| p["created_at"] = json!("2026-05-25T03:00:00+00:00")),
        ),
        (
            "stale_timestamp",
            with(&|p| p["created_at"] = json!("2026-05-25T03:05:01Z")),
        ),
        (
            "unknown_service",
            with(&|p| p["body"]["claim"]["service"] = json!("twitter")),
        ),
        (
            "invalid_claim_name",
            with(&|p| p["body"]["claim"]["name"] = json!("-alice")),
        ),
        (
            "invalid_proof",
            with(&|p| {
                p["body"]["claim"]["proof"] =
                    json!("https://gist.github.com/bob/0123456789abcdef0123")
            }),
        ),
        (
            "invalid_link_ref",
            with(&|p| p["body"] = json!({"op": "revoke", "link": "xyz"})),
        ),
    ];
    for (code, envelope) in cases {
        assert_eq!(single_code(&envelope), code, "{envelope}");
    }
}

#[test]
fn each_chain_rule_has_its_own_code() {
    let sk = key(1);
    let l1 = first(&sk);
    let h1 = link_hash(&l1);
    let mut chain = Chain::new(id(&sk));
    chain.push(verify_link(&l1, None).unwrap()).unwrap();
    let next = |body: Value| verify_link(&link(&sk, 2, Some(&h1), body), None).unwrap();
    let code = |chain: &Chain, l: &Link| chain.check_next(l).unwrap_err().code();
    assert_eq!(
        code(&chain, &verify_link(&first(&key(2)), None).unwrap()),
        "primary_mismatch"
    );
    assert_eq!(
        code(
            &chain,
            &verify_link(
                &link(
                    &sk,
                    3,
                    Some(&h1),
                    add("dns", "a.example", "dns:_kez.a.example")
                ),
                None
            )
            .unwrap()
        ),
        "seq_mismatch"
    );
    assert_eq!(
        code(
            &chain,
            &verify_link(
                &link(
                    &sk,
                    2,
                    Some(&"0".repeat(64)),
                    add("dns", "a.example", "dns:_kez.a.example")
                ),
                None
            )
            .unwrap()
        ),
        "prev_mismatch"
    );
    assert_eq!(
        code(&chain, &next(add("github", "alice", GIST))),
        "duplicate_claim"
    );
    // GitHub logins are case-insensitive: `ALICE` is the same account.
    let upper = "https://gist.github.com/ALICE/0123456789abcdef0123";
    assert_eq!(
        code(&chain, &next(add("github", "ALICE", upper))),
        "duplicate_claim"
    );
    assert_eq!(
        code(
            &chain,
            &next(json!({"op": "revoke", "link": "0".repeat(64)}))
        ),
        "revoke_unknown"
    );
    let mut earlier = next(add("dns", "a.example", "dns:_kez.a.example"));
    earlier.created_at -= chrono::Duration::seconds(1);
    assert_eq!(code(&chain, &earlier), "created_at_regression");
    // A revoke of a revoke, and a second revoke of the same add.
    let l2 = link(&sk, 2, Some(&h1), json!({"op": "revoke", "link": h1}));
    let h2 = link_hash(&l2);
    chain.push(verify_link(&l2, None).unwrap()).unwrap();
    let third = |body: Value| verify_link(&link(&sk, 3, Some(&h2), body), None).unwrap();
    assert_eq!(
        code(&chain, &third(json!({"op": "revoke", "link": h1}))),
        "already_revoked"
    );
    assert_eq!(
        code(&chain, &third(json!({"op": "revoke", "link": h2}))),
        "revoke_unknown"
    );
    // Revoked, the same claim may be added again.
    chain
        .check_next(&third(add("github", "alice", GIST)))
        .unwrap();
}

#[test]
fn active_claims_and_links_are_bounded() {
    let sk = key(1);
    let mut chain = Chain::new(id(&sk));
    let append = |chain: &mut Chain, body: Value| {
        let seq = chain.len() as u64 + 1;
        let prev = chain.head().map(str::to_owned);
        chain.push(verify_link(&link(&sk, seq, prev.as_deref(), body), None).unwrap())
    };
    let host = |i: usize| format!("h{i}.example");
    for i in 0..MAX_ACTIVE_CLAIMS {
        append(
            &mut chain,
            add("dns", &host(i), &format!("dns:_kez.{}", host(i))),
        )
        .unwrap();
    }
    let err = append(&mut chain, add("dns", "x.example", "dns:_kez.x.example")).unwrap_err();
    assert_eq!(err.code(), "too_many_claims");
    // Revoke and re-add until the chain is full.
    let mut i = 0;
    while chain.len() < MAX_LINKS {
        let target = chain.active_claims().next().unwrap().0.to_owned();
        append(&mut chain, json!({"op": "revoke", "link": target})).unwrap();
        if chain.len() < MAX_LINKS {
            i += 1;
            let h = format!("n{i}.example");
            append(&mut chain, add("dns", &h, &format!("dns:_kez.{h}"))).unwrap();
        }
    }
    let err = append(&mut chain, add("dns", "y.example", "dns:_kez.y.example")).unwrap_err();
    assert_eq!(err.code(), "chain_full");
}

#[test]
fn claim_names_and_proofs() {
    for ok in ["a", "a-b", "A1", &"a".repeat(39)] {
        assert!(valid_github_login(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "a--b", "a_b", &"a".repeat(40)] {
        assert!(!valid_github_login(bad), "{bad}");
    }
    for ok in [
        "a.b",
        "xn--bcher-kva.example",
        "a-1.b2.example",
        "a.xn--p1ai",
    ] {
        assert!(valid_host(ok), "{ok}");
    }
    for bad in [
        "localhost",
        "A.example",
        "a..b",
        "-a.b",
        "a-.b",
        "a.b.",
        "10.0.0.1",
        "127.0x1",
        "1.2.3.0x7f",
        "a.1b",
        "bücher.example",
        &format!("{}.b", "a".repeat(64)),
    ] {
        assert!(!valid_host(bad), "{bad}");
    }
    assert!(Service::Github.valid_proof("alice", GIST));
    assert!(!Service::Github.valid_proof(
        "alice",
        "https://gist.github.com/alice/0123456789ABCDEF0123"
    ));
    assert!(!Service::Github.valid_proof("alice", "https://gist.github.com/alice/0123"));
    assert!(!Service::Https.valid_proof("a.b", "http://a.b/.well-known/kez-proof.txt"));
    assert!(!Service::Dns.valid_proof("a.b", "dns:a.b"));
}

#[test]
fn proof_statements_sign_and_verify() {
    let sk = key(1);
    let claim = Claim::parse("github", "alice", GIST).unwrap();
    let statement = sign_proof(&sk, &proof_payload(&id(&sk), &claim, T0));
    let p = verify_proof(&statement).unwrap();
    assert_eq!((p.service, p.name.as_str()), (Service::Github, "alice"));
    let mut bad = statement.clone();
    bad["payload"]["name"] = json!("bob");
    assert_eq!(verify_proof(&bad).unwrap_err().code(), "invalid_signature");
    let mut tag = statement;
    tag["kez"] = json!(LINK_TAG);
    assert_eq!(verify_proof(&tag).unwrap_err().code(), "wrong_envelope_tag");
}
