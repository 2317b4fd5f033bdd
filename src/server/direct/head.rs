//! A fresh connection's first request head, read into a small temporary
//! buffer and sorted: a plain `GET /v1/inbox/{handle}/stream` becomes an
//! `http::Request` for the router; anything else goes back to hyper with
//! the bytes read so far (issue 14, TODO #205).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version, header};
use tokio::net::TcpStream;

/// Most bytes of a head read here: a longer one goes to hyper, which reads
/// up to its own bound and gives the usual answers (JSON 414/431 from
/// `edge`).
pub(super) const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How every head served here starts; the first byte that differs sends the
/// connection to hyper.
const STREAM_PREFIX: &[u8] = b"GET /v1/inbox/";
/// What reads the socket in one go while a head is read (on the stack, gone
/// once the head is parsed).
const READ_CHUNK: usize = 2048;

/// How the connection of a stream served here goes on, from the request's
/// version and `Connection` header, as hyper would answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keep {
    /// HTTP/1.1, kept alive: a chunked stream; after an error answer the
    /// connection goes on with hyper.
    Alive,
    /// HTTP/1.1 with `Connection: close`: a chunked stream, and
    /// `connection: close` on every answer, then the connection ends.
    Close,
    /// HTTP/1.0 without keep-alive (nginx's default upstream request): an
    /// `HTTP/1.0` status line, the stream's body delimited by the close
    /// (RFC 9112 §6.3: no chunked coding for 1.0), then the connection ends.
    Http10,
}

/// What the first bytes of a connection are.
pub(super) enum Head {
    /// A complete stream request, with nothing after it (boxed: a
    /// request is large next to the other variants).
    Stream(Box<Request<Body>>, Keep),
    /// Anything else: hyper serves the connection, these bytes first.
    Pass(Vec<u8>),
    /// The client left (or the socket failed) before sending anything.
    Closed,
}

/// What the bytes read so far say.
enum Verdict {
    Stream(Box<Request<Body>>, Keep),
    Pass,
    NeedMore,
}

/// Reads the first request head of a connection from `peer`, at most
/// [`MAX_HEAD_BYTES`]; the caller bounds the time.
pub(super) async fn read(socket: &TcpStream, peer: SocketAddr) -> Head {
    let mut buf = Vec::new();
    loop {
        if socket.readable().await.is_err() {
            return Head::Closed;
        }
        let mut chunk = [0u8; READ_CHUNK];
        let room = READ_CHUNK.min(MAX_HEAD_BYTES - buf.len());
        match socket.try_read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return Head::Closed,
            // A head cut short: hyper says what it says to that.
            Ok(0) => return Head::Pass(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return Head::Closed,
        }
        match classify(&buf, peer) {
            Verdict::Stream(req, keep) => return Head::Stream(req, keep),
            Verdict::NeedMore if buf.len() < MAX_HEAD_BYTES => {}
            Verdict::NeedMore | Verdict::Pass => return Head::Pass(buf),
        }
    }
}

/// Whether `prefix` holds a whole request head (its blank line, CRLF or
/// the bare LF hyper also accepts), so hyper reads no more of it.
pub(super) fn has_complete_head(prefix: &[u8]) -> bool {
    prefix.windows(4).any(|w| w == b"\r\n\r\n") || prefix.windows(2).any(|w| w == b"\n\n")
}

/// Sorts the bytes read so far (`buf`, the connection's first).
fn classify(buf: &[u8], peer: SocketAddr) -> Verdict {
    let n = buf.len().min(STREAM_PREFIX.len());
    if buf[..n] != STREAM_PREFIX[..n] {
        return Verdict::Pass;
    }
    let mut headers = [httparse::EMPTY_HEADER; crate::edge::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Verdict::NeedMore,
        // Bytes after the head (a body, a pipelined request): hyper's job.
        Ok(httparse::Status::Complete(len)) if len == buf.len() => {
            build(&req, peer).map_or(Verdict::Pass, |(r, keep)| Verdict::Stream(r, keep))
        }
        // Too many headers, a bad head, trailing bytes: hyper answers.
        _ => Verdict::Pass,
    }
}

/// The router's request for a parsed head and how its connection goes
/// on, or `None` when it is not a plain HTTP/1.x stream open.
fn build(req: &httparse::Request<'_, '_>, peer: SocketAddr) -> Option<(Box<Request<Body>>, Keep)> {
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return None,
    };
    if req.method != Some("GET") {
        return None;
    }
    let target = req.path?;
    if !is_stream_path(target) {
        return None;
    }
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    let mut connection = None;
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        if !served_here(&name, h.value) {
            return None;
        }
        if name == header::CONNECTION {
            // One option only: two headers saying different things go to hyper.
            let close = h.value.eq_ignore_ascii_case(b"close");
            if connection.replace(close).is_some_and(|c| c != close) {
                return None;
            }
        }
        headers.append(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    let keep = match (version, connection) {
        (Version::HTTP_11, Some(true)) => Keep::Close,
        (Version::HTTP_11, _) => Keep::Alive,
        // A kept-alive 1.0 connection is rare enough to leave to hyper.
        (_, Some(false)) => return None,
        _ => Keep::Http10,
    };
    let mut out = Request::builder()
        .method(Method::GET)
        .uri(Uri::try_from(target).ok()?)
        .version(version)
        .extension(ConnectInfo(peer))
        .body(Body::empty())
        .ok()?;
    *out.headers_mut() = headers;
    Some((Box::new(out), keep))
}

