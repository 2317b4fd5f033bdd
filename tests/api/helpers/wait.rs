//! Bounded waits on observable conditions: tests never sleep for a fixed
//! time and hope.

use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is re-checked.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `cond` until it holds, for at most `secs` seconds; panics naming
/// `what` otherwise.
pub async fn wait_for(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// `fut`'s output, or a panic naming `what` after `secs` seconds.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs} s waiting for {what}"))
}
