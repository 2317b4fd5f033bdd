//! A fault-injecting nostr relay for the listener's tests: a small NIP-01
//! server (tokio-tungstenite, the version nostr-sdk already uses) that
//! answers every `REQ` with exactly the raw events the test gave it,
//! whatever the filter, then `EOSE`. A real relay refuses forged events and
//! serves only what matches the filter, so it cannot show what the
//! listener does with a hostile relay's events; the real relay
//! (`nostr_relay`) covers the rest.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// What the relay serves and what it was asked.
#[derive(Default)]
struct Shared {
    /// Raw event JSON texts sent for every `REQ`, in order.
    events: Vec<String>,
    /// The filters of every `REQ` received, in order (first filter each).
    reqs: Vec<Value>,
}

/// A running fault relay on 127.0.0.1; stopped on drop.
pub struct FaultRelay {
    port: u16,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl FaultRelay {
    /// Starts a relay serving `events` (raw JSON objects) to every `REQ`.
    pub async fn start(events: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared {
            events,
            reqs: Vec::new(),
        }));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        });
        Self { port, shared, task }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Replaces what the next `REQ`s are answered with.
    pub fn set_events(&self, events: Vec<String>) {
        self.shared.lock().events = events;
    }

    /// The (first) filter of every `REQ` received so far.
    pub fn reqs(&self) -> Vec<Value> {
        self.shared.lock().reqs.clone()
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: `REQ` → the events then `EOSE`; `EVENT` → `OK true`;
/// anything else ignored.
async fn serve(stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let mut out = Vec::new();
        match (parts.first().and_then(Value::as_str), parts.get(1)) {
            (Some("REQ"), Some(Value::String(sub))) => {
                let sub = serde_json::to_string(sub).unwrap();
                let events = {
                    let mut s = shared.lock();
                    s.reqs.push(parts.get(2).cloned().unwrap_or(Value::Null));
                    s.events.clone()
                };
                out.extend(events.iter().map(|e| format!(r#"["EVENT",{sub},{e}]"#)));
                out.push(format!(r#"["EOSE",{sub}]"#));
            }
            (Some("EVENT"), Some(ev)) => {
                let id = ev.get("id").cloned().unwrap_or(Value::Null);
                out.push(format!(r#"["OK",{id},true,""]"#));
            }
            _ => {}
        }
        // Fed, then flushed once: a burst the client reads in one go.
        for text in out {
            if ws.feed(Message::text(text)).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
