//! Regenerates `tests/vectors/media.json` (SPEC §13, §14): attachment
//! bodies with their verdicts, the chunking of a small file, sealed
//! attachment messages, xoshiro256** outputs, HKDF seeds, the permutation of
//! a 4×4 image, scrambles of 8×8 and 192×192 RGB images, a visual-key wrap
//! with fixed ephemeral secret and nonce, and profile documents signed with
//! a fixed seed with the SPEC §14.5 code each gets. Deterministic: running
//! it again yields the same bytes. `tests/api/media_vectors.rs` and the web
//! client's Vitest suites recompute every field.
//!
//! `cargo run --example gen-media-vectors` (writes the file itself).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use kez_chat_server::kez::file::{self, CHUNK_SIZE};
use kez_chat_server::kez::visual::{self, Xoshiro256StarStar};
use kez_chat_server::kez::{Identity, envelope, json};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const FILE_ID: &str = "AAECAwQFBgcICQoLDA0ODw";
const NOW: &str = "2026-05-25T03:00:00Z";
/// A 1×1 PNG (its bytes start with the PNG signature, all §14.4 checks).
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn seed(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn primary(seed: &[u8; 32]) -> String {
    let vk = SigningKey::from_bytes(seed).verifying_key();
    format!("ed25519:{}", hex::encode(vk.as_bytes()))
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The test file of the chunking vector: byte i = (i·31 + 7) mod 251.
fn test_file(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + 7) % 251).expect("< 251"))
        .collect()
}

fn attachment_cases() -> (Vec<Value>, Vec<Value>) {
    let big = test_file(CHUNK_SIZE * 2 + 1000);
    let chunks = file::chunk_bodies(FILE_ID, &big);
    let cat: &[u8] = b"\xff\xd8\xff\xe0 not really a cat";
    let inline = file::inline_body("cat.jpg", "image/jpeg", cat);
    let size = format!("\"size\":{}", cat.len());
    let valid = vec![
        ("inline", "file", inline.clone()),
        (
            "inline empty file",
            "file",
            file::inline_body("empty.txt", "text/plain", b""),
        ),
        (
            "inline non-ASCII name",
            "file",
            file::inline_body("résumé ✓.pdf", "application/pdf", b"%PDF"),
        ),
        (
            "pointer",
            "file",
            file::pointer_body(FILE_ID, "big.bin", "application/octet-stream", &big),
        ),
        ("short last chunk", "chunk", chunks[2].clone()),
        ("need", "need", file::need_body(FILE_ID, &[0, 2, 127])),
    ];
    let pointer = &valid[3].2;
    let invalid = vec![
        ("file body under kind chunk", "chunk", inline.clone()),
        (
            "unknown field",
            "file",
            inline.replacen('{', "{\"caption\":\"hi\",", 1),
        ),
        (
            "not JCS: whitespace",
            "file",
            inline.replace(",\"mime\"", ", \"mime\""),
        ),
        (
            "not JCS: key order",
            "file",
            format!(
                "{{\"type\":\"kez-file-v1\",{}",
                &inline[1..].replace(",\"type\":\"kez-file-v1\"", "")
            ),
        ),
        (
            "size is a float",
            "file",
            inline.replace(&size, &format!("{size}.0")),
        ),
        (
            "size does not match data",
            "file",
            inline.replace(&size, &format!("{size}1")),
        ),
        (
            "sha256 does not match",
            "file",
            inline.replace(&sha_hex(cat), &sha_hex(b"other")),
        ),
        (
            "name with slash",
            "file",
            inline.replace("cat.jpg", "a/cat.jpg"),
        ),
        ("name dot-dot", "file", inline.replace("cat.jpg", "..")),
        (
            "name with C1 control",
            "file",
            inline.replace("cat.jpg", "cat\u{9b}.jpg"),
        ),
        (
            "name with right-to-left override",
            "file",
            inline.replace("cat.jpg", "invoice\u{202e}gpj.exe"),
        ),
        (
            "name with bidi isolate",
            "file",
            inline.replace("cat.jpg", "cat\u{2066}.jpg"),
        ),
        (
            "name with zero-width space",
            "file",
            inline.replace("cat.jpg", "cat\u{200b}.jpg"),
        ),
        (
            "mime upper case",
            "file",
            inline.replace("image/jpeg", "image/JPEG"),
        ),
        (
            "mime with parameter",
            "file",
            inline.replace("image/jpeg", "text/html;charset=utf-8"),
        ),
        (
            "data padded",
            "file",
            file::inline_body("a", "a/b", b"x").replace("\"eA\"", "\"eA==\""),
        ),
        (
            "data non-canonical bits",
            "file",
            file::inline_body("a", "a/b", b"x").replace("\"eA\"", "\"eB\""),
        ),
        (
            "pointer with inline size",
            "file",
            file::pointer_body(FILE_ID, "a", "a/b", &big[..CHUNK_SIZE]),
        ),
        (
            "pointer wrong chunk count",
            "file",
            pointer.replace("\"chunks\":3", "\"chunks\":4"),
        ),
        (
            "pointer wrong chunk_size",
            "file",
            pointer.replace("\"chunk_size\":81920", "\"chunk_size\":65536"),
        ),
        (
            "file_id non-canonical",
            "file",
            pointer.replace(FILE_ID, "AAECAwQFBgcICQoLDA0ODx"),
        ),
        (
            "file_id 15 bytes",
            "chunk",
            chunks[2].replace(FILE_ID, "AAECAwQFBgcICQoLDA0O"),
        ),
        (
            "short chunk not last",
            "chunk",
            chunks[2].replace("\"index\":2", "\"index\":1"),
        ),
        (
            "index equals count",
            "chunk",
            chunks[2].replace("\"index\":2", "\"index\":3"),
        ),
        (
            "count over 128",
            "chunk",
            chunks[2].replace("\"count\":3", "\"count\":129"),
        ),
        (
            "need not ascending",
            "need",
            file::need_body(FILE_ID, &[2, 1]),
        ),
        ("need duplicate", "need", file::need_body(FILE_ID, &[1, 1])),
        ("need index 128", "need", file::need_body(FILE_ID, &[128])),
        ("need empty", "need", file::need_body(FILE_ID, &[])),
    ];
    let named = |(name, kind, body): (&str, &str, String), code: &str| {
        let verdict = if file::parse_body(kind, &body).is_some() {
            "ok"
        } else {
            "malformed_message"
        };
        assert_eq!(verdict, code, "{name}");
        json!({"name": name, "kind": kind, "body": body, "verdict": verdict})
    };
    (
        valid.into_iter().map(|c| named(c, "ok")).collect(),
        invalid
            .into_iter()
            .map(|c| named(c, "malformed_message"))
            .collect(),
    )
}

