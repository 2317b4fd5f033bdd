//! A real PostgreSQL for the tests: one cluster per test process, started on
//! first use in a temp dir, on 127.0.0.1 and a free port only, with
//! `fsync=on` (durability is what the tests check) and trust auth for
//! 127.0.0.1 (test only; the role [`PASSWORD_ROLE`] alone must give its
//! password), TLS on with a certificate from a CA of its own
//! ([`ca_file`]). Every [`fresh_database_url`] is a new database in it,
//! reached over TLS (`sslmode=require`), so the whole PostgreSQL pass checks
//! the server's TLS too.
//!
//! The binaries come from `KEZ_POSTGRES_BIN_DIR`, else the highest
//! `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql`, which
//! `scripts/test` installs). When they are missing the tests print `SKIPPED`
//! and pass, unless `KEZ_REQUIRE_POSTGRES=1` (set by `scripts/test`).
//!
//! PostgreSQL refuses to run as root: as root, the cluster belongs to the
//! `postgres` OS user and its processes run as that user (`setpriv`).
//!
//! The cluster dies with the test process: cargo ends the process without
//! dropping statics, so a watchdog shell (its own process group, so a ^C
//! to the tests reaches it only through the test process's end) polls the
//! test process every 0.5 s, then stops postgres (SIGQUIT: immediate
//! shutdown) and removes the directory.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The running cluster: where to reach it, and its watchdog (never waited
/// for: it outlives the test process and stops the cluster then).
struct Cluster {
    port: u16,
    /// The CA that signed the cluster's certificate (for 127.0.0.1).
    ca: PathBuf,
    _watchdog: std::process::Child,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(1);

/// Runs postgres, waits for the test process (`$1`) to end, then stops it
/// and removes the directory (`$2`). The rest of the arguments are the
/// postgres command line. A postgres that stops on its own while the tests
/// run (one that failed to start) leaves its directory for the log to be read.
const WATCHDOG: &str = r#"
t=$1; dir=$2; shift 2
"$@" >"$dir/postgres.log" 2>&1 &
pg=$!
while kill -0 "$t" 2>/dev/null && kill -0 "$pg" 2>/dev/null; do sleep 0.5; done
kill -QUIT "$pg" 2>/dev/null
wait "$pg"
kill -0 "$t" 2>/dev/null || rm -rf "$dir"
"#;

/// A new, empty database in the test cluster (`CREATE DATABASE kez_<n>`),
/// as `postgres://postgres@127.0.0.1:<port>/kez_<n>`; `None` (after saying
/// so loudly) when PostgreSQL is not installed and not required.
pub async fn fresh_database_url() -> Option<String> {
    let (port, name) = new_database("postgres").await?;
    Some(format!(
        "postgres://postgres@127.0.0.1:{port}/{name}?sslmode=require"
    ))
}

/// The role whose logins need its password ([`PASSWORD`], scram-sha-256).
pub const PASSWORD_ROLE: &str = "kez_pw";
/// [`PASSWORD_ROLE`]'s password.
pub const PASSWORD: &str = "kez-test-password";

/// A new database owned by [`PASSWORD_ROLE`], as a URL without the
/// password (TLS required).
pub async fn password_database_url() -> Option<String> {
    let (port, name) = new_database(PASSWORD_ROLE).await?;
    Some(format!(
        "postgres://{PASSWORD_ROLE}@127.0.0.1:{port}/{name}?sslmode=require"
    ))
}

/// The CA file that verifies the cluster's certificate (after the cluster
/// started; `None` without PostgreSQL).
pub fn ca_file() -> Option<PathBuf> {
    CLUSTER.get()?.as_ref().map(|c| c.ca.clone())
}

/// A superuser connection to database `name` of the cluster (plain TCP).
pub async fn admin(name: &str) -> tokio_postgres::Client {
    let port = CLUSTER
        .get()
        .and_then(Option::as_ref)
        .expect("the test PostgreSQL runs")
        .port;
    let admin = format!("host=127.0.0.1 port={port} user=postgres dbname={name}");
    let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL: {e}"));
    tokio::spawn(conn);
    client
}

/// Creates `kez_<n>` owned by `owner`; its port and name.
async fn new_database(owner: &str) -> Option<(u16, String)> {
    let port = tokio::task::spawn_blocking(|| CLUSTER.get_or_init(start).as_ref().map(|c| c.port))
        .await
        .unwrap()?;
    // The cluster is this process's alone: a counter makes names unique.
    let name = format!("kez_{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
    admin("postgres")
        .await
        .batch_execute(&format!("CREATE DATABASE {name} OWNER {owner}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    Some((port, name))
}

/// Whether PostgreSQL is there to be used; says why not (or panics when it
/// is required).
fn bin_dir_or_skip() -> Option<PathBuf> {
    let found = find_bin_dir();
    let missing = match &found {
        Ok(_) if running_as_root() && !user_exists("postgres") => Some(
            "running as root and there is no `postgres` OS user to run PostgreSQL as".to_owned(),
        ),
        Ok(_) => None,
        Err(why) => Some(why.clone()),
    };
    if let Some(why) = missing {
        assert!(
            std::env::var("KEZ_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "PostgreSQL missing and KEZ_REQUIRE_POSTGRES=1: {why}; install Debian's \
             `postgresql` (or run scripts/test), or set KEZ_POSTGRES_BIN_DIR"
        );
        eprintln!("\n**** SKIPPED (no PostgreSQL): {why} ****\n");
        return None;
    }
    found.ok()
}

/// `KEZ_POSTGRES_BIN_DIR`, else the highest `/usr/lib/postgresql/*/bin`
/// holding `initdb` and `postgres`.
fn find_bin_dir() -> Result<PathBuf, String> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(d) = std::env::var_os("KEZ_POSTGRES_BIN_DIR") {
        let d = PathBuf::from(d);
        return if has_both(&d) {
            Ok(d)
        } else {
            Err(format!(
                "KEZ_POSTGRES_BIN_DIR={} has no initdb and postgres",
                d.display()
            ))
        };
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no /usr/lib/postgresql/*/bin/postgres ({e})"))?;
    versions
        .filter_map(|e| {
            let e = e.ok()?;
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no /usr/lib/postgresql/*/bin with initdb and postgres".to_owned())
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `program`, as the `postgres` OS user when we are root, in `dir`.
fn command_as_owner(program: &Path, dir: &Path) -> Command {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    };
    // The postgres user may not be able to enter the tests' directory.
    cmd.current_dir(dir);
    cmd
}

/// Starts the cluster (a few ports are tried: another process may take a
/// free port before postgres binds it).
fn start() -> Option<Cluster> {
    let bin = bin_dir_or_skip()?;
    let mut last_log = String::new();
    for _ in 0..3 {
        match try_start(&bin) {
            Ok(c) => return Some(c),
            Err(log) => last_log = log,
        }
    }
    panic!("the test PostgreSQL did not start on 3 ports; its last log:\n{last_log}");
}

/// initdb in a new temp dir, then postgres under the watchdog; waits until
/// it accepts connections. `Err(log)` if postgres stopped before that.
fn try_start(bin: &Path) -> Result<Cluster, String> {
    // Kept: the watchdog removes it once the test process is gone.
    let dir = tempfile::Builder::new()
        .prefix("kez-pg-")
        .tempdir()
        .unwrap()
        .keep();
    if running_as_root() {
        let s = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(s.success(), "chown postgres {}", dir.display());
    }
    let data = dir.join("data");
    let out = command_as_owner(&bin.join("initdb"), &dir)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}/initdb: {e}", bin.display()));
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the socket in `dir` and 127.0.0.1, without a password (test
    // only), but for the role that tests passwords.
    let hba = data.join("pg_hba.conf");
    std::fs::write(
        &hba,
        format!(
            "local all all trust\nhost all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n\
             host all all 127.0.0.1/32 trust\n"
        ),
    )
    .unwrap();
    let ca = super::pg_certs::make_certificates(&dir, &data);
    if running_as_root() {
        let s = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&hba)
            .arg(data.join("server.crt"))
            .arg(data.join("server.key"))
            .status()
            .unwrap();
        assert!(s.success());
    }

    let port = super::nostr_relay::free_port();
    let mut watchdog = Command::new("sh");
    watchdog
        .arg("-c")
        .arg(WATCHDOG)
        .arg("kez-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(&dir);
    // The postgres command line, as the owner of the cluster.
    let pg = command_as_owner(&bin.join("postgres"), &dir);
    watchdog.arg(pg.get_program()).args(pg.get_args());
    watchdog
        .arg("-D")
        .arg(&data)
        .arg("-p")
        .arg(port.to_string())
        .arg("-k")
        .arg(&dir);
    for setting in [
        "listen_addresses=127.0.0.1",
        "fsync=on",
        "max_connections=400",
        "ssl=on",
        "password_encryption=scram-sha-256",
    ] {
        watchdog.args(["-c", setting]);
    }
    let mut child = watchdog
        .current_dir(&dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");

    let log_path = dir.join("postgres.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("database system is ready to accept connections") {
            add_password_role(port);
            return Ok(Cluster {
                port,
                ca,
                _watchdog: child,
            });
        }
        let exited = child.try_wait().unwrap().is_some();
        if exited || Instant::now() > deadline {
            // The watchdog's group: sh, setpriv's postgres and its children.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(log);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Creates [`PASSWORD_ROLE`] once the cluster accepts connections.
fn add_password_role(port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'"
            ))
            .await
            .unwrap();
    });
}
