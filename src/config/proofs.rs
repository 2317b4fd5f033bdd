//! The proof checker's flags (SPEC §15.5), flattened into
//! [`Config`](super::Config).

use std::path::PathBuf;

use clap::Args;

/// Where the home server fetches proofs from, and how many at once.
#[derive(Debug, Clone, Args)]
pub struct ProofConfig {
    /// GitHub REST API base for gist proofs (`GET <url>/gists/<id>`).
    #[arg(
        long,
        env = "KEZ_CHAT_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// A file holding a GitHub token sent (`Authorization: Bearer`) with
    /// gist API requests only: the API allows 60 unauthenticated requests
    /// an hour per IP. Read at start-up, never logged.
    #[arg(long, env = "KEZ_CHAT_GITHUB_TOKEN_FILE")]
    pub github_token_file: Option<PathBuf>,

    /// The only host a gist file's `raw_url` is fetched from (when the API
    /// truncated the file's content).
    #[arg(
        long,
        env = "KEZ_CHAT_GIST_RAW_HOST",
        default_value = "gist.githubusercontent.com"
    )]
    pub gist_raw_host: String,

    /// DNS-over-HTTPS JSON endpoint for DNS proofs (`?name=_kez.<name>&type=TXT`).
    #[arg(
        long,
        env = "KEZ_CHAT_DOH_URL",
        default_value = "https://cloudflare-dns.com/dns-query"
    )]
    pub doh_url: String,

    /// Most proof fetches in flight server-wide (1-256).
    #[arg(long, env = "KEZ_CHAT_PROOF_CHECKS_IN_FLIGHT", default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=256))]
    pub proof_checks_in_flight: u32,

    /// Proof-check requests (`GET /v1/sigchains/ed25519/{hex}/proofs`, SPEC
    /// §15.5) allowed per client IP (IPv6: per /64) per minute (also the burst size).
    #[arg(long, env = "KEZ_CHAT_PROOF_RATE_PER_MINUTE", default_value_t = 60)]
    pub proof_rate_per_minute: u32,

    /// Milliseconds one proof fetch may take, body included (SPEC §15.5: 5 s).
    #[arg(long, env = "KEZ_CHAT_PROOF_TIMEOUT_MS", default_value_t = 5000,
        value_parser = clap::value_parser!(u64).range(1..=60_000), hide = true)]
    pub proof_timeout_ms: u64,

    /// Seconds after which a `Cache-Control: no-cache` proofs request
    /// checks a claim again whose verdict is not `verified` (SPEC §15.5: 30).
    #[arg(long, env = "KEZ_CHAT_PROOF_RECHECK_AFTER_SECS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=600), hide = true)]
    pub proof_recheck_after_secs: u64,

    /// Tests only: proof fetches may use http and private addresses.
    #[arg(long, env = "KEZ_CHAT_ALLOW_INSECURE_PROOF_FETCHES", hide = true)]
    pub allow_insecure_proof_fetches: bool,

    /// Tests only (needs --allow-insecure-proof-fetches): send https-claim
    /// fetches to this origin (e.g. `http://127.0.0.1:8080`), the claim's
    /// host in `Host`.
    #[arg(long, env = "KEZ_CHAT_PROOF_HTTPS_TEST_ORIGIN", hide = true)]
    pub proof_https_test_origin: Option<String>,
}
