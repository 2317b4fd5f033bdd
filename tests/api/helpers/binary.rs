//! Child processes: the real `kez-chat-server` binary (for signals, crashes
//! and its log) and any other server a test starts (`nats-server`), with
//! stderr collected as they run.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::{Api, SERVER, within};

/// A child process whose stderr is read line by line as it comes (so it
/// never blocks on a full pipe), killed on drop.
pub struct LoggedChild {
    pub child: Child,
    /// Everything written to stderr so far.
    pub log: Arc<Mutex<String>>,
    reader: JoinHandle<()>,
}

impl LoggedChild {
    /// Spawns `cmd` and waits up to `secs` for a stderr line containing
    /// `marker`; returns the child and what follows the marker on that line.
    pub async fn spawn(cmd: &mut Command, marker: &'static str, secs: u64) -> (Self, String) {
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let (found_tx, found_rx) = tokio::sync::oneshot::channel();
        let sink = log.clone();
        let reader = tokio::spawn(async move {
            let mut found_tx = Some(found_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split(marker).nth(1)
                    && let Some(tx) = found_tx.take()
                {
                    let _ = tx.send(rest.trim().to_owned());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let found = within(secs, marker, found_rx)
            .await
            .unwrap_or_else(|_| panic!("{cmd:?} exited before logging {marker:?}"));
        (Self { child, log, reader }, found)
    }

    /// Whether the log so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().contains(text)
    }

    /// Kills the process and returns its whole log, read to the end.
    pub async fn kill(mut self) -> String {
        self.child.kill().await.unwrap();
        within(10, "the end of the child's stderr", &mut self.reader)
            .await
            .unwrap();
        self.log.lock().unwrap().clone()
    }
}

/// The real binary, started as a child process.
pub struct BinaryServer {
    pub process: LoggedChild,
    pub api: Api,
}

impl std::ops::Deref for BinaryServer {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Starts `kez-chat-server` on 127.0.0.1:0 with `db` (and in the PostgreSQL
/// pass `--database-url`, the database that stands for `db`) and waits for
/// its "listening on" line.
pub async fn start_binary(
    db: &std::path::Path,
    rust_log: &str,
    extra_args: &[&str],
) -> BinaryServer {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kez-chat-server"));
    cmd.args([
        "--bind",
        "127.0.0.1:0",
        "--server",
        SERVER,
        "--message-rate-per-minute",
        "1000000",
    ])
    .arg("--db")
    .arg(db)
    .args(extra_args)
    .env_remove("KEZ_CHAT_DATABASE_URL")
    .env("RUST_LOG", rust_log)
    // Its flags come from the test alone, not from the environment it runs in.
    .env_remove("KEZ_CHAT_WORKER_THREADS");
    cmd.args(super::database_args_for(db).await);
    let (process, base) = LoggedChild::spawn(&mut cmd, "listening on ", 30).await;
    BinaryServer {
        process,
        api: Api::new(base),
    }
}
