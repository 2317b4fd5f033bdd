//! Web Push (RFC 8030 + VAPID RFC 8292): subscriptions signed by the handle's
//! key, and empty-payload fanout after a message is stored.
//!
//! Placeholder until the push issue lands: no routes, `notify` does nothing.

use axum::Router;

use crate::config::Config;
use crate::state::AppState;
use crate::store::Store;

/// Routes owned by Web Push.
pub fn router() -> Router<AppState> {
    Router::new()
}

/// Handle to the push subsystem held in `AppState`.
#[derive(Clone)]
pub struct PushService {}

impl PushService {
    /// Builds the push subsystem from configuration.
    pub fn new(_config: &Config, _store: &Store) -> anyhow::Result<Self> {
        Ok(Self {})
    }

    /// Schedules a push to every subscription of `handle`; never blocks.
    pub fn notify(&self, _handle: &str) {}
}
