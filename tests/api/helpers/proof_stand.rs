//! The proof-check stand-in (SPEC §15.5): one real HTTP server on
//! 127.0.0.1 playing the GitHub API, the DoH endpoint and claimed https
//! hosts; it records what it is asked, how many answers run at once and
//! how many were abandoned, and answers as each test tells it to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use kez_chat_server::config::Config;
use tokio::sync::Semaphore;

/// What the stand-in answers on one path (or one host and path).
#[derive(Clone)]
pub enum Answer {
    Body(String),
    /// This status, with `Location: /elsewhere` when it is a 3xx.
    Status(u16),
    /// This status with one extra header.
    StatusWith(u16, &'static str, &'static str),
    /// `n` chunks of `chunk` bytes `x`, `delay_ms` apart, with no
    /// `Content-Length` (chunked).
    Stream {
        chunk: usize,
        n: usize,
        delay_ms: u64,
    },
    /// The body once the gate has a permit (`add_permits` opens it).
    Gate(Arc<Semaphore>, String),
    Never,
}

/// One request as the stand-in got it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
}

#[derive(Clone, Default)]
pub struct Stand {
    pub origin: String,
    pub answers: Arc<Mutex<HashMap<String, Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
    abandoned: Arc<AtomicUsize>,
}

impl Stand {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand = Self {
            origin: format!("http://{}", listener.local_addr().unwrap()),
            ..Self::default()
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stand.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stand
    }

    /// What `path` answers, whatever the `Host`.
    pub fn answer(&self, path: &str, a: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), a);
    }

    /// What `path` answers for `Host: host` (before the path's own answer).
    pub fn answer_host(&self, host: &str, path: &str, a: Answer) {
        self.answer(&format!("{host}{path}"), a);
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    /// The most answers that were in progress at once.
    pub fn most_running(&self) -> usize {
        self.most_running.load(Ordering::SeqCst)
    }

    /// Answers whose request went away before they were sent.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Points the checker's three kinds of fetch at this stand-in, with a
    /// fetch timeout far above any answer's time on a loaded machine (tests
    /// of timeouts set a short one and a place that never answers in time).
    pub fn configure(&self, c: &mut Config) {
        c.proofs.allow_insecure_proof_fetches = true;
        c.proofs.github_api_url = self.origin.clone();
        c.proofs.doh_url = format!("{}/dns-query", self.origin);
        c.proofs.proof_https_test_origin = Some(self.origin.clone());
        c.proofs.proof_timeout_ms = 10_000;
    }
}

/// Counts an answer in progress; on drop before `finish`, it was abandoned.
struct Running(Stand, bool);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn answer(
    axum::extract::State(s): axum::extract::State<Stand>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let now = s.running.fetch_add(1, Ordering::SeqCst) + 1;
    s.most_running.fetch_max(now, Ordering::SeqCst);
    let mut running = Running(s.clone(), false);
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
    });
    let a = {
        let answers = s.answers.lock().unwrap();
        let by_host = answers.get(&format!("{host}{}", uri.path()));
        by_host.or_else(|| answers.get(uri.path())).cloned()
    };
    let res = respond(a).await;
    running.1 = true;
    res
}

async fn respond(a: Option<Answer>) -> Response {
    match a {
        Some(Answer::Body(b)) => b.into_response(),
        Some(Answer::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            (status, [(axum::http::header::LOCATION, "/elsewhere")]).into_response()
        }
        Some(Answer::StatusWith(code, name, value)) => {
            (StatusCode::from_u16(code).unwrap(), [(name, value)]).into_response()
        }
        Some(Answer::Stream { chunk, n, delay_ms }) => {
            let chunks = futures_util::stream::iter(0..n).then(move |_| async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                Ok::<_, std::io::Error>(vec![b'x'; chunk])
            });
            Body::from_stream(chunks).into_response()
        }
        Some(Answer::Gate(gate, b)) => {
            let _open = gate.acquire().await.unwrap();
            b.into_response()
        }
        Some(Answer::Never) => std::future::pending().await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
