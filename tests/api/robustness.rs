//! Hostile input: mutated and malformed bodies on every JSON endpoint must
//! get a 4xx JSON error, never a panic, a 5xx or a hang, and the server must
//! stay healthy with its data intact.

use serde_json::{Value, json};

use crate::helpers::*;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

/// A mutated copy of `valid`: flipped bytes, cuts, splices and inserted tokens.
fn mutate(valid: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = valid.to_vec();
    for _ in 0..=rng.below(4) {
        if b.is_empty() {
            break;
        }
        let i = rng.below(b.len());
        match rng.below(6) {
            0 => b[i] ^= 1 << rng.below(8),
            1 => b.truncate(i),
            2 => {
                let tok: &[u8] = [
                    b"\"".as_slice(),
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b",",
                    b":",
                    b"\\u0000",
                    b"1e999",
                    b"-",
                    b"\xff",
                    b"null",
                ][rng.below(12)];
                b.splice(i..i, tok.iter().copied());
            }
            3 => {
                b.remove(i);
            }
            4 => {
                let j = rng.below(b.len());
                let chunk: Vec<u8> = b[i.min(j)..i.max(j)].to_vec();
                b.splice(i..i, chunk);
            }
            _ => b[i] = u8::try_from(rng.below(256)).unwrap(),
        }
    }
    b
}

async fn assert_client_error(app: &TestApp, path: &str, body: Vec<u8>) {
    let res = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-kez-auth", "1:00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    // A mutation can leave a body valid, so success is allowed; a 5xx never is.
    assert!(
        status < 500,
        "{path} answered {status} to {:?}: {text}",
        String::from_utf8_lossy(&body)
    );
    if status >= 400 {
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON error {status}: {text}"));
        assert!(v["error"].is_string() && v["message"].is_string(), "{text}");
    }
}

#[tokio::test]
async fn mutated_bodies_never_break_the_server() {
    let app = spawn_app().await;
    let bob = TestIdentity::generate();
    let record = app.register(&bob, "bob").await;
    let valid: Vec<(&str, Vec<u8>)> = vec![
        (
            "/v1/register",
            serde_json::to_vec(&TestIdentity::generate().registration("carol", SERVER)).unwrap(),
        ),
        (
            "/v1/messages",
            serde_json::to_vec(&message_body("bob", &random_id(), "x")).unwrap(),
        ),
        (
            "/v1/push/subscriptions",
            serde_json::to_vec(
                &json!({"handle": "bob", "endpoint": "https://push.example/x",
                "keys": {"p256dh": "BA", "auth": "AA"}}),
            )
            .unwrap(),
        ),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (path, body) in &valid {
        for _ in 0..150 {
            assert_client_error(&app, path, mutate(body, &mut rng)).await;
        }
    }
    // Pathological shapes.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let wide = format!(
        "{{{}\"z\":1}}",
        (0..2000)
            .map(|i| format!("\"k{i}\":{i},"))
            .collect::<String>()
    )
    .into_bytes();
    for body in [
        deep,
        wide,
        b"\xef\xbb\xbf{}".to_vec(),
        b"{\"a\":\"\\ud800\"}".to_vec(),
        b"NaN".to_vec(),
        b"1".to_vec(),
    ] {
        for (path, _) in &valid {
            assert_client_error(&app, path, body.clone()).await;
        }
    }
    // Still healthy, data intact.
    assert_eq!(app.get("/v1/healthz").await.status(), 200);
    assert_eq!(
        app.get("/v1/u/bob").await.json::<Value>().await.unwrap(),
        record
    );
}

#[tokio::test]
async fn odd_paths_and_queries_get_json_errors() {
    let app = spawn_app().await;
    let bob = TestIdentity::generate();
    app.register(&bob, "bob").await;
    for path in [
        "/v1/u/%00",
        "/v1/u/%ff%fe",
        "/v1/u/..%2f..%2fetc%2fpasswd",
        "/v1/by-primary/%ZZ",
        "/v1/inbox/bob?since=18446744073709551616",
        "/v1/inbox/bob?since=abc&since=1",
        "/v1/inbox/bob/stream?auth=%00",
        "/.well-known/webfinger?resource=%ff",
        "/v1/push/subscriptions/bob?endpoint=",
    ] {
        let res = app.get(path).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert!((400..500).contains(&status), "{path}: {status} {text}");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: non-JSON {text}"));
        assert!(v["error"].is_string(), "{path}: {text}");
    }
}

/// The header limit counts what the client sent: the request id the
/// server adds on its way in is not the client's (exactly
/// `MAX_HEADERS` used to get a 431).
#[tokio::test]
async fn exactly_the_header_limit_is_answered_and_one_more_is_not() {
    use kez_chat_server::edge::MAX_HEADERS;
    let app = spawn_app().await;
    for (count, want) in [(MAX_HEADERS, "200"), (MAX_HEADERS + 1, "431")] {
        // `host` is one of them.
        let fillers: String = (1..count).map(|i| format!("x-f{i}: 1\r\n")).collect();
        let head = format!("GET /v1/healthz HTTP/1.1\r\nhost: x\r\n{fillers}\r\n");
        let mut raw = Raw::connect(&app).await;
        raw.send(head.as_bytes()).await;
        let (status, _) = raw.head().await;
        assert_eq!(
            status.split(' ').nth(1),
            Some(want),
            "{count} headers: {status}"
        );
    }
}

/// A client that shuts its sending side once the request is sent (netcat,
/// `shutdown(SHUT_WR)`) still gets its answer, and the post is stored.
#[tokio::test]
async fn a_half_closed_connection_still_gets_its_answer() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app().await;
    let _bob = app.user("bob").await;
    let body = serde_json::json!({"to": "bob", "id": "half-closed-000001", "envelope": {"v": 2}})
        .to_string();
    for (path, extra) in [("/v1/messages", body.as_str()), ("/v1/healthz", "")] {
        let method = if extra.is_empty() { "GET" } else { "POST" };
        let mut conn = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            extra.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(extra.as_bytes()).await.unwrap();
        conn.shutdown().await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            conn.read_to_string(&mut answer),
        )
        .await
        .expect("no answer within 10 s")
        .unwrap();
        let want = if extra.is_empty() {
            "HTTP/1.1 200 "
        } else {
            "HTTP/1.1 201 "
        };
        assert!(answer.starts_with(want), "{path}: {answer:?}");
    }
}

/// A `Last-Event-ID` that is not a seq is refused (it used to be ignored,
/// replaying the whole mailbox); an empty one counts as none.
#[tokio::test]
async fn a_malformed_last_event_id_is_refused() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let open = async |last_event_id: &str| {
        app.client
            .get(app.url(&format!(
                "/v1/inbox/bob/stream?auth={}",
                bob.stream_auth("bob")
            )))
            .header("last-event-id", last_event_id)
            .send()
            .await
            .unwrap()
    };
    for bad in ["-1", "abc", "1 2", "18446744073709551616", "0x5"] {
        assert_error(open(bad).await, 400, "invalid_last_event_id").await;
    }
    for fine in ["", " 7 ", "0"] {
        assert_eq!(open(fine).await.status(), 200, "{fine:?}");
    }
}
