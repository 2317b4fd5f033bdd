//! The `kez-chat-server` binary: parse flags, start, wait for a signal, stop.

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
    server::shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
