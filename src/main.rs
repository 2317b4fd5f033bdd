//! The `kez-chat-server` binary: parse flags, start, serve until a signal
//! (or until a critical task fails, then exit non-zero), stop.

use clap::Parser;
use kez_chat_server::{config::Config, server, telemetry};

/// jemalloc rather than glibc's malloc (issue 14): it gives memory back
/// after a burst of closed streams (glibc kept the peak: 313 MB vs 14.5 MB
/// fresh after 10k streams), and an idle stream's 8 KiB hyper buffers,
/// page-aligned and mostly unwritten, stay partly unbacked. It is also the
/// C `malloc` (Cargo.toml), so SQLite's page caches live on it too. Its
/// settings (purging) are in `.cargo/config.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::parse();
    if let Some(dest) = &config.backup_to {
        anyhow::ensure!(
            config.database_url.is_none(),
            "--backup-to copies the SQLite database; with --database-url use PostgreSQL's \
             own tools (pg_dump, or continuous archiving)"
        );
        kez_chat_server::store::backup(&config.db, dest)?;
        tracing::info!(to = %dest.display(), "backup written");
        return Ok(());
    }
    let runtime = config.runtime.build()?;
    if config.copy_to_postgres {
        let options = config.postgres()?.expect("clap requires --database-url");
        let copied = runtime.block_on(kez_chat_server::store::copy_to_postgres(
            &config.db, &options,
        ))?;
        for (table, rows) in copied {
            tracing::info!(table, rows, "copied");
        }
        tracing::info!("copy to PostgreSQL done: start the servers with --database-url");
        return Ok(());
    }
    runtime.block_on(async {
        let running = server::start(config).await?;
        running.run_until(server::shutdown_signal()).await
    })
}
