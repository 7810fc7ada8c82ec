//! `podium backup FILE` and `podium restore FILE`: a consistent copy of the configured
//! database while the server runs, and its restore into a new, empty database
//! (`podium_persistence::backup`; docs/operations.md says what goes with it).

use crate::config::Settings;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the backup (must not exist): a SQLite database file for SQLite, a
    /// `pg_dump` custom-format archive for PostgreSQL.
    pub file: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A file written by `podium backup` (or `pg_dump --format=custom`).
    pub file: PathBuf,
}

pub async fn backup(settings: Settings, args: &BackupArgs) -> anyhow::Result<()> {
    let url = settings.effective_database_url();
    let written = podium_persistence::backup::backup(&url, &args.file).await?;
    println!(
        "wrote {} ({}, {} bytes)",
        written.file.display(),
        written.format,
        written.bytes
    );
    if settings.secrets_key.is_some() {
        println!("signing keys and webhook secrets in it are sealed with this secrets_key: keep the key with the backup, apart from it");
    }
    Ok(())
}

pub async fn restore(settings: Settings, args: &RestoreArgs) -> anyhow::Result<()> {
    let url = settings.effective_database_url();
    podium_persistence::backup::restore(&args.file, &url).await?;
    println!("restored {} and migrated it", args.file.display());
    Ok(())
}
