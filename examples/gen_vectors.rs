//! Regenerates `tests/vectors/registration.json` and
//! `tests/vectors/signed-strings.json` from fixed seeds. Ed25519 is
//! deterministic, so running it again yields the same bytes; the tests in
//! both languages recompute every field and compare.
//!
//! `cargo run --example gen_vectors`

#![allow(clippy::needless_pass_by_value)]

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::kez::{auth, json, signed};
use serde_json::{Value, json};

const SERVER: &str = "kez.lat";
const NOW: &str = "2026-05-25T03:00:00Z";

fn key(seed_hex: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex, &mut seed).expect("seed hex");
    SigningKey::from_bytes(&seed)
}

fn primary(sk: &SigningKey) -> String {
    format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()))
}

fn payload(sk: &SigningKey, handle: &str) -> Value {
    json!({"type": signed::REGISTRATION_TYPE, "version": 1, "handle": handle,
           "primary": primary(sk), "server": SERVER, "created_at": "2026-05-25T03:02:30Z"})
}

/// Builds one vector: `signed_payload` is what gets signed, `sent_payload`
/// what travels (they differ only in the tampering case).
fn vector(name: &str, seed_hex: &str, signed_payload: Value, sent_payload: Value) -> Value {
    let sk = key(seed_hex);
    let jcs = json::canonical_bytes(&signed_payload);
    let sig = hex::encode(sk.sign(&jcs).to_bytes());
    let envelope = json!({"kez": signed::REGISTRATION_TAG, "payload": sent_payload,
        "signature": {"alg": signed::ALG, "key": primary(&sk), "sig": sig}});
    let now: DateTime<Utc> = NOW.parse().expect("now");
    let verdict = match signed::verify_registration(&envelope, SERVER, now) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    json!({
        "name": name,
        "seed_hex": seed_hex,
        "primary": primary(&sk),
        "payload": signed_payload,
        "jcs": String::from_utf8(jcs.clone()).expect("utf8"),
        "jcs_hex": hex::encode(&jcs),
        "signature": sig,
        "envelope": envelope,
        "signature_valid": signed_payload == sent_payload,
        "verdict": verdict,
    })
}

fn main() -> anyhow::Result<()> {
    let s1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let s2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    let s3 = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";
    let k1 = key(s1);
    let k2 = key(s2);
    let k3 = key(s3);

    let mut tampered = payload(&k1, "tudisco");
    tampered["handle"] = json!("tudisc0");
    let mut v2 = payload(&k2, "alice");
    v2["version"] = json!(2);
    let mut foreign = payload(&k3, "bob");
    foreign["server"] = json!("kéz.example");
    let vectors = vec![
        vector(
            "valid registration",
            s1,
            payload(&k1, "tudisco"),
            payload(&k1, "tudisco"),
        ),
        vector(
            "valid registration, handle with - and _",
            s2,
            payload(&k2, "a-b_c9"),
            payload(&k2, "a-b_c9"),
        ),
        vector(
            "non-ASCII handle is signed fine but refused",
            s3,
            payload(&k3, "zoë"),
            payload(&k3, "zoë"),
        ),
        vector("non-ASCII server name", s3, foreign.clone(), foreign),
        vector(
            "version 2 is refused after the signature check",
            s2,
            v2.clone(),
            v2,
        ),
        vector(
            "reserved handle",
            s1,
            payload(&k1, "admin"),
            payload(&k1, "admin"),
        ),
        vector(
            "payload tampered after signing",
            s1,
            payload(&k1, "tudisco"),
            tampered,
        ),
    ];
    let registration = json!({
        "about": "Handle registration vectors (SPEC §4). jcs is the RFC 8785 form of payload; signature is Ed25519 over jcs by seed_hex; verdict is the server's answer at `now` for `server`. Regenerate with `cargo run --example gen_vectors`.",
        "server": SERVER,
        "now": NOW,
        "vectors": vectors,
    });
    std::fs::write(
        "tests/vectors/registration.json",
        serde_json::to_string_pretty(&registration)? + "\n",
    )?;

    let ts = 1_779_678_000_i64;
    let other = "chat.example.org";
    let strings = vec![
        (
            "poll, since omitted (0)",
            s1,
            SERVER,
            "tudisco",
            auth::poll_string(SERVER, "tudisco", 0, ts),
        ),
        (
            "poll, since=42",
            s2,
            SERVER,
            "alice",
            auth::poll_string(SERVER, "alice", 42, ts),
        ),
        (
            "stream",
            s2,
            SERVER,
            "alice",
            auth::stream_string(SERVER, "alice", ts),
        ),
        (
            "stream, same key and handle on another server",
            s2,
            other,
            "alice",
            auth::stream_string(other, "alice", ts),
        ),
        (
            "release, through=42",
            s2,
            SERVER,
            "alice",
            auth::release_string(SERVER, "alice", 42, ts),
        ),
    ];
    let strings: Vec<Value> = strings
        .into_iter()
        .map(|(name, seed, server, handle, s)| {
            let sk = key(seed);
            let sig = hex::encode(sk.sign(s.as_bytes()).to_bytes());
            json!({"name": name, "seed_hex": seed, "primary": primary(&sk), "server": server,
                   "handle": handle, "ts": ts, "string": s, "signature": sig,
                   "header": format!("{ts}:{sig}")})
        })
        .collect();
    let signed_strings = json!({
        "about": "Request-auth signed strings (SPEC §7.2, kez.chat.req.v2: poll, stream, release): server is the server signed for; string is the exact UTF-8 signed; signature is Ed25519 by seed_hex; header is the X-Kez-Auth / auth= value.",
        "vectors": strings,
    });
    std::fs::write(
        "tests/vectors/signed-strings.json",
        serde_json::to_string_pretty(&signed_strings)? + "\n",
    )?;
    println!("wrote tests/vectors/registration.json and tests/vectors/signed-strings.json");
    Ok(())
}
