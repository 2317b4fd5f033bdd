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
    for v in data["vectors"].as_array().unwrap() {
        let sk = key(v["seed_hex"].as_str().unwrap());
        let handle = v["handle"].as_str().unwrap();
        let ts = v["ts"].as_i64().unwrap();
        let s = v["string"].as_str().unwrap();
        let expected = if s.ends_with("/stream\n".to_owned().as_str()) || s.contains("/stream\n") {
            auth::stream_string(handle, ts)
        } else {
            let since: u64 = s
                .split("since=")
                .nth(1)
                .unwrap()
                .split('\n')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            auth::poll_string(handle, since, ts)
        };
        assert_eq!(s, expected);
        let sig = hex::encode(sk.sign(s.as_bytes()).to_bytes());
        assert_eq!(sig, v["signature"].as_str().unwrap());
        assert_eq!(v["header"].as_str().unwrap(), format!("{ts}:{sig}"));
    }
}