/// `/v1/inbox/<one segment>/stream`, with or without a query.
fn is_stream_path(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    path.strip_prefix("/v1/inbox/")
        .and_then(|rest| rest.strip_suffix("/stream"))
        .is_some_and(|handle| !handle.is_empty() && !handle.contains('/'))
}

/// Whether a request with this header may be served here: a body, an
/// upgrade, an `Expect` or a connection option other than keep-alive or
/// close all go to hyper, which knows what to do with them.
fn served_here(name: &HeaderName, value: &[u8]) -> bool {
    match name.as_str() {
        "content-length" => value == b"0",
        "transfer-encoding" | "upgrade" | "expect" => false,
        "connection" => {
            value.eq_ignore_ascii_case(b"keep-alive") || value.eq_ignore_ascii_case(b"close")
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "203.0.113.7:4000".parse().unwrap()
    }

    fn verdict(head: &str) -> &'static str {
        match classify(head.as_bytes(), peer()) {
            Verdict::Stream(_, Keep::Alive) => "stream",
            Verdict::Stream(_, Keep::Close) => "stream, then close",
            Verdict::Stream(_, Keep::Http10) => "stream over 1.0",
            Verdict::Pass => "pass",
            Verdict::NeedMore => "more",
        }
    }

    #[test]
    fn only_a_plain_complete_stream_open_is_served_here() {
        let open = "GET /v1/inbox/alice/stream?auth=1:ab HTTP/1.1\r\nhost: x\r\n";
        let cases = [
            (format!("{open}\r\n"), "stream"),
            (format!("{open}connection: Keep-Alive\r\n\r\n"), "stream"),
            (format!("{open}content-length: 0\r\n\r\n"), "stream"),
            (open.to_owned(), "more"),
            ("GET /v1/in".to_owned(), "more"),
            ("GET /v1/healthz HTTP/1.1\r\n".to_owned(), "pass"),
            ("POST /v1/inbox/alice/stream".to_owned(), "pass"),
            ("GET /v1/inbox/alice HTTP/1.1\r\n\r\n".to_owned(), "pass"),
            (
                "GET /v1/inbox/a/b/stream HTTP/1.1\r\n\r\n".to_owned(),
                "pass",
            ),
            ("GET /v1/inbox//stream HTTP/1.1\r\n\r\n".to_owned(), "pass"),
            (open.replace("1.1", "1.0") + "\r\n", "stream over 1.0"),
            (
                open.replace("1.1", "1.0") + "Connection: close\r\n\r\n",
                "stream over 1.0",
            ),
            (
                open.replace("1.1", "1.0") + "connection: keep-alive\r\n\r\n",
                "pass",
            ),
            (format!("{open}content-length: 3\r\n\r\n"), "pass"),
            (format!("{open}transfer-encoding: chunked\r\n\r\n"), "pass"),
            (format!("{open}upgrade: websocket\r\n\r\n"), "pass"),
            (format!("{open}expect: 100-continue\r\n\r\n"), "pass"),
            (
                format!("{open}Connection: Close\r\n\r\n"),
                "stream, then close",
            ),
            (
                format!("{open}connection: close\r\nconnection: keep-alive\r\n\r\n"),
                "pass",
            ),
            (format!("{open}connection: close, te\r\n\r\n"), "pass"),
            (
                format!("{open}\r\nGET /v1/healthz HTTP/1.1\r\n\r\n"),
                "pass",
            ),
            (format!("{open}bad header\r\n\r\n"), "pass"),
            (format!("{open}{}\r\n", "x: y\r\n".repeat(200)), "pass"),
        ];
        for (head, want) in cases {
            assert_eq!(verdict(&head), want, "{head:?}");
        }
    }

    #[test]
    fn a_head_is_complete_at_its_blank_line() {
        assert!(has_complete_head(
            b"GET /v1/inbox/a HTTP/1.1\r\nhost: x\r\n\r\n"
        ));
        assert!(has_complete_head(b"GET /v1/inbox/a HTTP/1.1\nhost: x\n\n"));
        assert!(!has_complete_head(
            b"GET /v1/inbox/a HTTP/1.1\r\nhost: x\r\n"
        ));
        assert!(!has_complete_head(b"GET /v1/in"));
    }

    #[test]
    fn the_request_carries_the_head_and_the_peer() {
        let head = "GET /v1/inbox/bob/stream?since=4 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 9\r\nA: 1\r\nA: 2\r\n\r\n";
        let Verdict::Stream(req, _) = classify(head.as_bytes(), peer()) else {
            panic!("not served here");
        };
        assert_eq!(req.uri(), "/v1/inbox/bob/stream?since=4");
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers()["last-event-id"], "9");
        assert_eq!(req.headers().get_all("a").iter().count(), 2);
        let ConnectInfo(got) = req.extensions().get::<ConnectInfo<SocketAddr>>().unwrap();
        assert_eq!(*got, peer());
    }
}
