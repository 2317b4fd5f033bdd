//! Fetching proof statements (SPEC §15.5): the GitHub gist API, the https
//! well-known file and DNS TXT over DoH, each body read up to its bound.
//! Returns candidate statements; judging them is the caller's.

use std::time::Duration;

use anyhow::Context;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HOST, HeaderMap, HeaderValue};
use serde_json::Value;

use super::Fail;
use crate::config::ProofConfig;
use crate::kez::sigchain::{Claim, MAX_LINK_BYTES};
use crate::push::{AllPublicResolver, is_refused_address};

/// Largest gist API answer read, in bytes: the JSON of a gist with a
/// statement (~500 bytes) and its history is a few KiB.
pub(super) const MAX_GIST_JSON_BYTES: usize = 64 * 1024;
/// Largest DoH answer read, in bytes: a 4096-byte statement escaped in TXT
/// presentation form stays well below it.
pub(super) const MAX_DOH_JSON_BYTES: usize = 32 * 1024;
/// Most files of one gist looked at.
const MAX_GIST_FILES: usize = 8;
const USER_AGENT: &str = concat!("kez-chat-server/", env!("CARGO_PKG_VERSION"), " (proofs)");

/// One place a statement may be, or why it could not be read.
pub(super) type Candidate = Result<Vec<u8>, Fail>;

/// The outbound side of the checker: one client, the configured bases.
pub(super) struct Fetcher {
    client: reqwest::Client,
    github_api: String,
    /// `Bearer <token>` from `--github-token-file`, marked sensitive.
    github_token: Option<HeaderValue>,
    gist_raw_host: String,
    doh: url::Url,
    https_origin: Option<String>,
}

