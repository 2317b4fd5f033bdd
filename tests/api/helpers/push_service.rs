//! The stand-in push service: a real local HTTP server that checks every
//! push the way a push service does (RFC 8030 + RFC 8292: method, `TTL`,
//! `Urgency`, empty body, a VAPID JWT that verifies against `k=` and names
//! this origin), records what it got, and answers as each test tells it to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

/// How the stand-in answers pushes to one path.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Created,
    Status(u16),
    /// Answer `status` (with `Retry-After: 1`) this many times, then 201.
    FailThenCreated(u16, u32),
    /// Never answer.
    Hang,
    /// Always 429 with `Retry-After: 3600`.
    Throttled,
}

/// One push as the stand-in got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body_len: usize,
    pub content_length: Option<String>,
    /// What the stand-in answered.
    pub status: u16,
}

#[derive(Default)]
struct PushLog {
    expected_key: String,
    modes: HashMap<String, Mode>,
    received: Vec<Received>,
    problems: Vec<String>,
    hanging: usize,
}

/// Handle to a running stand-in; cheap to clone.
#[derive(Clone)]
pub struct PushService {
    origin: String,
    log: Arc<Mutex<PushLog>>,
}

impl PushService {
    /// Starts the stand-in on 127.0.0.1:0, expecting pushes signed with
    /// the VAPID public key `expected_key`.
    pub async fn start(expected_key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let svc = Self {
            origin,
            log: Arc::new(Mutex::new(PushLog {
                expected_key: expected_key.to_owned(),
                ..PushLog::default()
            })),
        };
        let app = axum::Router::new()
            .fallback(accept_push)
            .with_state(svc.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        svc
    }

    /// The push endpoint URL for `path`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// How pushes to `path` are answered from now on (default `Created`).
    pub fn set_mode(&self, path: &str, mode: Mode) {
        self.log.lock().unwrap().modes.insert(path.to_owned(), mode);
    }

    /// Pushes to `path` answered so far, in order.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let log = self.log.lock().unwrap();
        log.received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Pushes answered so far, all paths.
    pub fn total(&self) -> usize {
        self.log.lock().unwrap().received.len()
    }

    /// Pushes received and never answered (`Hang`).
    pub fn hanging(&self) -> usize {
        self.log.lock().unwrap().hanging
    }

    /// Panics with every check a push failed.
    pub fn assert_no_problems(&self) {
        let log = self.log.lock().unwrap();
        assert!(
            log.problems.is_empty(),
            "push checks failed: {:?}",
            log.problems
        );
    }
}

async fn accept_push(
    State(svc): State<PushService>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let problems = {
        let log = svc.log.lock().unwrap();
        check_push(&svc.origin, &log.expected_key, &method, &headers)
    };
    let mode = {
        let mut log = svc.log.lock().unwrap();
        let mode = log.modes.get(&path).copied().unwrap_or(Mode::Created);
        if let Mode::FailThenCreated(s, n) = mode {
            let next = if n > 1 {
                Mode::FailThenCreated(s, n - 1)
            } else {
                Mode::Created
            };
            log.modes.insert(path.clone(), next);
        }
        log.problems
            .extend(problems.iter().map(|p| format!("{path}: {p}")));
        mode
    };
    let (status, retry_after) = match mode {
        Mode::Created => (201, None),
        Mode::Status(s) => (s, None),
        Mode::FailThenCreated(s, _) => (s, Some("1")),
        Mode::Throttled => (429, Some("3600")),
        Mode::Hang => {
            svc.log.lock().unwrap().hanging += 1;
            let never: std::convert::Infallible = std::future::pending().await;
            match never {}
        }
    };
    let status = if problems.is_empty() { status } else { 400 };
    svc.log.lock().unwrap().received.push(Received {
        path,
        body_len: body.len(),
        content_length: headers
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned()),
        status,
    });
    let mut res = StatusCode::from_u16(status).unwrap().into_response();
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static(secs));
    }
    res
}

/// Everything a real push service checks (RFC 8030 + RFC 8292), as a list
/// of what is wrong.
fn check_push(
    origin: &str,
    expected_key: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Vec<String> {
    let mut problems = Vec::new();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if method != Method::POST {
        problems.push(format!("method {method}"));
    }
    if header("ttl").and_then(|v| v.parse::<u32>().ok()).is_none() {
        problems.push("TTL missing or not a number".to_owned());
    }
    if header("urgency") != Some("high") {
        problems.push(format!("urgency {:?}", header("urgency")));
    }
    if header("content-encoding").is_some() {
        problems.push("content-encoding on an empty push".to_owned());
    }
    let Some(auth) = header("authorization") else {
        problems.push("no Authorization".to_owned());
        return problems;
    };
    let Some((t, k)) = auth
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
    else {
        problems.push(format!("Authorization is not `vapid t=.., k=..`: {auth}"));
        return problems;
    };
    if k != expected_key {
        problems.push("k= is not the server's VAPID public key".to_owned());
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        problems.push("JWT does not have three parts".to_owned());
        return problems;
    }
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap_or_default();
    let jwt_header: Value = serde_json::from_slice(&decode(parts[0])).unwrap_or(Value::Null);
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap_or(Value::Null);
    if jwt_header["alg"] != "ES256" || jwt_header["typ"] != "JWT" {
        problems.push(format!("JWT header {jwt_header}"));
    }
    if claims["aud"] != origin {
        problems.push(format!("aud {} is not {origin}", claims["aud"]));
    }
    let now = chrono::Utc::now().timestamp();
    match claims["exp"].as_i64() {
        Some(exp) if exp > now && exp <= now + 24 * 3600 => {}
        other => problems.push(format!("exp {other:?} not within (now, now + 24 h]")),
    }
    if !claims["sub"]
        .as_str()
        .is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:"))
    {
        problems.push(format!("sub {}", claims["sub"]));
    }
    let verified = VerifyingKey::from_sec1_bytes(&decode(k))
        .ok()
        .zip(Signature::from_slice(&decode(parts[2])).ok())
        .is_some_and(|(vk, sig)| {
            vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
                .is_ok()
        });
    if !verified {
        problems.push("ES256 signature does not verify against k=".to_owned());
    }
    problems
}
