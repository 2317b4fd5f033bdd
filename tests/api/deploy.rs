//! The deploy files (top-level `Dockerfile`, `Dockerfile.runtime`,
//! `docker-compose.fast.yml`, the two ignore files, and `deploy/`) stay in sync
//! with the binary's flags and with each other. `scripts/test` also runs
//! `docker-compose config` and hadolint on them.

use std::path::Path;

use kez_chat_server::nats::callout::keys;

/// Every deploy file, from the repository root.
const DEPLOY_FILES: [&str; 7] = [
    "Dockerfile",
    "Dockerfile.runtime",
    "docker-compose.fast.yml",
    ".dockerignore",
    "Dockerfile.dockerignore",
    "deploy/docker-compose.yml",
    "deploy/docker-compose.postgres.yml",
];

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_variable_the_deploy_files_set_is_a_flag() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_kez-chat-server"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for file in DEPLOY_FILES {
        let text = read(file);
        let names = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("KEZ_CHAT_"));
        for name in names {
            assert!(
                help.contains(&format!("env: {name}=")),
                "{file}: {name} is no flag's variable"
            );
        }
    }
}

/// The runtime part of a Dockerfile: everything after the line that
/// copies the binary in.
fn runtime_settings(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !(l.starts_with("COPY ") && l.ends_with("/usr/local/bin/kez-chat-server")))
        .skip(1)
        .collect()
}