impl Fetcher {
    /// A client with `timeout` per fetch (body included), no proxy, no
    /// redirects and, unless the test switch is on, https only through a
    /// resolver that refuses a name with any non-public address (the
    /// address it checked is the one connected to). Fails on a
    /// `--github-api-url` or `--doh-url` that is not an https URL (http too
    /// with the test switch) or names a non-public IP literal, a
    /// `--gist-raw-host` that is not a bare host name, and a
    /// `--proof-https-test-origin` without the switch. Warns when the
    /// switch is on.
    pub(super) fn new(c: &ProofConfig, timeout: Duration) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        let insecure = c.allow_insecure_proof_fetches;
        if insecure {
            tracing::warn!(
                "--allow-insecure-proof-fetches is on: proof fetches may use http and private addresses (tests only)"
            );
        } else {
            b = b.https_only(true).dns_resolver(AllPublicResolver);
            anyhow::ensure!(
                c.proof_https_test_origin.is_none(),
                "--proof-https-test-origin needs --allow-insecure-proof-fetches"
            );
        }
        Ok(Self {
            client: b.build()?,
            github_api: base_url(&c.github_api_url, insecure, "--github-api-url")?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            github_token: c.github_token_file.as_deref().map(token).transpose()?,
            gist_raw_host: bare_host(&c.gist_raw_host)?,
            doh: base_url(&c.doh_url, insecure, "--doh-url")?,
            https_origin: c
                .proof_https_test_origin
                .as_ref()
                .map(|o| o.trim_end_matches('/').to_owned()),
        })
    }

    /// `GET <api>/gists/<id>`: the owner must be the claimed login; each
    /// file's content (or its `raw_url` on the gist raw host) is a candidate.
    pub(super) async fn github(&self, claim: &Claim) -> Vec<Candidate> {
        let id = claim.proof.rsplit('/').next().unwrap_or_default();
        let req = self
            .client
            .get(format!("{}/gists/{id}", self.github_api))
            .header(ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        let req = match &self.github_token {
            Some(t) => req.header(AUTHORIZATION, t.clone()),
            None => req,
        };
        let gist = match self
            .get(req, MAX_GIST_JSON_BYTES)
            .await
            .and_then(|b| json(&b))
        {
            Ok(v) => v,
            Err(f) => return vec![Err(f)],
        };
        let Some(owner) = gist.pointer("/owner/login").and_then(Value::as_str) else {
            return vec![Err(Fail::failed("bad_answer"))];
        };
        if !owner.eq_ignore_ascii_case(&claim.name) {
            return vec![Err(Fail::failed("wrong_owner"))];
        }
        let Some(files) = gist.get("files").and_then(Value::as_object) else {
            return vec![Err(Fail::failed("bad_answer"))];
        };
        if files.is_empty() {
            return vec![Err(Fail::failed("not_found"))];
        }
        let mut out = Vec::new();
        for file in files.values().take(MAX_GIST_FILES) {
            out.push(self.gist_file(file).await);
        }
        out
    }

    /// A gist file's statement: its `content` unless truncated, else its
    /// `raw_url` when that is on the configured raw host.
    async fn gist_file(&self, file: &Value) -> Candidate {
        let truncated = file.get("truncated").and_then(Value::as_bool) == Some(true);
        if let (Some(content), false) = (file.get("content").and_then(Value::as_str), truncated) {
            return Ok(content.as_bytes().to_vec());
        }
        let raw = file.get("raw_url").and_then(Value::as_str);
        let url = raw
            .and_then(|r| url::Url::parse(r).ok())
            .filter(|u| u.host_str().is_some_and(|h| h == self.gist_raw_host))
            .ok_or_else(|| Fail::failed("bad_answer"))?;
        self.get(self.client.get(url), MAX_LINK_BYTES).await
    }

    /// `GET https://<name>/.well-known/kez-proof.txt`: the body.
    pub(super) async fn https(&self, claim: &Claim) -> Vec<Candidate> {
        const PATH: &str = "/.well-known/kez-proof.txt";
        let req = match &self.https_origin {
            Some(origin) => self
                .client
                .get(format!("{origin}{PATH}"))
                .header(HOST, &claim.name),
            None => self.client.get(format!("https://{}{PATH}", claim.name)),
        };
        vec![self.get(req, MAX_LINK_BYTES).await]
    }

    /// TXT `_kez.<name>` over DoH JSON: each record's strings joined.
    pub(super) async fn dns(&self, claim: &Claim) -> Vec<Candidate> {
        let mut url = self.doh.clone();
        url.query_pairs_mut()
            .append_pair("name", &format!("_kez.{}", claim.name))
            .append_pair("type", "TXT");
        let req = self.client.get(url).header(ACCEPT, "application/dns-json");
        let answer = match self
            .get(req, MAX_DOH_JSON_BYTES)
            .await
            .and_then(|b| json(&b))
        {
            Ok(v) => v,
            Err(f) => return vec![Err(f)],
        };
        match answer.get("Status").and_then(Value::as_u64) {
            Some(0) => {}
            Some(3) => return vec![Err(Fail::failed("not_found"))],
            Some(_) => return vec![Err(Fail::unreachable("dns_error"))],
            None => return vec![Err(Fail::failed("bad_answer"))],
        }
        let records: Vec<Candidate> = answer
            .get("Answer")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("type").and_then(Value::as_u64) == Some(16))
            .map(|r| {
                r.get("data")
                    .and_then(Value::as_str)
                    .and_then(txt_bytes)
                    .ok_or_else(|| Fail::failed("bad_answer"))
            })
            .collect();
        if records.is_empty() {
            return vec![Err(Fail::failed("not_found"))];
        }
        records
    }

    /// Sends `req` and reads a 2xx body of at most `bound` bytes.
    async fn get(&self, req: reqwest::RequestBuilder, bound: usize) -> Candidate {
        let mut res = req.send().await.map_err(|e| transport(&e))?;
        status_fail(res.status(), res.headers()).map_or(Ok(()), Err)?;
        if res.content_length().is_some_and(|n| n > bound as u64) {
            return Err(Fail::failed("too_large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| transport(&e))? {
            if body.len() + chunk.len() > bound {
                return Err(Fail::failed("too_large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Why a non-2xx answer is no statement (SPEC §15.5): 404 `not_found`;
/// 429 and a 403 with `x-ratelimit-remaining: 0` (GitHub's rate limit)
/// `rate_limited` and a 5xx `http_<status>`, both `unreachable` (the
/// place could not be read now); any other `failed` `http_<status>`.
/// `None` for a 2xx.
pub(super) fn status_fail(status: StatusCode, headers: &HeaderMap) -> Option<Fail> {
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && headers
                .get("x-ratelimit-remaining")
                .is_some_and(|v| v.as_bytes().trim_ascii() == b"0"));
    if status.is_success() {
        None
    } else if status == StatusCode::NOT_FOUND {
        Some(Fail::failed("not_found"))
    } else if limited {
        Some(Fail::unreachable("rate_limited"))
    } else if status.is_server_error() {
        Some(Fail::unreachable(&format!("http_{}", status.as_u16())))
    } else {
        Some(Fail::failed(format!("http_{}", status.as_u16())))
    }
}

/// `url` parsed; https only unless `insecure` (a fetch over http would
/// fail on every check: refused at start-up instead), and no non-public IP
/// literal unless `insecure` (the resolver, which guards names, never sees
/// a literal).
pub(super) fn base_url(url: &str, insecure: bool, flag: &str) -> anyhow::Result<url::Url> {
    let u = url::Url::parse(url).with_context(|| format!("{flag} must be an absolute URL"))?;
    let literal = match u.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if !insecure && literal.is_some_and(|ip| !crate::push::is_public_ip(ip)) {
        anyhow::bail!("{flag} must not name a non-public address");
    }
    match u.scheme() {
        "https" => Ok(u),
        "http" if insecure => Ok(u),
        _ => anyhow::bail!("{flag} must be an https URL"),
    }
}

/// The `Authorization` value of the token in `path` (at most 1 KiB,
/// surrounding whitespace trimmed, printable ASCII), marked sensitive.
/// Errors name the flag, never the content.
pub(super) fn token(path: &std::path::Path) -> anyhow::Result<HeaderValue> {
    use std::io::Read as _;
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1025).read_to_end(&mut raw))
        .context("--github-token-file cannot be read")?;
    let t = raw.trim_ascii();
    let ok = !t.is_empty() && raw.len() <= 1024 && t.iter().all(|b| b.is_ascii_graphic());
    anyhow::ensure!(
        ok,
        "--github-token-file must hold one token (printable ASCII, at most 1 KiB)"
    );
    let mut v = HeaderValue::from_bytes(&[b"Bearer ", t].concat())
        .map_err(|_| anyhow::anyhow!("--github-token-file holds no valid token"))?;
    v.set_sensitive(true);
    Ok(v)
}

/// `--gist-raw-host` lower-cased: a bare host name or address (letters,
/// digits, `.`, `-`), no scheme, port or path, which would never match.
pub(super) fn bare_host(host: &str) -> anyhow::Result<String> {
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    anyhow::ensure!(ok, "--gist-raw-host must be a bare host name");
    Ok(host.to_ascii_lowercase())
}

fn json(body: &[u8]) -> Result<Value, Fail> {
    serde_json::from_slice(body).map_err(|_| Fail::failed("bad_answer"))
}

/// A transport failure as a reason code (never the error's text: it can
/// name the host).
fn transport(e: &reqwest::Error) -> Fail {
    if is_refused_address(e) {
        Fail::unreachable("private_address")
    } else if e.is_timeout() {
        Fail::unreachable("timeout")
    } else {
        Fail::unreachable("connect_error")
    }
}

/// The bytes of one TXT record as a DoH JSON `data` field gives them:
/// quoted character-strings (`"a" "b"`, with `\"`, `\\` and `\DDD`
/// escapes) joined without separators, or (some resolvers) already
/// joined and unquoted. `None` when a quoted form is malformed.
pub(super) fn txt_bytes(data: &str) -> Option<Vec<u8>> {
    let data = data.trim();
    if !data.starts_with('"') {
        return Some(data.as_bytes().to_vec());
    }
    let mut out = Vec::new();
    let mut bytes = data.bytes();
    loop {
        match bytes.next() {
            None => return Some(out),
            Some(b' ') => continue,
            Some(b'"') => {}
            Some(_) => return None,
        }
        loop {
            match bytes.next()? {
                b'"' => break,
                b'\\' => {
                    let c = bytes.next()?;
                    if c.is_ascii_digit() {
                        let d = [c, bytes.next()?, bytes.next()?];
                        let n = std::str::from_utf8(&d).ok()?.parse::<u8>().ok()?;
                        out.push(n);
                    } else {
                        out.push(c);
                    }
                }
                b => out.push(b),
            }
        }
    }
}
