//! How the bridge connects: its CONNECT options, the wait for this
//! process's auth callout, and what to say when it is refused.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::NatsStats;
use crate::nats::callout::CalloutStats;

/// Longest wait for this process's auth callout before the first connect.
const CALLOUT_WAIT: Duration = Duration::from_secs(5);

/// Resolves once `callout` is ready, after [`CALLOUT_WAIT`], or at once
/// without a callout.
pub(super) async fn wait_for_callout(callout: Option<&CalloutStats>) {
    if let Some(callout) = callout {
        let _ = tokio::time::timeout(CALLOUT_WAIT, callout.ready()).await;
    }
}

/// The bridge's options: the instance `token` if any, no echo (our own
/// messages are already delivered locally), readiness cleared on a
/// disconnect and `reconnected` notified on every (re)connect.
pub(super) fn options(
    token: Option<&str>,
    stats: &Arc<NatsStats>,
    reconnected: &Arc<Notify>,
) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new();
    if let Some(token) = token {
        options = options.token(token.to_owned());
    }
    let (stats, reconnected) = (stats.clone(), reconnected.clone());
    options
        .name("kez-chat-server")
        .no_echo()
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| {
            match event {
                async_nats::Event::Disconnected => {
                    stats.ready.send_replace(false);
                }
                async_nats::Event::Connected => reconnected.notify_one(),
                _ => {}
            }
            async move { tracing::info!(%event, "NATS connection event") }
        })
}

/// What to check when nats-server refused the bridge's CONNECT.
pub(super) fn auth_hint(e: &anyhow::Error) -> &'static str {
    if format!("{e:#}")
        .to_lowercase()
        .contains("authorization violation")
    {
        "is --nats-instance-token-file the deployment's token, and is some instance's auth callout ready?"
    } else {
        ""
    }
}
