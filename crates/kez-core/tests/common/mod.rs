//! What every shared-vector test of kez-core does alike: read a file of
//! `tests/vectors/`, and check one sealed-message case (SPEC §8: the
//! plaintext is the JCS of the message, its signature and seal reproduce
//! byte for byte, and `envelope::open` gives the stated verdict).
#![allow(dead_code)] // each test file uses the part it needs

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use kez_core::{Identity, envelope, json};
use serde_json::Value;

/// `tests/vectors/<file>` of the repository, parsed.
pub(crate) fn load(file: &str) -> Value {
    let path = format!("{}/../../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The string a vector field must be.
pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// A fixed-size hex field (seeds, secrets, nonces).
pub(crate) fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(s(v), &mut out).unwrap();
    out
}

/// One case of a `sealed` list: `sealed_message`, `plaintext`, `sender_seed`,
/// `recipient_seed`, `ephemeral_secret`, `nonce`, `envelope`, `now`, `verdict`.
pub(crate) fn check_sealed_case(c: &Value) {
    let name = &c["name"];
    let msg = &c["sealed_message"];
    assert_eq!(
        json::canonical_bytes(msg),
        s(&c["plaintext"]).as_bytes(),
        "{name}"
    );
    let sender = SigningKey::from_bytes(&bytes::<32>(&c["sender_seed"]));
    let fields = msg.as_object().unwrap().clone();
    assert_eq!(&envelope::sign_message(&sender, fields), msg, "{name}");
    let rx_seed = bytes::<32>(&c["recipient_seed"]);
    let rx = SigningKey::from_bytes(&rx_seed);
    let to = Identity::from_bytes(rx.verifying_key().as_bytes()).unwrap();
    let env = envelope::seal_with(msg, &to, bytes(&c["ephemeral_secret"]), bytes(&c["nonce"]));
    assert_eq!(env.unwrap(), c["envelope"], "{name}");
    let now: DateTime<Utc> = s(&c["now"]).parse().unwrap();
    let verdict = envelope::open(&c["envelope"], &rx_seed, now, |_| false)
        .map_or_else(|e| e.code(), |_| "ok");
    assert_eq!(verdict, s(&c["verdict"]), "{name}");
}
