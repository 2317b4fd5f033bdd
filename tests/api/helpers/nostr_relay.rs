//! A real nostr relay for the listener's tests: PyPI's `nostr-relay` 1.14
//! (gunicorn + uvicorn, SQLite), one per test on 127.0.0.1 with its own
//! database in a temp dir.
//!
//! The binary comes from `NOSTR_RELAY_BIN`, else `.venv-nostr/bin/nostr-relay`
//! here (`scripts/test` installs it). When it is missing the tests print
//! `SKIPPED` and pass, unless `KEZ_REQUIRE_NOSTR=1` (set by `scripts/test`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running relay; killed (SIGKILL to its process group: gunicorn's master
/// and its worker) on drop.
pub struct NostrRelay {
    child: Option<Child>,
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn find_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NOSTR_RELAY_BIN") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-nostr/bin/nostr-relay");
    venv.is_file().then_some(venv)
}

/// The packaged config with our port, database and no control socket
/// (gunicorn's default one is shared by every instance of the user).
fn config(dir: &Path, port: u16) -> String {
    let db = dir.join("relay.sqlite3");
    format!(
        "DEBUG: false\nrelay_name: test relay\nrelay_description: kez-chat tests\n\
         storage:\n  sqlalchemy.url: sqlite+aiosqlite:///{db}\n  num_concurrent_reqs: 10\n  \
         num_concurrent_adds: 2\n  validators:\n    - nostr_relay.validators.is_not_too_large\n    \
         - nostr_relay.validators.is_signed\n    - nostr_relay.validators.is_recent\n\
         verification:\n  nip05_verification: disabled\n  expiration: 86400\n  update_frequency: 3600\n\
         gunicorn:\n  bind: 127.0.0.1:{port}\n  workers: 1\n  loglevel: warning\n  reload: false\n  \
         control_socket_disable: true\n  graceful_timeout: 1\n\
         purple:\n  host: 127.0.0.1\n  port: {port}\n  workers: 1\n  disable_compression: true\n\
         authentication:\n  enabled: false\n\
         message_timeout: 1800\nsubscription_limit: 64\nmax_limit: 6000\nhellthread_limit: 100\n",
        db = db.display()
    )
}

/// A port that was free a moment ago (the relay, like PostgreSQL, cannot
/// bind port 0 itself).
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NostrRelay {
    /// Starts a relay, or returns `None` (after saying so loudly) when it is
    /// not installed and not required.
    pub async fn start() -> Option<Self> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var("KEZ_REQUIRE_NOSTR").as_deref() != Ok("1"),
                "nostr-relay not found and KEZ_REQUIRE_NOSTR=1: install it with \
                 `python3 -m venv .venv-nostr && .venv-nostr/bin/pip install nostr-relay==1.14` \
                 (or run scripts/test), or set NOSTR_RELAY_BIN"
            );
            eprintln!("\n**** SKIPPED: nostr-relay not found (run scripts/test) ****\n");
            return None;
        };
        let mut dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let mut relay = Self {
                child: None,
                bin: bin.clone(),
                dir,
                port: free_port(),
            };
            if relay.launch().await {
                return Some(relay);
            }
            dir = relay.take_dir();
        }
        panic!("nostr-relay did not start after 5 ports");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill_now();
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Spawns the relay on `self.port` and waits until it answers NIP-11
    /// (served by the worker that also takes websockets); `false` if it
    /// exited or did not answer within 40 s (Python starts slowly on a busy machine).
    async fn launch(&mut self) -> bool {
        let conf = self.dir.path().join("config.yaml");
        std::fs::write(&conf, config(self.dir.path(), self.port)).unwrap();
        let log = std::fs::File::create(self.dir.path().join("relay.log")).unwrap();
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(&conf)
            .arg("serve")
            .current_dir(self.dir.path())
            // Its own process group, killed as one (see `kill_now`).
            .process_group(0)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        // Self-contained (the benchmark includes this file too).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let nip11 = format!("http://127.0.0.1:{}/", self.port);
        for _ in 0..400 {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false;
            }
            let res = http
                .get(&nip11)
                .header("accept", "application/nostr+json")
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if res.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// SIGKILLs the relay's process group: the master and its worker in one
    /// signal. Killing the worker first let the still-living master fork a
    /// new worker, orphaned a moment later and holding the port (TODO #60).
    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            let _ = child.start_kill();
        }
    }

    /// Kills the relay (abruptly, connections drop) and waits until its port is free.
    pub async fn kill(&mut self) {
        self.kill_now();
        for _ in 0..100 {
            if std::net::TcpListener::bind(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the relay's port stayed busy");
    }

    /// What the relay wrote to stdout and stderr (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    /// Starts it again on the same port and database.
    pub async fn restart(&mut self) {
        if !self.launch().await {
            panic!("the relay did not restart:\n{}", self.log());
        }
    }
}

impl Drop for NostrRelay {
    fn drop(&mut self) {
        self.kill_now();
    }
}
