//! Storage adapters for podium: SeaORM over SQLite (the embedded default) and PostgreSQL
//! (with TimescaleDB when available). Implements `podium_domain::ports::RaceRepository`.

mod access;
mod analytics;
mod athletes;
pub mod backup;
mod changes;
mod convert;
pub mod entities;
mod flagging;
mod ingest;
mod officiating;
mod prediction;
mod race;
mod recompute;
mod repository;
mod segments;
pub mod testing;
mod webhooks;
mod wellness;

pub use podium_migrations::timescale;
pub use repository::{Pool, SeaRepository};

use podium_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use std::time::Duration;

pub use sea_orm::DatabaseConnection as Connection;

/// Connects to `url` (`sqlite://…?mode=rwc` or `postgres://…`), waiting at most 3 s for a
/// free connection (see [`connect_with`]).
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, Duration::from_secs(3)).await
}

/// Connects to `url`; a query that gets no connection within `acquire_timeout` (the database
/// is down, or every connection busy) fails as `RepoError::Unavailable` instead of waiting.
///
/// In-memory SQLite is refused: each connection to it is a database of its own, so the pool
/// replacing a connection (a cancelled query drops one) would silently lose every table.
pub async fn connect_with(
    url: &str,
    acquire_timeout: Duration,
) -> anyhow::Result<DatabaseConnection> {
    if is_in_memory_sqlite(url) {
        anyhow::bail!(
            "database_url `{url}` is an in-memory SQLite database, which loses every table when \
             a connection is replaced; use a file instead, e.g. `sqlite:///tmp/podium.db?mode=rwc` \
             (or leave database_url unset for the file in the data directory)"
        );
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(acquire_timeout)
        .acquire_timeout(acquire_timeout);
    if url.starts_with("sqlite:") {
        options.max_connections(8);
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // WAL lets readers proceed while a writer commits; writers queue on the busy timeout.
        db.execute(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA journal_mode=WAL",
        ))
        .await?;
    }
    Ok(db)
}

fn is_in_memory_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:") && (url.contains(":memory:") || url.contains("mode=memory"))
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Makes raw detections a TimescaleDB hypertable when the server can (converting an existing
/// plain table, rows kept), and says what the server can do and whether it converted now.
pub async fn upgrade_to_timescaledb(
    db: &DatabaseConnection,
) -> anyhow::Result<(podium_migrations::timescale::Support, bool)> {
    let upgraded = podium_migrations::timescale::upgrade_if_possible(db).await?;
    // Continuous aggregates cannot be created in a transaction: on the plain connection.
    podium_migrations::timescale::ensure_wellness_rollup(db).await?;
    Ok(upgraded)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn in_memory_sqlite_is_refused_with_a_way_out() {
        for url in [
            "sqlite::memory:",
            "sqlite://file:x?mode=memory&cache=shared",
        ] {
            let err = super::connect(url).await.unwrap_err().to_string();
            assert!(err.contains("in-memory SQLite"), "{err}");
            assert!(err.contains("use a file"), "{err}");
        }
    }
}