fn chunking() -> Value {
    let data = test_file(200_000);
    let chunks: Vec<Value> = data
        .chunks(CHUNK_SIZE)
        .zip(file::chunk_bodies(FILE_ID, &data))
        .enumerate()
        .map(|(i, (raw, body))| {
            json!({"index": i, "length": raw.len(), "sha256": sha_hex(raw),
                   "body_sha256": sha_hex(body.as_bytes()), "body_length": body.len()})
        })
        .collect();
    json!({
        "rule": "byte i of the file = (i * 31 + 7) mod 251",
        "length": data.len(), "sha256": sha_hex(&data), "file_id": FILE_ID,
        "name": "report.bin", "mime": "application/octet-stream",
        "pointer_body": file::pointer_body(FILE_ID, "report.bin", "application/octet-stream", &data),
        "chunks": chunks,
    })
}

/// Whole sealed messages carrying attachment bodies, opened by the recipient.
fn sealed() -> Vec<Value> {
    let (sender, recipient) = (seed(0x11), seed(0x22));
    let sk = SigningKey::from_bytes(&sender);
    let to = Identity::parse(&primary(&recipient)).expect("valid key");
    let now = NOW.parse().expect("time");
    let inline = file::inline_body("hi.txt", "text/plain", b"hello file");
    let chunk = file::chunk_bodies(FILE_ID, &test_file(CHUNK_SIZE + 10)).remove(1);
    let cases = [
        ("inline file", "file", inline.clone(), false),
        ("last chunk", "chunk", chunk, false),
        ("need", "need", file::need_body(FILE_ID, &[1]), false),
        ("file with ack_sig", "file", inline.clone(), true),
        ("unknown kind", "image", inline, false),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(n, (name, kind, body, ack_sig))| {
            let id = format!("media-vector-{n:07}");
            let mut fields = json!({"type": "kez.chat.message", "version": 2, "kind": kind,
                "id": id, "from": primary(&sender), "from_handle": "alice@kez.lat",
                "to": to.to_string(), "sent_at": NOW, "body": body});
            if ack_sig {
                fields["ack_sig"] = json!(envelope::sign_ack(&sk, "x"));
            }
            let msg = envelope::sign_message(&sk, fields.as_object().expect("object").clone());
            let eph = [u8::try_from(0x40 + n).expect("small"); 32];
            let nonce = [u8::try_from(0x60 + n).expect("small"); 12];
            let env = envelope::seal_with(&msg, &to, eph, nonce).expect("seal");
            let verdict = envelope::open(&env, &recipient, now, |_| false)
                .map_or_else(|e| e.code(), |_| "ok");
            json!({"name": name, "sender_seed": hex::encode(sender),
                   "recipient_seed": hex::encode(recipient), "now": NOW,
                   "ephemeral_secret": hex::encode(eph), "nonce": hex::encode(nonce),
                   "sealed_message": msg,
                   "plaintext": String::from_utf8(json::canonical_bytes(&msg)).expect("utf-8"),
                   "envelope": env, "verdict": verdict})
        })
        .collect()
}

