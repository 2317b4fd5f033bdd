//! The `kez-chat-server` binary: parse flags, start, serve until a signal
//! (or until a critical task fails, then exit non-zero), stop.

use clap::Parser;
use kez_chat_server::{config::Config, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::parse();
    if let Some(dest) = &config.backup_to {
        kez_chat_server::store::backup(&config.db, dest)?;
        tracing::info!(to = %dest.display(), "backup written");
        return Ok(());
    }
    let running = server::start(config).await?;
    running.run_until(server::shutdown_signal()).await
}
