//! TimescaleDB: decided by what the server can do, not by what is installed.
//!
//! A server may list `timescaledb` in `pg_available_extensions` (the package is installed) and
//! still refuse `CREATE EXTENSION` — most often because the library is not in
//! `shared_preload_libraries` (right after installing the package, and on managed hosts),
//! sometimes for lack of privilege. podium then keeps plain tables and says how to enable
//! hypertables; once the extension can be created, `podium serve` (and `podium migrate`)
//! convert the existing `detections` table at start, keeping its rows
//! (`create_hypertable(…, migrate_data => true)`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

/// Why TimescaleDB cannot be used on a server that has it installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// The library is not preloaded: add it to `shared_preload_libraries` and restart.
    NotPreloaded,
    /// The database role may not create the extension.
    NotPermitted,
    /// Anything else, with the server's message.
    Other(String),
}

impl Unusable {
    /// Reads the error PostgreSQL returned for `CREATE EXTENSION timescaledb`.
    pub fn classify(message: &str) -> Self {
        let m = message.to_ascii_lowercase();
        if m.contains("must be preloaded") || m.contains("shared_preload_libraries") {
            Unusable::NotPreloaded
        } else if m.contains("permission denied") || m.contains("must be owner") {
            Unusable::NotPermitted
        } else {
            Unusable::Other(message.to_owned())
        }
    }

    /// What an operator should do about it.
    pub fn advice(&self) -> String {
        match self {
            Unusable::NotPreloaded => "TimescaleDB is installed but not preloaded: add \
                `shared_preload_libraries = 'timescaledb'` to postgresql.conf and restart \
                PostgreSQL; podium converts `detections` into a hypertable at its next start"
                .to_owned(),
            Unusable::NotPermitted => "TimescaleDB is installed but this role may not create \
                the extension: run `CREATE EXTENSION timescaledb` as a superuser; podium \
                converts `detections` into a hypertable at its next start"
                .to_owned(),
            Unusable::Other(message) => format!(
                "TimescaleDB is installed but `CREATE EXTENSION timescaledb` failed ({message}); \
                 raw detections stay in a plain table"
            ),
        }
    }
}

/// What the connected server can do with TimescaleDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Not PostgreSQL, or the extension is not installed.
    Absent,
    /// Installed but cannot be used (see [`Unusable::advice`]).
    Unusable(Unusable),
    /// The extension exists in this database.
    Ready,
}

fn sql(backend: DatabaseBackend, s: &str) -> Statement {
    Statement::from_string(backend, s.to_owned())
}

async fn count<C: ConnectionTrait>(db: &C, query: &str) -> Result<i64, DbErr> {
    let row = db.query_one(sql(DatabaseBackend::Postgres, query)).await?;
    match row {
        Some(row) => row.try_get("", "n"),
        None => Ok(0),
    }
}

/// Creates the extension when the server can, inside the caller's transaction (a savepoint
/// keeps a refusal from aborting it), and says what the server can do.
pub async fn enable<C: ConnectionTrait>(db: &C) -> Result<Support, DbErr> {
    let backend = db.get_database_backend();
    if backend != DatabaseBackend::Postgres {
        return Ok(Support::Absent);
    }
    if count(
        db,
        "SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'timescaledb'",
    )
    .await?
        == 0
    {
        return Ok(Support::Absent);
    }
    db.execute(sql(backend, "SAVEPOINT podium_timescaledb"))
        .await?;
    match db
        .execute(sql(backend, "CREATE EXTENSION IF NOT EXISTS timescaledb"))
        .await
    {
        Ok(_) => {
            db.execute(sql(backend, "RELEASE SAVEPOINT podium_timescaledb"))
                .await?;
            Ok(Support::Ready)
        }
        Err(e) => {
            db.execute(sql(backend, "ROLLBACK TO SAVEPOINT podium_timescaledb"))
                .await?;
            Ok(Support::Unusable(Unusable::classify(&e.to_string())))
        }
    }
}

/// Whether raw detections are stored in a hypertable.
pub async fn detections_is_hypertable<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres
        || count(
            db,
            "SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'",
        )
        .await?
            == 0
    {
        return Ok(false);
    }
    Ok(count(
        db,
        "SELECT count(*) AS n FROM timescaledb_information.hypertables \
         WHERE hypertable_name = 'detections' AND hypertable_schema = current_schema()",
    )
    .await?
        > 0)
}

/// The hypertable shape of `detections`' keys. A hypertable's unique indexes must include the
/// time column, so `detections` cannot refuse a read id seen at another instant; the plain
/// path's partial read-id index goes, and ingest keys read ids in `detection_read_ids`
/// instead (filled here from the rows already stored). Only the content key
/// `(event_id, bib, timing_point, ts)` stays unique on the hypertable.
pub const HYPERTABLE_SHAPE: [&str; 2] = [
    "DROP INDEX IF EXISTS detections_read_id",
    "INSERT INTO detection_read_ids (event_id, read_id) SELECT DISTINCT event_id, read_id FROM detections WHERE read_id IS NOT NULL ON CONFLICT DO NOTHING",
];

