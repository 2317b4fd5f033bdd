//! A raw HTTP/1.1 client over TCP (no HTTP library), for tests that check
//! the exact bytes a client reads: heads, chunks, the end of a connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TestApp, within};

/// A whole `GET /v1/healthz` head: the plainest request a raw client sends.
pub const HEALTHZ: &[u8] = b"GET /v1/healthz HTTP/1.1\r\nhost: x\r\n\r\n";

/// A raw HTTP/1.1 client connection and what it read but did not consume.
pub struct Raw {
    pub s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(app: &TestApp) -> Self {
        let s = TcpStream::connect(app.addr()).await.unwrap();
        Self { s, buf: Vec::new() }
    }

    /// A connection from `ip` (another loopback address, another client).
    pub async fn connect_from(app: &TestApp, ip: [u8; 4]) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((ip, 0).into()).unwrap();
        let s = socket.connect(app.addr()).await.unwrap();
        Self { s, buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    /// Reads more; `false` at the end of the connection.
    pub async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match within(10, "bytes from the server", self.s.read(&mut chunk)).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Takes `n` bytes once they are in.
    pub async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed early");
        }
        self.buf.drain(..n).collect()
    }

    /// Takes the next line (CRLF cut off).
    pub async fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.take(at + 2).await;
                return String::from_utf8_lossy(&line[..at]).into_owned();
            }
            assert!(self.fill().await, "connection closed mid-line");
        }
    }

    /// Takes a response head: its status line and header lines.
    pub async fn head(&mut self) -> (String, Vec<(String, String)>) {
        let status = self.line().await;
        let mut headers = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return (status, headers);
            }
            let (n, v) = line.split_once(": ").expect("a header line");
            headers.push((n.to_owned(), v.to_owned()));
        }
    }

    /// Takes a `content-length` body.
    pub async fn body(&mut self, headers: &[(String, String)]) -> String {
        let n = value(headers, "content-length").parse().unwrap();
        String::from_utf8(self.take(n).await).unwrap()
    }

    /// Takes chunks until their data holds `needle`; the de-chunked data.
    pub async fn chunks_until(&mut self, needle: &str) -> String {
        let mut data = String::new();
        while !data.contains(needle) {
            let size = usize::from_str_radix(&self.line().await, 16).unwrap();
            assert!(size > 0, "the stream ended before {needle:?}: {data}");
            data.push_str(&String::from_utf8(self.take(size).await).unwrap());
            assert_eq!(self.take(2).await, b"\r\n");
        }
        data
    }

    /// Takes bare bytes (a close-delimited body) until they hold `needle`.
    pub async fn bytes_until(&mut self, needle: &str) -> String {
        while !String::from_utf8_lossy(&self.buf).contains(needle) {
            assert!(self.fill().await, "the stream ended before {needle:?}");
        }
        String::from_utf8(std::mem::take(&mut self.buf)).unwrap()
    }

    /// Everything up to the end of the connection.
    pub async fn rest(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}

/// The value of header `name` (lowercase) in `headers`.
pub fn value<'h>(headers: &'h [(String, String)], name: &str) -> &'h str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}
