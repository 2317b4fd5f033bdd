//! The NATS auth callout's flags (SPEC §11 "Auth callout"), flattened into
//! [`Config`](super::Config). Secrets are read from files, never passed on
//! the command line or logged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

/// Largest secret file read (bytes): a seed, password or token is far smaller.
const MAX_SECRET_BYTES: u64 = 4096;

/// Flags of the auth callout and of the instance token.
#[derive(Debug, Clone, Args)]
pub struct NatsAuthConfig {
    /// Answer nats-server's auth callout (`$SYS.REQ.USER.AUTH`, needs --nats-url):
    /// file holding the account nkey seed (`SA…`) whose public key is
    /// `auth_callout.issuer` in nats.conf. Unset = no callout.
    #[arg(
        long,
        env = "KEZ_CHAT_NATS_CALLOUT_ISSUER_SEED_FILE",
        value_name = "FILE"
    )]
    pub nats_callout_issuer_seed_file: Option<PathBuf>,

    /// The `auth_users` member the callout service connects to NATS as.
    #[arg(long, env = "KEZ_CHAT_NATS_CALLOUT_USER", default_value = "auth")]
    pub nats_callout_user: String,

    /// File holding the password of --nats-callout-user.
    #[arg(long, env = "KEZ_CHAT_NATS_CALLOUT_PASSWORD_FILE", value_name = "FILE")]
    pub nats_callout_password_file: Option<PathBuf>,

    /// The NATS account admitted instances are placed in.
    #[arg(long, env = "KEZ_CHAT_NATS_CALLOUT_ACCOUNT", default_value = "APP")]
    pub nats_callout_account: String,

    /// Also admit identities (a registered KEZ key as a user nkey, subscribe
    /// to its own inbox subject only). Off: no client uses it yet, and
    /// registration is open to anyone.
    #[arg(long, env = "KEZ_CHAT_NATS_CALLOUT_IDENTITIES")]
    pub nats_callout_identities: bool,

    /// The NATS account admitted identities are placed in (their own, with
    /// a connection cap, importing the inbox subjects from the instances').
    #[arg(
        long,
        env = "KEZ_CHAT_NATS_CALLOUT_IDENTITY_ACCOUNT",
        default_value = "IDENTITIES"
    )]
    pub nats_callout_identity_account: String,

    /// Seconds a user JWT the callout issues is valid; nats-server closes the
    /// connection then, and the client's reconnect is authorized afresh. 60..=86400.
    #[arg(long, env = "KEZ_CHAT_NATS_CALLOUT_USER_TTL_SECS", default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub nats_callout_user_ttl_secs: u64,

    /// File holding the token every instance of this deployment shares: this
    /// server's fan-out connection sends it (CONNECT `auth_token`), and the
    /// callout admits its bearer as an instance.
    #[arg(long, env = "KEZ_CHAT_NATS_INSTANCE_TOKEN_FILE", value_name = "FILE")]
    pub nats_instance_token_file: Option<PathBuf>,
}

/// The callout's settings with its secrets loaded.
pub struct CalloutSecrets {
    /// The issuer account seed.
    pub issuer_seed: String,
    /// The password of the callout user.
    pub password: String,
    /// The instance token.
    pub instance_token: String,
}

impl NatsAuthConfig {
    /// The instance token, if a file is set. Errors: unreadable or empty file.
    pub fn instance_token(&self) -> anyhow::Result<Option<String>> {
        self.nats_instance_token_file
            .as_deref()
            .map(|p| read_secret(p, "--nats-instance-token-file"))
            .transpose()
    }

