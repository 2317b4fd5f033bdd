//! `tests/vectors/media.json` (SPEC §13, §14), checked field by field; the
//! web client's Vitest suites read the same file.

mod common;

use common::{bytes, check_sealed_case, load, s};

use chrono::{DateTime, Utc};
use kez_core::Identity;
use kez_core::file::{self, CHUNK_SIZE};
use kez_core::profile::verify_profile;
use kez_core::visual::{self, Wrap, Xoshiro256StarStar};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn hex_u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u64::from_str_radix(s(x), 16).unwrap())
        .collect()
}

#[test]
fn attachment_bodies_get_their_verdicts() {
    let doc = load("media.json");
    let a = &doc["attachments"];
    assert_eq!(a["chunk_size"], CHUNK_SIZE);
    for (list, want) in [("valid", "ok"), ("invalid", "malformed_message")] {
        let cases = a[list].as_array().unwrap();
        assert!(cases.len() >= 6, "{list}");
        for c in cases {
            let got = file::parse_body(s(&c["kind"]), s(&c["body"]))
                .map_or("malformed_message", |_| "ok");
            assert_eq!(got, want, "{}", c["name"]);
            assert_eq!(c["verdict"], want, "{}", c["name"]);
        }
    }
}

#[test]
fn chunking_of_the_test_file() {
    let doc = load("media.json");
    let c = &doc["attachments"]["chunking"];
    let len = usize::try_from(c["length"].as_u64().unwrap()).unwrap();
    let data: Vec<u8> = (0..len)
        .map(|i| u8::try_from((i * 31 + 7) % 251).unwrap())
        .collect();
    assert_eq!(sha(&data), s(&c["sha256"]));
    let id = s(&c["file_id"]);
    let pointer = file::pointer_body(id, s(&c["name"]), s(&c["mime"]), &data);
    assert_eq!(pointer, s(&c["pointer_body"]));
    let bodies = file::chunk_bodies(id, &data);
    let want = c["chunks"].as_array().unwrap();
    assert_eq!(bodies.len(), want.len());
    let mut joined = Vec::new();
    for (body, w) in bodies.iter().zip(want) {
        assert_eq!(sha(body.as_bytes()), s(&w["body_sha256"]));
        let Some(file::Attachment::Chunk { data: part, .. }) = file::parse_body("chunk", body)
        else {
            panic!("chunk {}", w["index"]);
        };
        assert_eq!(sha(&part), s(&w["sha256"]));
        assert_eq!(part.len() as u64, w["length"].as_u64().unwrap());
        joined.extend(part);
    }
    assert_eq!(joined, data);
}

#[test]
fn sealed_attachment_messages_open_as_stated() {
    let doc = load("media.json");
    for c in doc["attachments"]["sealed"].as_array().unwrap() {
        check_sealed_case(c);
    }
}

#[test]
fn xoshiro_seeds_and_uniform() {
    let doc = load("media.json");
    let v = &doc["visual"];
    let reference = &v["xoshiro"][0];
    let state: [u64; 4] = hex_u64s(&reference["state"]).try_into().unwrap();
    let mut rng = Xoshiro256StarStar::from_state(state);
    for want in hex_u64s(&reference["outputs"]) {
        assert_eq!(rng.next_u64(), want);
    }
    let zero = &v["xoshiro"][1];
    let mut rng = Xoshiro256StarStar::from_seed(bytes(&zero["seed"]));
    for want in hex_u64s(&zero["outputs"]) {
        assert_eq!(rng.next_u64(), want);
    }
    let seed_case = &v["seeds"][0];
    let seed = visual::prng_seed(&bytes(&seed_case["key"]), &bytes(&seed_case["salt"]));
    assert_eq!(hex::encode(seed), s(&seed_case["seed"]));
    let mut rng = Xoshiro256StarStar::from_seed(seed);
    for want in hex_u64s(&seed_case["outputs"]) {
        assert_eq!(rng.next_u64(), want);
    }
    for u in v["uniform"].as_array().unwrap() {
        let state: [u64; 4] = hex_u64s(&u["state"]).try_into().unwrap();
        let mut rng = Xoshiro256StarStar::from_state(state);
        let max = u64::from_str_radix(s(&u["max"]), 16).unwrap();
        for want in hex_u64s(&u["results"]) {
            assert_eq!(rng.uniform(max), want, "max {max}");
        }
    }
}