#[test]
fn the_runtime_image_is_set_up_like_the_full_builds() {
    let full = read("Dockerfile");
    let fast = read("Dockerfile.runtime");
    let stage = full.find("FROM debian").expect("a runtime stage");
    let full_runtime = &full[stage..];
    assert!(!runtime_settings(full_runtime).is_empty());
    assert_eq!(runtime_settings(full_runtime), runtime_settings(&fast));
    // The same base and user set-up too.
    let setup = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("FROM ") || l.contains("useradd"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(setup(full_runtime), setup(&fast));
}

#[test]
fn the_full_build_copies_every_workspace_member() {
    let dockerfile = read("Dockerfile");
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("a workspace members line");
    for member in members.split('"').skip(1).step_by(2).filter(|m| *m != ".") {
        let top = member.split('/').next().unwrap();
        assert!(
            dockerfile.contains(&format!("COPY {top}/ {top}/")),
            "Dockerfile does not copy {member}"
        );
    }
}

#[test]
fn the_build_context_leaves_out_outputs_dependencies_and_databases() {
    let ignore = read(".dockerignore");
    for pattern in [
        "target/",
        "node_modules/",
        "*.db",
        "*.db-wal",
        ".git",
        ".venv*/",
    ] {
        assert!(ignore.lines().any(|l| l == pattern), "{pattern}");
    }
    assert!(!ignore.lines().any(|l| l.starts_with("prebuilt")));
}

/// The full build's own ignore file (BuildKit) is `.dockerignore` plus
/// `prebuilt/`, which only `Dockerfile.runtime` copies.
#[test]
fn the_full_build_leaves_out_the_prebuilt_binary() {
    let rules = |file: &str| {
        read(file)
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut want = rules(".dockerignore");
    want.push("prebuilt/".to_owned());
    assert_eq!(rules("Dockerfile.dockerignore"), want);
}

/// The compose stack publishes the port on loopback for a proxy on the
/// host, so it believes that proxy's forwarded header by default (only from
/// the trusted ranges, the compose gateway's included); no obsolete
/// `version:` key.
#[test]
fn the_compose_stack_trusts_the_proxy_on_its_gateway() {
    let compose = read("deploy/docker-compose.yml");
    assert!(compose.contains("${CHAT_SERVER_PUBLISH:-127.0.0.1:6969}:6969"));
    assert!(compose.contains("KEZ_CHAT_TRUST_PROXY: ${KEZ_CHAT_TRUST_PROXY:-true}"));
    let trusted = compose
        .lines()
        .find_map(|l| l.trim().strip_prefix("KEZ_CHAT_TRUSTED_PROXIES: "))
        .expect("a trusted proxies default");
    assert!(trusted.contains("172.16.0.0/12"), "{trusted}");
    assert!(!compose.lines().any(|l| l.starts_with("version:")));
}

/// deploy/nats.conf passes `nats-server -t` with the secrets the generator
/// writes next to it and the issuer compose passes, and refuses to start
/// without either (never an empty callout password); it names the callout's
/// parts as the server's defaults do (`--nats-callout-user auth`,
/// `--nats-callout-account APP`, `--nats-callout-identity-account IDENTITIES`).
#[test]
fn the_deploy_nats_config_is_valid_only_with_its_secrets() {
    let Some(bin) = crate::nats::nats_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nats.conf");
    std::fs::write(&conf, read("deploy/nats.conf")).unwrap();
    let check = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(&bin)
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .env_remove("NATS_CALLOUT_PASSWORD")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let other_issuer = nkeys::KeyPair::new_account().public_key();
    // Without the generated include, even with a password in the environment.
    let (ok, _) = check(&[
        ("NATS_CALLOUT_ISSUER", &other_issuer),
        ("NATS_CALLOUT_PASSWORD", ""),
    ]);
    assert!(!ok, "a config without the secrets file must not start");
    let issuer = keys::generate(&dir.path().join("secrets")).unwrap();
    let (ok, log) = check(&[("NATS_CALLOUT_ISSUER", &issuer)]);
    assert!(ok, "{log}");
    let (ok, _) = check(&[]);
    assert!(!ok, "a config without the issuer must not start");
    let text = read("deploy/nats.conf");
    let defaults = kez_chat_server::config::Config::defaults().nats_auth;
    assert!(text.contains(&format!("auth_users: [ {} ]", defaults.nats_callout_user)));
    for account in [
        defaults.nats_callout_account,
        defaults.nats_callout_identity_account,
    ] {
        assert!(text.contains(&format!("  {account} {{")), "{account}");
    }
}

/// The nonce-forcing nkey user is made per deployment (no key in the repo)
/// and sits in an account of its own that may do nothing.
#[test]
fn the_nonce_user_is_per_deployment_and_powerless() {
    let text = read("deploy/nats.conf");
    let nonce = text
        .split("NONCE {")
        .nth(1)
        .expect("a NONCE account")
        .split("\n  }")
        .next()
        .unwrap();
    assert!(nonce.contains("nkey: $NATS_NONCE_USER"), "{nonce}");
    assert!(nonce.contains("publish: { deny: \">\" }, subscribe: { deny: \">\" }"));
    let auth = text
        .split("AUTH {")
        .nth(1)
        .unwrap()
        .split("\n  }")
        .next()
        .unwrap();
    assert!(
        !auth.contains("nkey"),
        "AUTH holds only the callout user: {auth}"
    );
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    keys::generate(a.path()).unwrap();
    keys::generate(b.path()).unwrap();
    let include = |d: &tempfile::TempDir| {
        std::fs::read_to_string(d.path().join(keys::NATS_INCLUDE_FILE)).unwrap()
    };
    assert_ne!(include(&a), include(&b));
    assert!(keys::generate(a.path()).is_err(), "never overwrites");
}

/// The compose stack refuses to start without the issuer, and passes no
/// callout password through the environment (SPEC §11.1); it runs the
/// nats-server line the callout is tested against.
#[test]
fn the_compose_stack_fails_closed_without_the_callout_secrets() {
    let compose = read("deploy/docker-compose.yml");
    assert!(compose.contains("NATS_CALLOUT_ISSUER: ${NATS_CALLOUT_ISSUER:?"));
    assert!(
        !compose
            .lines()
            .any(|l| l.trim().starts_with("NATS_CALLOUT_PASSWORD")
                || l.contains("${NATS_CALLOUT_PASSWORD")),
        "no password in the environment"
    );
    assert!(compose.contains("./secrets/nats-callout.conf:/etc/nats/secrets/nats-callout.conf:ro"));
    assert!(compose.contains("image: nats:2.15-alpine"));
    // An empty env file: an operator's deploy/.env must not make it pass.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let Ok(out) = std::process::Command::new("docker-compose")
        .arg("--env-file")
        .arg(empty.path())
        .args(["-f", "deploy/docker-compose.yml", "config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NATS_CALLOUT_ISSUER")
        .output()
    else {
        eprintln!("docker-compose not found: only the text was checked");
        return;
    };
    assert!(!out.status.success(), "compose started without the issuer");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gen-nats-callout-keys"), "{err}");
}

/// The PostgreSQL stack (SPEC §11.2) passes the password as a file, never
/// in the environment or the URL, and keeps the database off the host's ports.
#[test]
fn the_postgres_stack_keeps_its_password_in_a_secret_file() {
    let compose = read("deploy/docker-compose.postgres.yml");
    assert!(compose.contains("KEZ_CHAT_DATABASE_PASSWORD_FILE: /run/secrets/postgres_password"));
    assert!(compose.contains("POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password"));
    assert!(!compose.contains("POSTGRES_PASSWORD:"));
    let url = compose
        .lines()
        .find(|l| l.contains("KEZ_CHAT_DATABASE_URL:"))
        .expect("the database URL");
    assert!(url.contains("postgres://kez@postgres:5432/kez"), "{url}");
    assert!(
        !compose.contains("ports:"),
        "PostgreSQL must not be published"
    );
}
