//! Command-line flags and environment variables: the whole configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

mod database;
mod nats_auth;
mod proofs;
mod proxy;
mod runtime;
mod urls;
pub use database::{DatabaseUrl, PgOptions};
pub use nats_auth::{CalloutSecrets, NatsAuthConfig};
pub use proofs::ProofConfig;
pub use proxy::{ClientIpHeader, TrustedProxies};
pub use runtime::{RuntimeConfig, default_workers};
pub use urls::{RelayList, parse_base_url, parse_relays};

/// The browsers' push services (`--push-hosts` default): Chrome/Edge-on-Android/
/// Opera/Brave (FCM), Firefox (autopush), Safari (Apple), Edge on Windows (WNS).
pub const DEFAULT_PUSH_HOSTS: &str =
    "fcm.googleapis.com,*.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com";

/// Home server for kez-chat: handle registry, WebFinger, end-to-end-encrypted
/// message relay with live streams, and the web client.
#[derive(Debug, Clone, Parser)]
#[command(name = "kez-chat-server", version, about)]
pub struct Config {
    /// Address to listen on (use port 0 to pick a free port).
    #[arg(long, env = "KEZ_CHAT_BIND", default_value = "0.0.0.0:6969")]
    pub bind: SocketAddr,

    /// SQLite database file; created if missing.
    #[arg(long, env = "KEZ_CHAT_DB", default_value = "kez-chat.db")]
    pub db: PathBuf,

    /// PostgreSQL instead of SQLite, so instances on several machines share
    /// one database (SPEC §11.2): a URL (`postgres://user@host/db`) or
    /// `key=value` string as libpq takes it; TLS as its `sslmode` says (see
    /// --database-ca-file). Unset: SQLite at --db.
    #[arg(long, env = "KEZ_CHAT_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<DatabaseUrl>,

    /// PEM file of the certificate authorities that sign PostgreSQL's certificate (with
    /// --database-url and TLS); unset: the system's roots. TLS follows `sslmode` in the URL:
    /// `prefer` (the default: TLS when the server offers it), `require`, or `disable`; with TLS
    /// the certificate and the host name are always checked.
    #[arg(long, env = "KEZ_CHAT_DATABASE_CA_FILE", value_name = "FILE")]
    pub database_ca_file: Option<PathBuf>,

    /// File with PostgreSQL's password (with --database-url), so it need not be in the URL
    /// (where the environment and process list would show it); a password in the URL is
    /// replaced by this one.
    #[arg(long, env = "KEZ_CHAT_DATABASE_PASSWORD_FILE", value_name = "FILE")]
    pub database_password_file: Option<PathBuf>,

    /// Most connections this instance keeps to PostgreSQL (with --database-url).
    #[arg(long, env = "KEZ_CHAT_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: usize,

    /// The ring of keys that tag senders for the per-sender share (SPEC §7.5), kept outside the
    /// database so a copy of it does not give senders' addresses back: a small JSON file
    /// (mode 0600), created if missing. Default: the --db path with `.sender-keys` appended.
    /// Instances sharing one SQLite file must share this file too; instances on several
    /// machines (--database-url) keep one each (SPEC §11.2).
    #[arg(long, env = "KEZ_CHAT_SENDER_KEY_FILE", value_name = "FILE")]
    pub sender_key_file: Option<PathBuf>,

