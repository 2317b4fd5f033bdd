//! The server under test as a separate process, and what `/proc` says about it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The domain the benchmark's handles live on.
pub(crate) const SERVER: &str = "bench.test";

/// A running `kez-chat-server` child with its own database.
pub(crate) struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its SQLite file.
    pub(crate) db: PathBuf,
    /// `KEZ_BENCH_DATABASE_URL`: an empty PostgreSQL database to run on
    /// instead of SQLite (SPEC §11.2).
    postgres: Option<String>,
    /// Its `/metrics` listener.
    metrics: SocketAddr,
}

/// Raises this process's open-file limit to its hard limit: 10k streams need
/// 10k sockets on the client side too.
pub(crate) fn raise_nofile() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = lim.maximum;
    let _ = setrlimit(Resource::Nofile, lim);
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

impl ServerProcess {
    /// Starts the release binary on a free port with every rate limit and
    /// quota out of the way, and waits (bounded) until it answers.
    pub(crate) async fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let db = dir.join("bench.db");
        let big = u32::MAX.to_string();
        // KEZ_BENCH_SERVER_BIN: another build (say, the one before a change),
        // to compare both in one sitting.
        let bin = std::env::var_os("KEZ_BENCH_SERVER_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_kez-chat-server")),
            PathBuf::from,
        );
        let postgres = std::env::var("KEZ_BENCH_DATABASE_URL").ok();
        let mut command = Command::new(bin);
        if let Some(url) = &postgres {
            command.args(["--database-url", url]);
        }
        let child = command
            .args(["--bind", &addr.to_string(), "--server", SERVER])
            .args(["--metrics-bind", &metrics.to_string()])
            .arg("--db")
            .arg(&db)
            .args([
                "--message-rate-per-minute",
                &big,
                "--silent-rate-per-minute",
                &big,
            ])
            .args(["--register-rate-per-minute", &big])
            .args([
                "--max-connections",
                "30000",
                "--max-connections-per-ip",
                "30000",
            ])
            .args(["--mailbox-max-messages", "1000000000"])
            .args(["--mailbox-max-bytes", "1000000000000"])
            .args(["--min-free-disk-mb", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let server = Self {
            child,
            addr,
            db,
            postgres,
            metrics,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = client
                .get(format!("http://{addr}/v1/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(server);
            }
            anyhow::ensure!(Instant::now() < deadline, "server did not come up in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub(crate) fn rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// The database it runs on, for the report.
    pub(crate) fn database(&self) -> &'static str {
        if self.postgres.is_some() {
            "PostgreSQL (KEZ_BENCH_DATABASE_URL); CPU figures add its processes on this machine"
        } else {
            "SQLite"
        }
    }

    /// User plus system CPU time in microseconds of the server and, on
    /// PostgreSQL, of every `postgres` process on this machine: what storing
    /// costs here either way.
    pub(crate) fn cpu_us(&self) -> u64 {
        let mut cpu = proc_cpu_us(self.pid());
        if self.postgres.is_some() {
            for pid in postgres_pids() {
                cpu += proc_cpu_us(pid);
            }
        }
        cpu
    }

    /// Bytes the database's live pages take: SQLite's `(page_count -
    /// freelist_count) * page_size` (WAL included), or PostgreSQL's
    /// `pg_database_size`.
    pub(crate) async fn db_bytes(&self) -> anyhow::Result<u64> {
        let Some(url) = &self.postgres else {
            return self.sqlite_bytes();
        };
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let task = tokio::spawn(conn);
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?;
        drop(client);
        let _ = task.await;
        Ok(u64::try_from(row.get::<_, i64>(0))?)
    }

    /// The writer's (commits, write jobs) so far, from `/metrics`
    /// (`kez_db_commits_total`, `kez_db_write_jobs_total`): how well group
    /// commit batched.
    pub(crate) async fn writer_counts(&self) -> anyhow::Result<(u64, u64)> {
        let text = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await?
            .text()
            .await?;
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("{name} not in /metrics"))
        };
        Ok((
            value("kez_db_commits_total")?,
            value("kez_db_write_jobs_total")?,
        ))
    }

    /// Open file descriptors (sockets included) of the server.
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// Waits (at most 30 s) until the server holds at most `fds` descriptors,
    /// i.e. has noticed closed streams and dropped them.
    pub(crate) async fn settle_fds(&self, fds: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.open_fds() > fds && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn sqlite_bytes(&self) -> anyhow::Result<u64> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let q = |p: &str| conn.pragma_query_value(None, p, |r| r.get::<_, u64>(0));
        Ok((q("page_count")? - q("freelist_count")?) * q("page_size")?)
    }

    /// Stops the server (killed: it is a benchmark child with a throwaway database).
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for ServerProcess {
    /// Also when the benchmark fails half-way: no server is left running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of `pid` in microseconds (`utime + stime` of
/// `/proc/<pid>/stat`, in clock ticks of 10 ms: Linux's USER_HZ is 100).
fn proc_cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10_000
}

/// Every process of this machine whose command is `postgres`.
fn postgres_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}
