//! The proof-check stand-in (SPEC §15.5): one real HTTP server on
//! 127.0.0.1 playing the GitHub API, the DoH endpoint and claimed https
//! hosts; it records what it is asked and answers as each test tells it to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kez_chat_server::config::Config;

/// What the stand-in answers on one path.
#[derive(Clone)]
pub enum Answer {
    Body(String),
    /// This status, with `Location: /elsewhere` when it is a 3xx.
    Status(u16),
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

    pub fn answer(&self, path: &str, a: Answer) {
        self.answers.lock().unwrap().insert(path.to_owned(), a);
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }

    /// Points the checker's three kinds of fetch at this stand-in.
    pub fn configure(&self, c: &mut Config) {
        c.proofs.allow_insecure_proof_fetches = true;
        c.proofs.github_api_url = self.origin.clone();
        c.proofs.doh_url = format!("{}/dns-query", self.origin);
        c.proofs.proof_https_test_origin = Some(self.origin.clone());
        c.proofs.proof_timeout_ms = 500;
    }
}

async fn answer(
    axum::extract::State(s): axum::extract::State<Stand>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    s.seen.lock().unwrap().push(Seen {
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers,
    });
    let a = s.answers.lock().unwrap().get(uri.path()).cloned();
    match a {
        Some(Answer::Body(b)) => b.into_response(),
        Some(Answer::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            (status, [(axum::http::header::LOCATION, "/elsewhere")]).into_response()
        }
        Some(Answer::Never) => std::future::pending().await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
