//! One try of a push and what its outcome means: delivered, gone, retry
//! (after how long) or failed, and transport errors described without the
//! endpoint. Pure functions of the answer, so the retry policy is tested
//! without a push service.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};

use super::super::endpoint::NoPublicAddress;

const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// The result of one try.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Attempt {
    Delivered,
    /// 404/410: the subscription expired or was withdrawn (RFC 8030 §7.3).
    Gone(StatusCode),
    /// The endpoint is no longer one this server sends to (the policy
    /// changed since it was stored): dropped, so the client's self-heal
    /// check sees it gone and the user gets the reason on re-subscribing.
    Refused,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Failed(String),
}

/// What one answer of a push service means for this delivery.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap) -> Attempt {
    match status.as_u16() {
        200..=299 => Attempt::Delivered,
        404 | 410 => Attempt::Gone(status),
        408 | 429 | 500..=599 => Attempt::Retry {
            after: retry_after(headers, chrono::Utc::now()),
            why: format!("push service answered {}", status.as_u16()),
        },
        _ => Attempt::Failed(format!("push service answered {}", status.as_u16())),
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - now).num_seconds().max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// The wait before try `attempt + 1` when the push service named none:
/// doubling from [`BACKOFF_BASE`], capped at 2⁸ of it.
pub(super) fn backoff(attempt: u32) -> Duration {
    BACKOFF_BASE.saturating_mul(1 << attempt.saturating_sub(1).min(8))
}

/// Whether the SSRF resolver refused the endpoint's addresses (no retry).
pub(crate) fn is_refused_address(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<NoPublicAddress>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A transport error as fixed categories: never the URL, and never a cause's
/// own text, which can name the endpoint's host (e.g. a TLS name mismatch).
pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let category = if cause.is::<rustls::Error>() {
            Some("TLS error".to_owned())
        } else {
            cause
                .downcast_ref::<std::io::Error>()
                .map(|io| io.kind().to_string())
        };
        if let Some(c) = category {
            out.push_str(": ");
            out.push_str(&c);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::push::sender::build_client;

    #[tokio::test]
    async fn transport_errors_are_described_without_the_endpoint() {
        let client = build_client(true).unwrap();
        let e = client
            .post("http://127.0.0.1:1/push/secret-token")
            .send()
            .await
            .unwrap_err();
        let text = describe(&e);
        assert_eq!(text, "cannot connect: connection refused");
        assert!(
            e.to_string().contains("127.0.0.1"),
            "reqwest's own text would leak it"
        );
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let none = HeaderMap::new();
        assert_eq!(classify(StatusCode::CREATED, &none), Attempt::Delivered);
        assert_eq!(
            classify(StatusCode::GONE, &none),
            Attempt::Gone(StatusCode::GONE)
        );
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &none),
            Attempt::Gone(StatusCode::NOT_FOUND)
        );
        for s in [429, 500, 502, 503] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(classify(status, &none), Attempt::Retry { .. }),
                "{s}"
            );
        }
        for s in [301, 400, 401, 403, 413] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(matches!(classify(status, &none), Attempt::Failed(_)), "{s}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-05-25T03:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&h, now)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            with("Mon, 25 May 2026 03:00:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(with("Mon, 25 May 2026 02:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
    }
}