#[test]
fn permutation_and_scrambles() {
    let doc = load("media.json");
    let v = &doc["visual"];
    let p = &v["permutation_4x4"];
    let (key, salt) = (bytes::<32>(&p["key"]), bytes::<16>(&p["salt"]));
    let want: Vec<usize> = serde_json::from_value(p["permutation"].clone()).unwrap();
    assert_eq!(visual::permutation(16, &key, &salt), want);
    let img = |pixels: usize| -> Vec<u8> {
        (0..pixels)
            .flat_map(|k| [(k * 4) % 256, 255 - k % 256, (k * 7) % 256])
            .map(|b| u8::try_from(b).unwrap())
            .collect()
    };
    let small = &v["scramble_8x8"];
    let input = img(64);
    assert_eq!(hex::encode(&input), s(&small["input_hex"]));
    let out = visual::scramble(&input, &key, &salt).unwrap();
    assert_eq!(hex::encode(&out), s(&small["output_hex"]));
    assert_eq!(sha(&out), s(&small["output_sha256"]));
    assert_eq!(visual::unscramble(&out, &key, &salt).unwrap(), input);
    let big = &v["scramble_192x192"];
    let input = img(192 * 192);
    assert_eq!(sha(&input), s(&big["input_sha256"]));
    let out = visual::scramble(&input, &key, &salt).unwrap();
    assert_eq!(sha(&out), s(&big["output_sha256"]));
    assert_eq!(visual::fragment(&salt), s(&v["fragment"]));
}

#[test]
fn the_key_wrap() {
    let doc = load("media.json");
    let w = &doc["wrap"];
    let rx_seed = bytes::<32>(&w["recipient_seed"]);
    let to = Identity::parse(s(&w["recipient_primary"])).unwrap();
    let key = bytes::<32>(&w["visual_key"]);
    let made = visual::wrap_key_with(&key, &to, bytes(&w["ephemeral_secret"]), bytes(&w["nonce"]));
    let want: Wrap = serde_json::from_value(w["wrap"].clone()).unwrap();
    assert_eq!(made.unwrap(), want);
    assert_eq!(
        s(&w["aad"]),
        format!("{}\n{}\n{to}", visual::WRAP_CONTEXT, want.epk)
    );
    assert_eq!(visual::unwrap_key(&want, &rx_seed), Some(key));
    assert_eq!(visual::unwrap_key(&want, &bytes(&w["other_seed"])), None);
}

#[test]
fn profile_documents_get_their_codes() {
    let doc = load("media.json");
    let p = &doc["profiles"];
    let now: DateTime<Utc> = s(&p["now"]).parse().unwrap();
    let cases = p["cases"].as_array().unwrap();
    assert!(cases.len() > 30);
    for c in cases {
        let got = verify_profile(&c["document"], s(&p["server"]), Some(now))
            .map_or_else(|e| e.code(), |_| "ok");
        assert_eq!(got, s(&c["code"]), "{}", c["name"]);
    }
    // The good document's wraps open for its owner and for the contact.
    let good = &cases[0]["document"]["payload"];
    let wraps: Vec<Wrap> = serde_json::from_value(good["visual_keys"].clone()).unwrap();
    let key = bytes::<32>(&p["visual_key"]);
    assert_eq!(visual::unwrap_any(&wraps, &bytes(&p["seed"])), Some(key));
    assert_eq!(
        visual::unwrap_any(&wraps, &bytes(&p["contact_seed"])),
        Some(key)
    );
}