    /// Tests only: days added to the clock of the sender key ring (which epoch is "today").
    #[arg(
        long,
        env = "KEZ_CHAT_SENDER_KEY_DAY_OFFSET",
        default_value_t = 0,
        allow_negative_numbers = true,
        hide = true
    )]
    pub sender_key_day_offset: i64,

    /// This server's domain: the part after `@` in `handle@server`.
    #[arg(long, env = "KEZ_CHAT_SERVER", default_value = "kez.lat")]
    pub server: String,

    /// Base URL (http or https) of an external sigchain service, used to
    /// build `sigchain_url` (SPEC §5). Set, this server's own sigchain
    /// endpoints answer 404 (the chains live there), so never give it this
    /// server's own address. Unset: this server serves the chains itself
    /// (SPEC §15), at `https://<--server>/v1/sigchains/ed25519/<hex>`, which
    /// assumes it is reached over https at that name (behind a TLS proxy).
    #[arg(long, env = "KEZ_CHAT_SIG_SERVER_URL", value_parser = parse_base_url)]
    pub sig_server_url: Option<String>,

    /// Serve the web client from this directory instead of the built-in one.
    #[arg(long, env = "KEZ_CHAT_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Seconds a client may take to send its request headers (slowloris guard).
    #[arg(long, env = "KEZ_CHAT_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a response may go without the client reading any of it before the connection
    /// is closed (a stalled SSE reader loses its stream and what was buffered for it).
    #[arg(long, env = "KEZ_CHAT_WRITE_TIMEOUT_SECS", default_value_t = 30)]
    pub write_timeout_secs: u64,

    /// Seconds a non-streaming request may take before it gets 408.
    #[arg(long, env = "KEZ_CHAT_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Maximum simultaneous TCP connections; further clients wait in the backlog.
    #[arg(long, env = "KEZ_CHAT_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Most simultaneous TCP connections from one client IP, IPv6 counted
    /// per /64 (a trusted proxy, see --trusted-proxies, is exempt: all its
    /// connections carry other clients).
    #[arg(long, env = "KEZ_CHAT_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Message posts allowed per client IP per minute (also the burst size). 240: people behind
    /// one NAT (a household, an office, a carrier's CGNAT) share an address, and one of them
    /// typing fast sends about one a second; mailboxes are protected by their quotas and the
    /// per-sender share (SPEC §7.5), not by this limit.
    #[arg(long, env = "KEZ_CHAT_MESSAGE_RATE_PER_MINUTE", default_value_t = 240)]
    pub message_rate_per_minute: u32,

    /// Silent message posts (`POST /v1/messages?notify=false`: receipts, attachment chunks)
    /// allowed per client IP per minute (also the burst size): their own bucket, so reading a
    /// chat or receiving a file never uses up the texts' (SPEC §7.5).
    #[arg(long, env = "KEZ_CHAT_SILENT_RATE_PER_MINUTE", default_value_t = 240)]
    pub silent_rate_per_minute: u32,

    /// Ephemeral posts (`POST /v1/messages?ephemeral=true`: typing indicators, read receipts,
    /// never stored) allowed per client IP per minute (also the burst size): their own bucket
    /// (SPEC §7.5, §7.7). 600: a typing ping every ~3 s from every tab behind one address.
    #[arg(
        long,
        env = "KEZ_CHAT_EPHEMERAL_RATE_PER_MINUTE",
        default_value_t = 600
    )]
    pub ephemeral_rate_per_minute: u32,

    /// Registrations allowed per client IP per minute (also the burst size).
    #[arg(long, env = "KEZ_CHAT_REGISTER_RATE_PER_MINUTE", default_value_t = 5)]
    pub register_rate_per_minute: u32,

    /// Push subscription changes allowed per client IP per minute (also the burst size).
    #[arg(long, env = "KEZ_CHAT_PUSH_RATE_PER_MINUTE", default_value_t = 30)]
    pub push_rate_per_minute: u32,

    /// Profile updates (`PUT /v1/profile`) allowed per client IP per minute (also the burst size).
    #[arg(long, env = "KEZ_CHAT_PROFILE_RATE_PER_MINUTE", default_value_t = 10)]
    pub profile_rate_per_minute: u32,

    /// Sigchain appends (`POST /v1/sigchains/ed25519/{hex}`, SPEC §15) allowed per client IP per
    /// minute (also the burst size).
    #[arg(long, env = "KEZ_CHAT_SIGCHAIN_RATE_PER_MINUTE", default_value_t = 30)]
    pub sigchain_rate_per_minute: u32,

    /// Take the client IP from the proxy's header (see --client-ip-header; only behind a proxy you
    /// run), for connections from --trusted-proxies only.
    #[arg(long, env = "KEZ_CHAT_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// With --trust-proxy, the TCP peers whose forwarded header is believed: comma-separated
    /// CIDRs or addresses. Any other peer's own address is its client IP, whatever it sends.
    #[arg(
        long,
        env = "KEZ_CHAT_TRUSTED_PROXIES",
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub trusted_proxies: TrustedProxies,

    /// With --trust-proxy, the one header carrying the client IP: the last hop of
    /// X-Forwarded-For (nginx, Caddy), or CF-Connecting-IP behind Cloudflare. Only that
    /// header is read, so a client can't pick another one its proxy passes through.
    #[arg(long, env = "KEZ_CHAT_CLIENT_IP_HEADER", value_enum, default_value_t = ClientIpHeader::XForwardedFor)]
    pub client_ip_header: ClientIpHeader,

    /// Hours a stored message is kept before the retention task deletes it.
    #[arg(long, env = "KEZ_CHAT_RETENTION_HOURS", default_value_t = 48)]
    pub retention_hours: u64,

    /// Most messages one handle's mailbox may hold.
    #[arg(long, env = "KEZ_CHAT_MAILBOX_MAX_MESSAGES", default_value_t = 10_000)]
    pub mailbox_max_messages: u64,

    /// Refuse new messages (507 storage_full) while the database's disk has less than this
    /// many MiB free; 0 turns the check off. SQLite only: PostgreSQL refuses writes itself
    /// when its disk fills, and those posts get the same 507.
    #[arg(long, env = "KEZ_CHAT_MIN_FREE_DISK_MB", default_value_t = 256)]
    pub min_free_disk_mb: u64,

    /// Seconds between runs of the retention task.
    #[arg(long, env = "KEZ_CHAT_RETENTION_INTERVAL_SECS", default_value_t = 300)]
    pub retention_interval_secs: u64,

    /// Most envelope bytes one handle's mailbox may hold. 256 MiB: a 10 MiB attachment is
    /// ~18 MiB of envelopes (SPEC §13), so one sender's 25 % share holds three in flight.
    #[arg(long, env = "KEZ_CHAT_MAILBOX_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub mailbox_max_bytes: u64,

    /// Percent of each mailbox's message and byte quota one sender (client IP, IPv6 per /64)
    /// may hold, so one stranger cannot fill it; 100 turns the share off.
    #[arg(long, env = "KEZ_CHAT_MAILBOX_SENDER_SHARE_PERCENT", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=100))]
    pub mailbox_sender_share_percent: u64,

    /// VAPID `sub` claim sent to push services (default `mailto:admin@<server>`).
    #[arg(long, env = "KEZ_CHAT_VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,

    /// Push services this server sends to: host names, `*.suffix`, or `*` for any public
    /// host. The default covers the browsers' own (FCM, Mozilla, Apple, WNS).
    #[arg(long, env = "KEZ_CHAT_PUSH_HOSTS", default_value = DEFAULT_PUSH_HOSTS)]
    pub push_hosts: String,

    /// Milliseconds a handle's first new message waits before its push goes out; further
    /// messages to it within this window ride on the same push (SPEC §10 coalescing).
    /// At most an hour.
    #[arg(long, env = "KEZ_CHAT_PUSH_COALESCE_MS", default_value_t = 2000,
        value_parser = clap::value_parser!(u64).range(..=3_600_000))]
    pub push_coalesce_ms: u64,

    /// Longest wait in seconds between tries of one push, whatever the push service's
    /// `Retry-After` asks for (SPEC §10); 0 retries at once, at most an hour
    /// (a waiting delivery holds one of the bounded delivery tasks).
    #[arg(long, env = "KEZ_CHAT_PUSH_MAX_RETRY_WAIT_SECS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(..=3600))]
    pub push_max_retry_wait_secs: u64,

    /// Accept http:// and private-address push endpoints (tests only; never in production).
    #[arg(
        long,
        env = "KEZ_CHAT_ALLOW_INSECURE_PUSH_ENDPOINTS",
        default_value_t = false
    )]
    pub allow_insecure_push_endpoints: bool,

    /// Seconds between SSE keep-alive comments on idle streams (proxies drop silent connections).
    #[arg(long, env = "KEZ_CHAT_SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub sse_keepalive_secs: u64,

    /// Serve Prometheus/OpenMetrics figures at `GET /metrics` on this
    /// separate address (keep it private, e.g. 127.0.0.1:9464); unset = off.
    #[arg(long, env = "KEZ_CHAT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Write a consistent copy of the database to this new file (SQLite
    /// `VACUUM INTO`, safe while another server process runs) and exit.
    /// Not with --database-url (use pg_dump).
    #[arg(long, env = "KEZ_CHAT_BACKUP_TO", value_name = "FILE")]
    pub backup_to: Option<PathBuf>,

    /// Copy the SQLite database at --db into the empty PostgreSQL database of --database-url
    /// (every row, from one snapshot, in one transaction; seqs raised as --backup-to raises
    /// them) and exit: the move from one machine to several (SPEC §11.2). Stop the server first.
    #[arg(long, env = "KEZ_CHAT_COPY_TO_POSTGRES", requires = "database_url")]
    pub copy_to_postgres: bool,

    /// NATS server for cross-instance fan-out (e.g. `nats://127.0.0.1:4222`);
    /// unset, streams only see messages posted to this process.
    #[arg(long, env = "KEZ_CHAT_NATS_URL", value_name = "URL")]
    pub nats_url: Option<String>,

    /// The NATS auth callout and instance token (SPEC §11 "Auth callout").
    #[command(flatten)]
    pub nats_auth: NatsAuthConfig,

    /// The sigchain proof checker (SPEC §15.5).
    #[command(flatten)]
    pub proofs: ProofConfig,

    /// The async runtime's worker threads.
    #[command(flatten)]
    pub runtime: RuntimeConfig,

    /// Most simultaneous live streams per handle; a new one closes the oldest.
    #[arg(long, env = "KEZ_CHAT_MAX_STREAMS_PER_HANDLE", default_value_t = 8)]
    pub max_streams_per_handle: usize,

    /// Most bytes of stream events, replay pages and poll answers held for
    /// clients until written, across the process (SPEC §7.4); one client
    /// network may hold 1/16 of it. When short, slow readers (holding bytes
    /// 4 s while writing under 64 KiB) lose their connection. 16..=65536.
    #[arg(long, env = "KEZ_CHAT_STREAM_BUFFERS_MIB", default_value_t = 128,
        value_parser = clap::value_parser!(u32).range(16..=65536))]
    pub stream_buffers_mib: u32,

    /// Tests only: KiB of stored messages the fan-out carries in memory to
    /// live streams (SPEC §7.4's 32 MiB); past it streams get the seq and
    /// read the message from the database.
    #[arg(long, env = "KEZ_CHAT_FANOUT_CARRY_KIB", default_value_t = 32 * 1024, hide = true)]
    pub fanout_carry_kib: u32,

    /// nostr relays to listen on for the users' message events, so Web Push
    /// keeps working for chats that go over nostr (SPEC §12): comma-separated
    /// `ws://` or `wss://` URLs. Empty (the default) turns the listener off.
    #[arg(long, env = "KEZ_CHAT_NOSTR_RELAYS", value_name = "URLS",
          default_value = "", value_parser = parse_relays)]
    pub nostr_relays: RelayList,

    /// Pushes the nostr listener may cause per handle and minute (a token
    /// bucket of as many, SPEC §12): anyone can publish events to an addr, so
    /// beyond this they are counted and dropped. 1..=600.
    #[arg(long, env = "KEZ_CHAT_NOSTR_PUSH_PER_MINUTE", default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=600))]
    pub nostr_push_per_minute: u32,
}

