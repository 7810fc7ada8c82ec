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

use anyhow::Context;
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

/// What podium uses of TimescaleDB on its database, decided at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timescale {
    /// What the server can do, and what the `timescaledb` setting allows.
    pub support: timescale::Support,
    /// Plain tables migrated before were converted into hypertables at this start.
    pub converted: bool,
    /// What the edition allowed to set up.
    pub features: timescale::Features,
}

impl Timescale {
    /// The one line an operator reads in the log about TimescaleDB, if any.
    pub fn summary(&self) -> Option<String> {
        use timescale::{Edition, Support};
        Some(match &self.support {
            Support::Absent => return None,
            Support::Off => {
                "TimescaleDB is off (setting `timescaledb = off`): plain PostgreSQL tables"
                    .to_owned()
            }
            Support::Unusable(why) => why.advice(),
            Support::Ready(Edition::Apache) => "TimescaleDB (Apache-2 edition): detections and \
                wellness samples are hypertables; no compression and no continuous aggregates \
                (they need the community edition)"
                .to_owned(),
            Support::Ready(Edition::Community) => format!(
                "TimescaleDB (community edition): detections and wellness samples are \
                 hypertables{}, compressed by policy, wellness_daily rolled up",
                if self.converted {
                    " (converted from plain tables now)"
                } else {
                    ""
                }
            ),
        })
    }
}

/// Decides what podium uses of TimescaleDB (creating the extension where `mode` and the
/// server allow), applies every pending migration, converts plain tables migrated before the
/// extension could be used, and sets up what the edition allows with `policies`.
pub async fn prepare_and_migrate(
    db: &DatabaseConnection,
    mode: timescale::Mode,
    policies: timescale::Policies,
) -> anyhow::Result<Timescale> {
    let support = timescale::prepare(db, mode)
        .await
        .context("asking the server about TimescaleDB")?;
    migrate(db).await?;
    let (converted, features) = match support {
        timescale::Support::Ready(edition) => (
            timescale::upgrade_if_possible(db)
                .await
                .context("converting detections and wellness samples into hypertables")?,
            timescale::ensure_features(db, edition, policies)
                .await
                .context("setting up TimescaleDB's compression, rollup and retention")?,
        ),
        _ => (false, timescale::Features::default()),
    };
    Ok(Timescale {
        support,
        converted,
        features,
    })
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
