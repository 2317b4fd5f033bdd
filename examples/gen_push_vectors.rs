//! Regenerates `tests/vectors/push-signed-strings.json`: the Web Push
//! subscription signed strings (SPEC §10.2) from fixed seeds, plus one VAPID
//! JWT from a fixed P-256 key. Ed25519 and RFC 6979 ECDSA are deterministic,
//! so running it again yields the same bytes; `tests/api/push/subscriptions.rs` recomputes
//! every field and compares.
//!
//! `cargo run --example gen_push_vectors`

use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::kez::auth::{
    check_string, endpoint_hash, subscribe_string, unsubscribe_string,
};
use kez_chat_server::push;
use serde_json::{Value, json};

fn key(seed_hex: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex, &mut seed).expect("seed hex");
    SigningKey::from_bytes(&seed)
}

fn primary(sk: &SigningKey) -> String {
    format!("ed25519:{}", hex::encode(sk.verifying_key().as_bytes()))
}

fn main() -> anyhow::Result<()> {
    let s1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let s2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    let ts = 1_779_678_000_i64;
    let fcm =
        "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";
    let mozilla = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABmZ2xvYmFs";
    let apple = "https://web.push.apple.com/QGuQyavXutnMH6F0tRsxF4Pc3QXgdt3bOHb1V0gEiIRFnTeVpqkm";
    let server = "kez.lat";
    type Build = fn(&str, &str, &str, i64) -> String;
    let cases: [(&str, &str, &str, &str, Build); 5] = [
        ("subscribe (POST)", s1, "tudisco", fcm, subscribe_string),
        (
            "unsubscribe (DELETE)",
            s1,
            "tudisco",
            fcm,
            unsubscribe_string,
        ),
        ("self-heal check (GET)", s1, "tudisco", fcm, check_string),
        (
            "subscribe, another endpoint",
            s2,
            "alice",
            mozilla,
            subscribe_string,
        ),
        (
            "self-heal check, Safari endpoint",
            s2,
            "alice",
            apple,
            check_string,
        ),
    ];
    let vectors: Vec<Value> = cases
        .into_iter()
        .map(|(name, seed, handle, endpoint, build)| {
            let sk = key(seed);
            let string = build(server, handle, endpoint, ts);
            let sig = hex::encode(sk.sign(string.as_bytes()).to_bytes());
            json!({"name": name, "seed_hex": seed, "primary": primary(&sk), "server": server, "handle": handle,
                   "endpoint": endpoint, "endpoint_sha256": endpoint_hash(endpoint),
                   "ts": ts, "string": string, "signature": sig, "header": format!("{ts}:{sig}")})
        })
        .collect();

    // A fixed VAPID key (the RFC 8292 §2.4 example's key is not published as
    // a scalar, so this one is just 32 fixed bytes).
    let vapid_private = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let vapid = push::VapidKey::from_private_b64(vapid_private)?;
    let endpoint = "https://push.example.net:8443/wpush/v2/abc";
    let url = url::Url::parse(endpoint)?;
    let aud = push::audience(&url);
    let exp = ts + push::JWT_LIFETIME_SECS;
    let sub = "mailto:admin@kez.lat";
    let jwt = vapid.jwt(&aud, exp, sub);
    let out = json!({
        "about": "Web Push subscription signed strings (SPEC §10.2, kez.chat.req.v2 for server): endpoint_sha256 is lowercase hex SHA-256 of the endpoint's UTF-8; string is the exact UTF-8 signed; signature is Ed25519 by seed_hex; header is the X-Kez-Auth value. vapid: an ES256 JWT (RFC 6979 deterministic) by the P-256 scalar private_b64url for a push to endpoint at ts. Regenerate with `cargo run --example gen_push_vectors`.",
        "vectors": vectors,
        "vapid": {
            "private_b64url": vapid_private,
            "public_b64url": vapid.public_b64(),
            "endpoint": endpoint,
            "aud": aud,
            "exp": exp,
            "sub": sub,
            "jwt": jwt,
            "authorization": vapid.authorization(&url, ts, sub),
        },
    });
    std::fs::write(
        "tests/vectors/push-signed-strings.json",
        serde_json::to_string_pretty(&out)? + "\n",
    )?;
    println!("wrote tests/vectors/push-signed-strings.json");
    Ok(())
}
