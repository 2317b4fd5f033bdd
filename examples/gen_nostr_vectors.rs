//! Regenerates `tests/vectors/nostr.json` (SPEC §12): nostr keys derived
//! from fixed seeds, routing addrs of primaries, one message and one ack
//! event over envelopes of `tests/vectors/envelope-v2.json` signed with a
//! fixed one-time key and all-zero BIP-340 aux randomness, check verdicts
//! for altered events, and freshness cases. Everything is deterministic, so
//! running it again yields the same bytes; `tests/api/vectors.rs` and
//! `web/tests/nostr-vectors.test.ts` recompute every field.
//!
//! `cargo run --example gen_nostr_vectors > tests/vectors/nostr.json`

use ed25519_dalek::SigningKey;
use kez_chat_server::kez::nostr::keys::{
    check_kez_event, nostr_secret_key, public_key, sign_event,
};
use kez_chat_server::kez::nostr::{
    self, Event, KIND_ACK, KIND_MESSAGE, LOOKBACK_SECS, MAX_FUTURE_SECS, addr_of_str,
    serialize_for_id,
};
use serde_json::{Value, json};

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).expect("32 hex bytes");
    out
}

fn primary(seed: &[u8; 32]) -> String {
    let vk = SigningKey::from_bytes(seed).verifying_key();
    format!("ed25519:{}", hex::encode(vk.as_bytes()))
}

/// The envelope-v2 vector case called `name`.
fn envelope_case<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .expect("envelope-v2 case")
}

fn event_case(name: &str, kind: u16, case: &Value, route_to: &str, created_at: i64) -> Value {
    let one_time = hex32("6b657a2d636861742d6e6f7374722d766563746f722d6f6e652d74696d652d31");
    let aux = [0u8; 32];
    let q = addr_of_str(route_to);
    let content = case["envelope_json"]
        .as_str()
        .expect("envelope_json")
        .to_owned();
    let tags = nostr::tags(&q, created_at);
    let event = sign_event(&one_time, &aux, created_at, kind, tags, content).expect("valid key");
    assert!(check_kez_event(&event, created_at).is_ok());
    json!({
        "name": name,
        "envelope_case": case["name"],
        "message_id": case["sealed_message"]["id"],
        "route_to_primary": route_to,
        "one_time_secret": hex::encode(one_time),
        "aux_rand": hex::encode(aux),
        "serialized": serialize_for_id(&event.pubkey, event.created_at, event.kind, &event.tags, &event.content),
        "event": event,
    })
}