/// Makes `detections` a hypertable, keeping its rows. One day per chunk: an event is one race
/// day, so its reads (and every query of one event) stay in one chunk, and a season of a few
/// hundred events is a few hundred chunks — small enough for the planner, large enough that
/// chunks are not mostly empty.
pub const CREATE_HYPERTABLE: &str = "SELECT create_hypertable('detections', 'ts', chunk_time_interval => INTERVAL '1 day', migrate_data => true)";

/// Test-only: `TEST_HYPERTABLE_SHAPE` set while migrating plain PostgreSQL gives `detections`
/// the hypertable's keys without TimescaleDB, so the hypertable ingest path runs and is
/// measured where TimescaleDB cannot be installed (CI runs the race day and `ingest_bench`
/// on it).
pub fn hypertable_shape_requested() -> bool {
    std::env::var_os("TEST_HYPERTABLE_SHAPE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// At start: when `detections` is a plain table but the server can now create the extension,
/// converts it (one transaction). Returns what the server can do, for the caller to log.
pub async fn upgrade_if_possible<C>(db: &C) -> Result<(Support, bool), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok((Support::Absent, false));
    }
    if detections_is_hypertable(db).await? {
        return Ok((Support::Ready, false));
    }
    let txn = db.begin().await?;
    let support = enable(&txn).await?;
    if support != Support::Ready {
        txn.rollback().await?;
        return Ok((support, false));
    }
    let wellness = crate::m20261203_000006_wellness::CREATE_HYPERTABLE;
    for statement in HYPERTABLE_SHAPE
        .iter()
        .chain([&CREATE_HYPERTABLE, &wellness])
    {
        txn.execute(sql(DatabaseBackend::Postgres, statement))
            .await?;
    }
    txn.commit().await?;
    Ok((Support::Ready, true))
}

/// The daily rollup of wellness samples, a continuous aggregate: per athlete, kind and UTC
/// day, how many samples, the activity minutes, and the mean BMQ — what a dashboard or a
/// report over many athletes reads instead of the raw samples. TimescaleDB refuses to create
/// a continuous aggregate inside a transaction block, so these run one by one on a plain
/// connection ([`ensure_wellness_rollup`]); the policy refreshes the last 400 days hourly,
/// leaving the current hour to real-time reads.
pub const WELLNESS_DAILY: [&str; 2] = [
    "CREATE MATERIALIZED VIEW IF NOT EXISTS wellness_daily \
     WITH (timescaledb.continuous) AS \
     SELECT athlete_id, kind, time_bucket(INTERVAL '1 day', at) AS day, \
            count(*) AS samples, \
            sum(((data::jsonb) -> 'activity' ->> 'durationS')::double precision) / 60 AS activity_minutes, \
            avg(((data::jsonb) -> 'bmq' ->> 'value')::double precision) AS bmq_mean, \
            max(recorded_at) AS last_recorded_at \
     FROM wellness_samples \
     GROUP BY athlete_id, kind, time_bucket(INTERVAL '1 day', at) \
     WITH NO DATA",
    "SELECT add_continuous_aggregate_policy('wellness_daily', \
     start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 hour', \
     schedule_interval => INTERVAL '1 hour', if_not_exists => true)",
];

/// Whether `wellness_samples` is a hypertable.
pub async fn wellness_is_hypertable<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(detections_is_hypertable(db).await?
        && count(
            db,
            "SELECT count(*) AS n FROM timescaledb_information.hypertables \
             WHERE hypertable_name = 'wellness_samples' AND hypertable_schema = current_schema()",
        )
        .await?
            > 0)
}

/// Creates the daily wellness rollup where `wellness_samples` is a hypertable, each statement
/// on its own outside any transaction (`db` must not be one). Returns whether it is there.
pub async fn ensure_wellness_rollup<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if !wellness_is_hypertable(db).await? {
        return Ok(false);
    }
    for statement in WELLNESS_DAILY {
        db.execute_unprepared(statement).await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_refusals_are_told_apart() {
        // What PostgreSQL answers when the package is installed but not preloaded.
        let not_preloaded = "Execution Error: error returned from database: extension \
            \"timescaledb\" must be preloaded";
        assert_eq!(Unusable::classify(not_preloaded), Unusable::NotPreloaded);
        assert!(Unusable::NotPreloaded
            .advice()
            .contains("shared_preload_libraries = 'timescaledb'"));
        let denied = "error returned from database: permission denied to create extension \
            \"timescaledb\"";
        assert_eq!(Unusable::classify(denied), Unusable::NotPermitted);
        let other = Unusable::classify("could not open extension control file");
        assert!(matches!(other, Unusable::Other(_)));
        assert!(other.advice().contains("plain table"));
    }

    #[test]
    fn the_wellness_rollup_is_a_continuous_aggregate_bucketed_on_the_time_column() {
        let [view, policy] = WELLNESS_DAILY;
        assert!(view.contains("WITH (timescaledb.continuous)"));
        assert!(view.contains("time_bucket(INTERVAL '1 day', at)"));
        assert!(
            view.contains("WITH NO DATA"),
            "no refresh inside the creation"
        );
        assert!(!view.to_ascii_uppercase().contains("BEGIN"));
        assert!(policy.contains("add_continuous_aggregate_policy('wellness_daily'"));
        assert!(
            policy.contains("if_not_exists => true"),
            "runs at every start"
        );
    }
}