    /// The callout's secrets when it is turned on, `None` when off. Errors:
    /// a missing companion flag, an unreadable or empty file.
    pub fn callout_secrets(
        &self,
        nats_url: Option<&str>,
    ) -> anyhow::Result<Option<CalloutSecrets>> {
        let Some(seed) = &self.nats_callout_issuer_seed_file else {
            return Ok(None);
        };
        anyhow::ensure!(
            nats_url.is_some(),
            "--nats-callout-issuer-seed-file needs --nats-url"
        );
        let password = self
            .nats_callout_password_file
            .as_deref()
            .context("--nats-callout-issuer-seed-file needs --nats-callout-password-file")?;
        let token = self
            .instance_token()?
            .context("--nats-callout-issuer-seed-file needs --nats-instance-token-file")?;
        Ok(Some(CalloutSecrets {
            issuer_seed: read_secret(seed, "--nats-callout-issuer-seed-file")?,
            password: read_secret(password, "--nats-callout-password-file")?,
            instance_token: token,
        }))
    }
}

impl NatsAuthConfig {
    /// Flags set that have no effect with this configuration (with what
    /// they need), for a warning at startup: an operator may think the
    /// callout is on.
    pub fn ignored_flags(&self, nats_url: Option<&str>) -> Vec<&'static str> {
        let callout = self.nats_callout_issuer_seed_file.is_some();
        let mut ignored = Vec::new();
        if !callout && self.nats_callout_password_file.is_some() {
            ignored.push("--nats-callout-password-file (needs --nats-callout-issuer-seed-file)");
        }
        if !callout && self.nats_callout_identities {
            ignored.push("--nats-callout-identities (needs --nats-callout-issuer-seed-file)");
        }
        if nats_url.is_none() && self.nats_instance_token_file.is_some() {
            ignored.push("--nats-instance-token-file (needs --nats-url)");
        }
        ignored
    }
}

/// A secret file's content without surrounding whitespace. The error names
/// the flag and file, never the content.
pub(super) fn read_secret(path: &Path, flag: &str) -> anyhow::Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_SECRET_BYTES,
        "{flag}: {} is too large for a secret",
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    let secret = text.trim();
    anyhow::ensure!(!secret.is_empty(), "{flag}: {} is empty", path.display());
    Ok(secret.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn config(args: &[&str]) -> NatsAuthConfig {
        let mut all = vec!["kez-chat-server"];
        all.extend_from_slice(args);
        super::super::Config::parse_from(all).nats_auth
    }

    #[test]
    fn the_callout_needs_its_companions_and_readable_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let (seed, pw, token) = (
            file("s", "SAseed\n"),
            file("p", " pw \n"),
            file("t", "s3cr3t"),
        );
        let empty = file("e", " \n");
        let url = Some("nats://127.0.0.1:4222");
        assert!(config(&[]).callout_secrets(url).unwrap().is_none());
        let seed_only = config(&["--nats-callout-issuer-seed-file", &seed]);
        assert!(seed_only.callout_secrets(url).is_err());
        let full = [
            "--nats-callout-issuer-seed-file",
            &seed,
            "--nats-callout-password-file",
            &pw,
            "--nats-instance-token-file",
            &token,
        ];
        assert!(
            config(&full).callout_secrets(None).is_err(),
            "needs --nats-url"
        );
        let s = config(&full).callout_secrets(url).unwrap().unwrap();
        assert_eq!(
            (s.issuer_seed.as_str(), s.password.as_str()),
            ("SAseed", "pw")
        );
        assert_eq!(s.instance_token, "s3cr3t");
        let with_empty = ["--nats-instance-token-file", &empty];
        let e = config(&with_empty)
            .instance_token()
            .unwrap_err()
            .to_string();
        assert!(e.contains("is empty") && !e.contains("s3cr3t"), "{e}");
        let missing = ["--nats-instance-token-file", "/nonexistent/token"];
        assert!(config(&missing).instance_token().is_err());
    }

    #[test]
    fn flags_without_their_companions_are_reported() {
        let lone = config(&[
            "--nats-callout-password-file",
            "/p",
            "--nats-callout-identities",
            "--nats-instance-token-file",
            "/t",
        ]);
        assert_eq!(lone.ignored_flags(None).len(), 3);
        assert_eq!(lone.ignored_flags(Some("nats://x")).len(), 2);
        assert!(config(&[]).ignored_flags(None).is_empty());
        assert!(
            !config(&[]).nats_callout_identities,
            "identities default off"
        );
    }
}
