//! `TestIdentity`: a keypair that signs registrations and auth strings the
//! way a client does.

use ed25519_dalek::{Signer, SigningKey};
use kez_chat_server::kez::{auth, json};
use serde_json::{Value, json};

use super::SERVER;

/// Now, as the unix seconds auth strings carry.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A keypair acting as a user.
pub struct TestIdentity {
    pub sk: SigningKey,
}

impl TestIdentity {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        Self {
            sk: SigningKey::from_bytes(&seed),
        }
    }

    pub fn primary(&self) -> String {
        format!(
            "ed25519:{}",
            hex::encode(self.sk.verifying_key().as_bytes())
        )
    }

    pub fn sign_hex(&self, msg: &[u8]) -> String {
        hex::encode(self.sk.sign(msg).to_bytes())
    }

    /// An `X-KEZ-Auth` value, `<ts>:<sig>`, over a signed `string`.
    pub fn auth(&self, string: &str, ts: i64) -> String {
        format!("{ts}:{}", self.sign_hex(string.as_bytes()))
    }

    pub fn registration_payload(&self, handle: &str, server: &str) -> Value {
        json!({"type": "kez.chat.handle_registration", "version": 1, "handle": handle,
               "primary": self.primary(), "server": server,
               "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
    }

    /// A registration envelope signed over `payload` as given.
    pub fn sign_envelope(&self, payload: Value) -> Value {
        let sig = self.sign_hex(&json::canonical_bytes(&payload));
        json!({"kez": "handle_registration", "payload": payload,
               "signature": {"alg": "ed25519-sha512-jcs", "key": self.primary(), "sig": sig}})
    }

    pub fn registration(&self, handle: &str, server: &str) -> Value {
        self.sign_envelope(self.registration_payload(handle, server))
    }

    /// Poll credential for the test server ([`SERVER`]) at `ts`.
    pub fn poll_auth_at(&self, handle: &str, since: u64, ts: i64) -> String {
        self.auth(&auth::poll_string(SERVER, handle, since, ts), ts)
    }

    pub fn poll_auth(&self, handle: &str, since: u64) -> String {
        self.poll_auth_at(handle, since, now())
    }

    /// Stream credential for the test server ([`SERVER`]) at `ts`.
    pub fn stream_auth_at(&self, handle: &str, ts: i64) -> String {
        self.auth(&auth::stream_string(SERVER, handle, ts), ts)
    }

    pub fn stream_auth(&self, handle: &str) -> String {
        self.stream_auth_at(handle, now())
    }
}