fn u64s(rng: &mut Xoshiro256StarStar, n: usize) -> Vec<String> {
    (0..n).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

fn state_hex(seed: &[u8; 32]) -> Vec<String> {
    seed.chunks_exact(8)
        .map(|c| {
            format!(
                "{:016x}",
                u64::from_le_bytes(c.try_into().expect("8 bytes"))
            )
        })
        .collect()
}

/// An RGB test image: pixel k = (k·4 mod 256, 255 − k mod 256, k·7 mod 256).
fn test_image(pixels: usize) -> Vec<u8> {
    (0..pixels)
        .flat_map(|k| [(k * 4) % 256, 255 - k % 256, (k * 7) % 256])
        .map(|b| u8::try_from(b).expect("< 256"))
        .collect()
}

fn visual_vectors() -> Value {
    let key = seed(0x4b);
    let salt: [u8; 16] = core::array::from_fn(|i| u8::try_from(i).expect("< 16"));
    let prng_seed = visual::prng_seed(&key, &salt);
    let mut reference = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    let mut zero = Xoshiro256StarStar::from_seed([0; 32]);
    let mut seeded = Xoshiro256StarStar::from_seed(prng_seed);
    let uniform: Vec<Value> = [(2u64, 12usize), (1 << 63, 12), (36_863, 12)]
        .into_iter()
        .map(|(max, n)| {
            let mut rng = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
            let draws: Vec<String> = (0..n).map(|_| format!("{:016x}", rng.uniform(max))).collect();
            json!({"state": ["0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"],
                   "max": format!("{max:016x}"), "results": draws})
        })
        .collect();
    let img8 = test_image(64);
    let out8 = visual::scramble(&img8, &key, &salt).expect("whole pixels");
    let img192 = test_image(192 * 192);
    let out192 = visual::scramble(&img192, &key, &salt).expect("whole pixels");
    json!({
        "note": "u64 values are 16 hex digits, big-endian; state = s[0..4]",
        "xoshiro": [
            {"name": "reference state 1,2,3,4", "state": ["0000000000000001", "0000000000000002", "0000000000000003", "0000000000000004"], "outputs": u64s(&mut reference, 10)},
            {"name": "all-zero seed becomes s[0] = 1", "seed": hex::encode([0u8; 32]), "outputs": u64s(&mut zero, 6)},
        ],
        "seeds": [{"key": hex::encode(key), "salt": hex::encode(salt), "info": visual::SEED_INFO,
                   "seed": hex::encode(prng_seed), "state": state_hex(&prng_seed),
                   "outputs": u64s(&mut seeded, 8)}],
        "uniform": uniform,
        "permutation_4x4": {"key": hex::encode(key), "salt": hex::encode(salt), "width": 4, "height": 4,
                            "permutation": visual::permutation(16, &key, &salt)},
        "scramble_8x8": {"key": hex::encode(key), "salt": hex::encode(salt), "width": 8, "height": 8,
                         "input_rule": "pixel k = (k*4 mod 256, 255 - (k mod 256), k*7 mod 256), row-major RGB",
                         "input_hex": hex::encode(&img8), "output_hex": hex::encode(&out8),
                         "output_sha256": sha_hex(&out8)},
        "scramble_192x192": {"key": hex::encode(key), "salt": hex::encode(salt), "width": 192, "height": 192,
                             "input_rule": "as scramble_8x8", "input_sha256": sha_hex(&img192),
                             "output_sha256": sha_hex(&out192)},
        "fragment": visual::fragment(&salt),
    })
}

fn wrap_vector() -> Value {
    let (rx, other) = (seed(0x22), seed(0x33));
    let to = Identity::parse(&primary(&rx)).expect("valid key");
    let key = seed(0x4b);
    let (eph, nonce) = (seed(0x5a), [0x6b; 12]);
    let w = visual::wrap_key_with(&key, &to, eph, nonce).expect("wrap");
    assert_eq!(visual::unwrap_key(&w, &rx), Some(key));
    assert_eq!(visual::unwrap_key(&w, &other), None);
    let ct = URL_SAFE_NO_PAD.decode(&w.ct).expect("b64url");
    json!({"recipient_seed": hex::encode(rx), "recipient_primary": to.to_string(),
           "visual_key": hex::encode(key), "ephemeral_secret": hex::encode(eph),
           "nonce": hex::encode(nonce), "info": visual::WRAP_CONTEXT,
           "aad": format!("{}\n{}\n{}", visual::WRAP_CONTEXT, w.epk, to),
           "ct_length": ct.len(), "wrap": w,
           "other_seed": hex::encode(other), "other_opens": false})
}

fn main() {
    let (valid, invalid) = attachment_cases();
    let doc = json!({
        "spec": "docs/SPEC.md §13 (attachments), §14 (profiles and visual encryption)",
        "generated_by": "cargo run --example gen-media-vectors",
        "attachments": {
            "chunk_size": CHUNK_SIZE, "max_inline": file::MAX_INLINE, "max_file": file::MAX_FILE,
            "valid": valid, "invalid": invalid, "chunking": chunking(), "sealed": sealed(),
        },
        "visual": visual_vectors(),
        "wrap": wrap_vector(),
        "profiles": media_profiles::profiles(PNG),
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/media.json");
    let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
    std::fs::write(path, text).expect("write tests/vectors/media.json");
    eprintln!("wrote {path}");
}

#[path = "gen_media_vectors/profiles.rs"]
mod media_profiles;