/// A copy of `base` changed by `edit`, re-signed when `resign`, with the
/// verdict of `check_kez_event` at `now`.
fn check_case(
    name: &str,
    base: &Event,
    now: i64,
    resign: bool,
    edit: impl Fn(&mut Event),
) -> Value {
    let mut ev = base.clone();
    edit(&mut ev);
    if resign {
        let one_time = hex32("6b657a2d636861742d6e6f7374722d766563746f722d6f6e652d74696d652d32");
        ev = sign_event(
            &one_time,
            &[0; 32],
            ev.created_at,
            ev.kind,
            ev.tags,
            ev.content,
        )
        .expect("key");
    }
    let verdict = match check_kez_event(&ev, now) {
        Ok(q) => json!({ "ok": true, "addr": q }),
        Err(r) => json!({ "ok": false, "reason": r.code() }),
    };
    json!({ "name": name, "now": now, "event": ev, "expected": verdict })
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/envelope-v2.json"
    );
    let env: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");

    let seeds = [
        "07469e49271698c3fd71c1676e72faf8cf89320b447515f47b06630fcd58b15a",
        "f31822082db3ca8a33876a6f2ce2ee8ef5226c8c38f9f3557ce3eeee2be4703f",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];
    let keys: Vec<Value> = seeds
        .iter()
        .map(|s| {
            let seed = hex32(s);
            let p = primary(&seed);
            let sk = nostr_secret_key(&seed);
            json!({
                "seed": s,
                "primary": p,
                "addr": addr_of_str(&p),
                "nostr_secret_key": hex::encode(sk),
                "nostr_public_key": hex::encode(public_key(&sk).expect("valid")),
            })
        })
        .collect();
    let addrs: Vec<Value> = [
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "ed25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "ed25519:fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    ]
    .iter()
    .map(|p| json!({ "primary": p, "addr": addr_of_str(p) }))
    .collect();

    // 2026-05-25T03:00:30Z, the `now` of the envelope-v2 cases.
    let t = 1_779_678_030_i64;
    let text = envelope_case(&env, "text_unicode");
    let ack = envelope_case(&env, "ack");
    // A message goes to its recipient's addr; the receipt goes back to the
    // original sender, who is the recipient of the sealed ack.
    let message = event_case(
        "message",
        KIND_MESSAGE,
        text,
        text["recipient_primary"].as_str().expect("p"),
        t,
    );
    let receipt = event_case(
        "ack",
        KIND_ACK,
        ack,
        ack["recipient_primary"].as_str().expect("p"),
        t,
    );

    let base: Event = serde_json::from_value(message["event"].clone()).expect("event");
    let checks = vec![
        check_case("valid", &base, t, false, |_| {}),
        check_case(
            "valid_at_lookback_edge",
            &base,
            t + LOOKBACK_SECS,
            false,
            |_| {},
        ),
        check_case(
            "valid_at_future_edge",
            &base,
            t - MAX_FUTURE_SECS,
            false,
            |_| {},
        ),
        check_case("stale", &base, t + LOOKBACK_SECS + 1, false, |_| {}),
        check_case("future", &base, t - MAX_FUTURE_SECS - 1, false, |_| {}),
        check_case("wrong_kind", &base, t, true, |e| e.kind = 1),
        check_case("no_q_tag", &base, t, true, |e| {
            e.tags.remove(0);
        }),
        check_case("q_upper_case", &base, t, true, |e| {
            e.tags[0][1] = e.tags[0][1].to_uppercase()
        }),
        check_case("q_short", &base, t, true, |e| e.tags[0][1].truncate(63)),
        check_case("content_changed", &base, t, false, |e| e.content.push(' ')),
        check_case("created_at_changed", &base, t, false, |e| e.created_at += 1),
        check_case("sig_flipped", &base, t, false, |e| {
            let last = if e.sig.ends_with('0') { "1" } else { "0" };
            e.sig.replace_range(127.., last);
        }),
        check_case("pubkey_swapped", &base, t, false, |e| {
            let other = public_key(&hex32(seeds[2])).expect("key");
            e.pubkey = hex::encode(other);
            let id = nostr::event_id(&e.pubkey, e.created_at, e.kind, &e.tags, &e.content);
            e.id = hex::encode(id);
        }),
    ];

    let fresh: Vec<Value> = [
        (t, t),
        (t + 300, t),
        (t + 301, t),
        (t - 172_800, t),
        (t - 172_801, t),
        (0, t),
        (t, 0),
    ]
    .iter()
    .map(|&(c, n)| json!({ "created_at": c, "now": n, "fresh": nostr::is_fresh(c, n) }))
    .collect();

    let doc = json!({
        "description": "Chat over nostr (SPEC §12). keys: nostr_secret_key = HKDF-SHA256(seed, no salt, info \"kez.chat.nostr.key.v1\", 32) (retry counter never needed here), nostr_public_key = its BIP-340 x-only key, addr = hex(SHA-256(\"kez.chat.nostr.addr.v1\\n\" + primary)). events: built over envelope_json of the named envelope-v2.json case with tags [[q, addr(route_to_primary)], [expiration, created_at + 172800]], signed by one_time_secret with BIP-340 aux_rand; `serialized` is the NIP-01 id preimage. checks: verdict of the §12 checks in order wrong_kind, bad_route, future, stale, bad_id, bad_signature at `now`. freshness: -172800 <= created_at - now <= 300.",
        "generator": "cargo run --example gen_nostr_vectors",
        "kinds": { "message": KIND_MESSAGE, "ack": KIND_ACK },
        "max_future_secs": MAX_FUTURE_SECS,
        "lookback_secs": LOOKBACK_SECS,
        "keys": keys,
        "addrs": addrs,
        "events": [message, receipt],
        "checks": checks,
        "freshness": fresh,
    });
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
}
