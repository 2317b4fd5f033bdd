//! Writes fresh secrets for the NATS auth callout (SPEC §11.1,
//! deploy/nats.conf) into a directory, each file readable by its owner only
//! (`kez_chat_server::nats::callout::keys`):
//!
//! - `nats-callout-issuer.seed`: the issuer account seed (`SA…`), for
//!   `--nats-callout-issuer-seed-file`; its public key (`A…`) is printed,
//!   for `auth_callout.issuer` (`NATS_CALLOUT_ISSUER` in deploy/.env);
//! - `nats-callout.password`: the callout user's password, for
//!   `--nats-callout-password-file`;
//! - `nats-instance.token`: the instance token, for `--nats-instance-token-file`;
//! - `nats-callout.conf`: nats-server's include (the same password and a
//!   nonce-forcing user nkey whose seed is thrown away).
//!
//! Nothing is written when any of them exists.
//!
//! `cargo run --example gen-nats-callout-keys -- deploy/secrets`
//! `cargo run --example gen-nats-callout-keys -- --print-issuer deploy/secrets/nats-callout-issuer.seed`

use std::path::Path;

use kez_chat_server::nats::callout::keys;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let issuer = match args.as_slice() {
        [flag, seed] if flag == "--print-issuer" => keys::issuer_of(Path::new(seed))?,
        [dir] if !dir.starts_with('-') => {
            let issuer = keys::generate(Path::new(dir))?;
            // Stdout is the line for deploy/.env; the advice goes to stderr.
            eprintln!("the chat-server (uid 10001) and the nats container must read them:");
            eprintln!("  sudo chown -R 10001 {dir}");
            issuer
        }
        _ => anyhow::bail!("usage: gen-nats-callout-keys <directory> | --print-issuer <seed file>"),
    };
    println!("NATS_CALLOUT_ISSUER={issuer}");
    Ok(())
}
