//! The shared test vectors (also checked by the web client's tests).

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::kez::{auth, json, signed};
use serde_json::Value;

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn key(seed_hex: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex, &mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

#[test]
fn jcs_matches_rfc8785_reference_cases() {
    let data = load("tests/data/jcs/cases.json");
    for case in data["cases"].as_array().unwrap() {
        let parsed = json::parse_strict(case["input"].as_str().unwrap().as_bytes()).unwrap();
        let out = String::from_utf8(json::canonical_bytes(&parsed)).unwrap();
        assert_eq!(out, case["output"].as_str().unwrap(), "{}", case["name"]);
    }
    for n in data["numbers"].as_array().unwrap() {
        let bits = u64::from_str_radix(n["ieee_hex"].as_str().unwrap(), 16).unwrap();
        let v = serde_json::Number::from_f64(f64::from_bits(bits))
            .map(Value::Number)
            .unwrap();
        let out = String::from_utf8(json::canonical_bytes(&v)).unwrap();
        assert_eq!(out, n["output"].as_str().unwrap(), "{}", n["ieee_hex"]);
    }
}

#[test]
fn registration_vectors_hold() {
    let data = load("tests/vectors/registration.json");
    let now: DateTime<Utc> = data["now"].as_str().unwrap().parse().unwrap();
    let server = data["server"].as_str().unwrap();
    let vectors = data["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 4);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let sk = key(v["seed_hex"].as_str().unwrap());
        assert_eq!(
            v["primary"].as_str().unwrap(),
            format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes())),
            "{name}"
        );
        let jcs = json::canonical_bytes(&v["payload"]);
        assert_eq!(
            String::from_utf8(jcs.clone()).unwrap(),
            v["jcs"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(hex::encode(&jcs), v["jcs_hex"].as_str().unwrap(), "{name}");
        assert_eq!(
            hex::encode(sk.sign(&jcs).to_bytes()),
            v["signature"].as_str().unwrap(),
            "{name}"
        );
        let verdict = match signed::verify_registration(&v["envelope"], server, now) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        assert_eq!(verdict, v["verdict"].as_str().unwrap(), "{name}");
    }
    // The set covers a non-ASCII string and a refused tampering.
    assert!(
        vectors
            .iter()
            .any(|v| !v["jcs"].as_str().unwrap().is_ascii())
    );
    assert!(vectors.iter().any(|v| v["verdict"] == "invalid_signature"));
}

#[test]
fn signed_string_vectors_hold() {
    let data = load("tests/vectors/signed-strings.json");
    let vectors = data["vectors"].as_array().unwrap();
    for v in vectors {
        let sk = key(v["seed_hex"].as_str().unwrap());
        let server = v["server"].as_str().unwrap();
        let handle = v["handle"].as_str().unwrap();
        let ts = v["ts"].as_i64().unwrap();
        let s = v["string"].as_str().unwrap();
        let number_after = |key: &str| -> u64 {
            s.split(key)
                .nth(1)
                .unwrap()
                .split('\n')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let expected = if s.contains("/stream\n") {
            auth::stream_string(server, handle, ts)
        } else if s.contains("\nDELETE\n") {
            auth::release_string(server, handle, number_after("through="), ts)
        } else {
            auth::poll_string(server, handle, number_after("since="), ts)
        };
        assert_eq!(s, expected);
        assert!(s.starts_with(&format!("{}\n{server}\n", auth::REQUEST_TAG)));
        let sig = hex::encode(sk.sign(s.as_bytes()).to_bytes());
        assert_eq!(sig, v["signature"].as_str().unwrap());
        assert_eq!(v["header"].as_str().unwrap(), format!("{ts}:{sig}"));
    }
    // Same key, handle and ts on two servers: two different signatures.
    let servers: std::collections::HashSet<_> = vectors.iter().map(|v| &v["server"]).collect();
    assert!(servers.len() >= 2);
}

#[test]
fn envelope_v2_vectors_hold() {
    use kez_chat_server::kez::Identity;
    use kez_chat_server::kez::envelope;
    let data = load("tests/vectors/envelope-v2.json");
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let hex32 = |k: &str| -> [u8; 32] {
            let mut b = [0u8; 32];
            hex::decode_to_slice(c[k].as_str().unwrap(), &mut b).unwrap();
            b
        };
        let mut nonce = [0u8; 12];
        hex::decode_to_slice(c["nonce"].as_str().unwrap(), &mut nonce).unwrap();
        // Sealing reproduces the exact envelope bytes.
        let recipient = Identity::parse(c["recipient_primary"].as_str().unwrap()).unwrap();
        assert_eq!(
            json::canonical_bytes(&c["sealed_message"]),
            c["sealed_message_jcs"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        let sealed = envelope::seal_with(
            &c["sealed_message"],
            &recipient,
            hex32("ephemeral_secret"),
            nonce,
        )
        .unwrap();
        assert_eq!(sealed, c["envelope"], "{name}: seal differs");
        assert_eq!(
            String::from_utf8(json::canonical_bytes(&sealed)).unwrap(),
            c["envelope_json"].as_str().unwrap(),
            "{name}"
        );
        // Honest messages re-sign to the same bytes (Ed25519 is deterministic).
        if c["expected"]["verdict"] == "accept" {
            let sender = SigningKey::from_bytes(&hex32("sender_seed"));
            let fields = c["sealed_message"].as_object().unwrap().clone();
            assert_eq!(
                envelope::sign_message(&sender, fields),
                c["sealed_message"],
                "{name}: signature differs"
            );
        }
        // Opening gives the message or the expected rejection.
        let input = c.get("open_input").unwrap_or(&c["envelope"]);
        let now: DateTime<Utc> = c["now"].as_str().unwrap().parse().unwrap();
        let seen: Vec<String> = c["seen_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let opened = envelope::open(input, &hex32("open_with_seed"), now, |id| {
            seen.iter().any(|s| s == id)
        });
        match (&opened, c["expected"]["verdict"].as_str().unwrap()) {
            (Ok(m), "accept") => {
                assert_eq!(
                    m.body,
                    c["sealed_message"]["body"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(
                    m.from,
                    c["sealed_message"]["from"].as_str().unwrap(),
                    "{name}"
                );
            }
            (Err(e), "reject") => {
                assert_eq!(e.code(), c["expected"]["error"].as_str().unwrap(), "{name}")
            }
            (other, verdict) => panic!("{name}: expected {verdict}, got {other:?}"),
        }
    }
}

#[test]
fn envelope_v2_round_trips_with_random_keys() {
    use kez_chat_server::kez::Identity;
    use kez_chat_server::kez::envelope;
    let alice = SigningKey::from_bytes(&[11; 32]);
    let bob_seed = [22u8; 32];
    let bob =
        Identity::from_bytes(SigningKey::from_bytes(&bob_seed).verifying_key().as_bytes()).unwrap();
    let now = Utc::now();
    let fields = serde_json::json!({"type": "kez.chat.message", "version": 2, "kind": "text",
        "id": "roundtrip-0000000001", "from": format!("ed25519:{}", hex::encode(alice.verifying_key().as_bytes())),
        "from_handle": "alice@kez.test", "to": bob.to_string(),
        "sent_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "body": "hi ✓"});
    let msg = envelope::sign_message(&alice, fields.as_object().unwrap().clone());
    let a = envelope::seal(&msg, &bob);
    let b = envelope::seal(&msg, &bob);
    assert_ne!(
        a["epk"], b["epk"],
        "ephemeral keys must be fresh per message"
    );
    assert!(
        !a.to_string().contains("alice") && !a.to_string().contains(&bob.hex()),
        "no plaintext from/to"
    );
    assert_eq!(
        envelope::open(&a, &bob_seed, now, |_| false).unwrap().body,
        "hi ✓"
    );
    assert_eq!(
        envelope::open(&a, &[33; 32], now, |_| false)
            .unwrap_err()
            .code(),
        "decrypt_failed"
    );
}

/// The verdict of kez-core on one Ed25519 case: the key must parse, the
/// signature must be 128 lowercase hex and verify (SPEC §2).
fn ed25519_verdict(case: &Value) -> &'static str {
    use kez_chat_server::kez::{Identity, SignatureHex};
    let field = |k: &str| case[k].as_str().unwrap();
    let Ok(id) = Identity::parse(&format!("ed25519:{}", field("public_key_hex"))) else {
        return "reject";
    };
    let Some(sig) = SignatureHex::parse(field("signature_hex")) else {
        return "reject";
    };
    let message = hex::decode(field("message_hex")).unwrap();
    if id.verify(&message, &sig) {
        "accept"
    } else {
        "reject"
    }
}

#[test]
fn ed25519_edge_cases_get_the_shared_verdicts() {
    let data = load("tests/vectors/ed25519-edge-cases.json");
    let cases = data["cases"].as_array().unwrap();
    let wrong: Vec<String> = cases
        .iter()
        .filter(|c| ed25519_verdict(c) != c["expected"].as_str().unwrap())
        .map(|c| format!("{} ({})", c["id"], c["why"]))
        .collect();
    assert!(wrong.is_empty(), "verdicts differ from SPEC §2: {wrong:#?}");
    // The set holds every speccheck case and both verdicts.
    let ids: Vec<&str> = cases.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!((0..10).all(|i| ids.contains(&format!("speccheck-{i}").as_str())));
    assert!(cases.iter().any(|c| c["expected"] == "accept"));
}

/// `tests/vectors/nostr.json` (SPEC §12): keys, addrs, signed events, check
/// verdicts and freshness, all recomputed.
#[test]
fn nostr_vectors_hold() {
    use kez_chat_server::kez::Identity;
    use kez_chat_server::kez::nostr::keys::{
        check_kez_event, nostr_secret_key, public_key, sign_event,
    };
    use kez_chat_server::kez::nostr::{self, Event};
    let data = load("tests/vectors/nostr.json");
    let envelopes = load("tests/vectors/envelope-v2.json");
    let hex32 = |v: &Value| -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
        out
    };
    assert_eq!(data["kinds"]["message"], 4243);
    assert_eq!(data["kinds"]["ack"], 4244);
    let keys = data["keys"].as_array().unwrap();
    assert!(keys.len() >= 4);
    for k in keys {
        let seed = hex32(&k["seed"]);
        let sk = key(k["seed"].as_str().unwrap());
        let primary = format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()));
        assert_eq!(k["primary"], primary.as_str());
        assert_eq!(
            k["addr"],
            nostr::addr(&Identity::parse(&primary).unwrap()).as_str()
        );
        let nsk = nostr_secret_key(&seed);
        assert_eq!(k["nostr_secret_key"], hex::encode(nsk).as_str());
        assert_eq!(
            k["nostr_public_key"],
            hex::encode(public_key(&nsk).unwrap()).as_str()
        );
    }
    for a in data["addrs"].as_array().unwrap() {
        let id = Identity::parse(a["primary"].as_str().unwrap()).unwrap();
        assert_eq!(a["addr"], nostr::addr(&id).as_str());
    }
    let events = data["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for e in events {
        let name = e["name"].as_str().unwrap();
        let expected: Event = serde_json::from_value(e["event"].clone()).unwrap();
        let case = envelopes["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == e["envelope_case"])
            .unwrap();
        // content is the envelope exactly as posted to the server (its JCS).
        assert_eq!(
            expected.content,
            String::from_utf8(json::canonical_bytes(&case["envelope"])).unwrap(),
            "{name}"
        );
        let route = Identity::parse(e["route_to_primary"].as_str().unwrap()).unwrap();
        let tags = nostr::tags(&nostr::addr(&route), expected.created_at);
        let built = sign_event(
            &hex32(&e["one_time_secret"]),
            &hex32(&e["aux_rand"]),
            expected.created_at,
            expected.kind,
            tags,
            case["envelope_json"].as_str().unwrap().to_owned(),
        )
        .unwrap();
        assert_eq!(built, expected, "{name}");
        let serialized = nostr::serialize_for_id(
            &built.pubkey,
            built.created_at,
            built.kind,
            &built.tags,
            &built.content,
        );
        assert_eq!(e["serialized"], serialized.as_str(), "{name}");
        assert_eq!(
            check_kez_event(&built, built.created_at),
            Ok(nostr::addr(&route).as_str()),
            "{name}"
        );
    }
    assert_eq!(events[0]["event"]["kind"], 4243);
    assert_eq!(events[1]["event"]["kind"], 4244);
    for c in data["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let ev: Event = serde_json::from_value(c["event"].clone()).unwrap();
        let got = match check_kez_event(&ev, c["now"].as_i64().unwrap()) {
            Ok(q) => serde_json::json!({ "ok": true, "addr": q }),
            Err(r) => serde_json::json!({ "ok": false, "reason": r.code() }),
        };
        assert_eq!(got, c["expected"], "{name}");
    }
    for f in data["freshness"].as_array().unwrap() {
        let (c, n) = (
            f["created_at"].as_i64().unwrap(),
            f["now"].as_i64().unwrap(),
        );
        assert_eq!(
            nostr::is_fresh(c, n),
            f["fresh"].as_bool().unwrap(),
            "{c} {n}"
        );
    }
}
