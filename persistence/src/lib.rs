//! Storage adapters for podium: SeaORM over SQLite (the embedded default) and PostgreSQL
//! (with TimescaleDB when available). Implements `podium_domain::ports::RaceRepository`.

mod access;
mod athletes;
mod convert;
pub mod entities;
mod officiating;
mod recompute;
mod repository;
pub mod testing;
mod webhooks;

pub use repository::SeaRepository;

use podium_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use std::time::Duration;

pub use sea_orm::DatabaseConnection as Connection;

/// Connects to `url` (`sqlite://…?mode=rwc`, `sqlite::memory:` or `postgres://…`).
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    if url.contains(":memory:") || url.contains("mode=memory") {
        // Each connection to an in-memory SQLite database is a database of its own.
        options.max_connections(1).min_connections(1);
    } else if url.starts_with("sqlite:") {
        options.max_connections(8);
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite && !url.contains(":memory:") {
        // WAL lets readers proceed while a writer commits; writers queue on the busy timeout.
        db.execute(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA journal_mode=WAL",
        ))
        .await?;
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Whether this database uses TimescaleDB for raw detections.
pub async fn uses_timescaledb(db: &DatabaseConnection) -> anyhow::Result<bool> {
    Ok(podium_migrations::timescaledb_available(db).await?)
}