impl Config {
    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["kez-chat-server"])
    }

    /// [`Self::stream_buffers_mib`] in bytes.
    pub fn stream_buffer_bytes(&self) -> usize {
        usize::try_from(self.stream_buffers_mib).unwrap_or(usize::MAX) * 1024 * 1024
    }

    /// [`Self::fanout_carry_kib`] in bytes.
    pub fn fanout_carry_bytes(&self) -> usize {
        usize::try_from(self.fanout_carry_kib).unwrap_or(usize::MAX) * 1024
    }

    /// How to reach PostgreSQL, with `--database-url` (its password file
    /// read now). Errors: the password file cannot be read or is empty.
    pub fn postgres(&self) -> anyhow::Result<Option<PgOptions>> {
        let Some(url) = &self.database_url else {
            return Ok(None);
        };
        let mut connect = url.config()?;
        if let Some(path) = &self.database_password_file {
            warn_if_shared(path, "--database-password-file");
            connect.password(nats_auth::read_secret(path, "--database-password-file")?);
        }
        Ok(Some(PgOptions {
            connect,
            ca_file: self.database_ca_file.clone(),
            pool: self.database_pool,
        }))
    }

    /// The sender key ring's path: `--sender-key-file`, else the database's
    /// path with `.sender-keys` appended (`kez-chat.db.sender-keys`).
    pub fn sender_key_file(&self) -> PathBuf {
        self.sender_key_file
            .clone()
            .unwrap_or_else(|| crate::private_file::sibling(&self.db, ".sender-keys"))
    }

    /// How long a client may take to send request headers.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    /// How long a write may make no progress (see `write_timeout_secs`).
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs.max(1))
    }

    /// The sigchain URL of a key, per SPEC §5: under `--sig-server-url` when
    /// set, else on this server (`https://<server>`, SPEC §15).
    pub fn sigchain_url(&self, key_hex: &str) -> String {
        let base = match &self.sig_server_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://{}", self.server),
        };
        format!("{base}/v1/sigchains/ed25519/{key_hex}")
    }
}

/// WARNs when a secret file lets others than its owner read or write it
/// (its mode is left alone). No-op off unix.
fn warn_if_shared(path: &std::path::Path, flag: &str) {
    if crate::private_file::too_open(path) {
        tracing::warn!(
            path = %path.display(),
            "{flag}: the file is readable by others than its owner; chmod 600 it"
        );
    }
}
