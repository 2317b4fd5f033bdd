//! Writes fresh secrets for the NATS auth callout (SPEC §11 "Auth callout",
//! deploy/nats.conf) into a directory, each file readable by its owner only:
//!
//! - `nats-callout-issuer.seed`: the issuer account seed (`SA…`), for
//!   `--nats-callout-issuer-seed-file`; its public key (`A…`) is printed,
//!   for `auth_callout.issuer` (`NATS_CALLOUT_ISSUER`);
//! - `nats-callout.password`: the callout user's password, for
//!   `--nats-callout-password-file` and nats.conf (`NATS_CALLOUT_PASSWORD`);
//! - `nats-instance.token`: the instance token, for `--nats-instance-token-file`.
//!
//! `cargo run --example gen-nats-callout-keys -- deploy/secrets`

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: gen-nats-callout-keys <directory>"))?;
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let issuer = nkeys::KeyPair::new_account();
    let seed = issuer
        .seed()
        .map_err(|e| anyhow::anyhow!("cannot encode the seed: {e}"))?;
    write_new(&dir.join("nats-callout-issuer.seed"), &seed)?;
    write_new(&dir.join("nats-callout.password"), &random_hex())?;
    write_new(&dir.join("nats-instance.token"), &random_hex())?;
    println!("NATS_CALLOUT_ISSUER={}", issuer.public_key());
    println!(
        "NATS_CALLOUT_PASSWORD is in {}",
        dir.join("nats-callout.password").display()
    );
    Ok(())
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random number generator is unavailable");
    hex::encode(b)
}

/// Creates `path` (never overwriting one) with mode 0600 and writes `text`.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}
