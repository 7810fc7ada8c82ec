//! TimescaleDB: decided from what the server reports, before anything is tried.
//!
//! The `timescaledb` setting chooses: `auto` (the default) uses the extension where the server
//! can, `off` keeps plain PostgreSQL tables even where it could. With `auto`, [`prepare`]
//! looks before it leaps: is the extension installed (`pg_available_extensions`), already
//! created in this database (`pg_extension`), and is its library in
//! `shared_preload_libraries`? Only then does it run `CREATE EXTENSION`, on its own connection
//! and outside any transaction: TimescaleDB answers an unpreloaded `CREATE EXTENSION` with a
//! FATAL that closes the connection, so no savepoint could catch it.
//!
//! The migrations then read one fact, [`installed`]: where the extension exists in the
//! database, `detections` and `wellness_samples` are hypertables. A database migrated before
//! the extension could be used is converted at the next start ([`upgrade_if_possible`],
//! rows kept). What the edition allows comes last ([`ensure_features`]): the community
//! edition adds compression and the `wellness_daily` continuous aggregate with their policies;
//! the Apache-2 edition (`timescaledb.license = 'apache'`, TimescaleDB's `-oss` packages) has
//! hypertables only, and podium says so once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};

/// The `timescaledb` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Use TimescaleDB where the server can.
    #[default]
    Auto,
    /// Plain PostgreSQL tables, even where TimescaleDB could be used.
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Mode::Auto),
            "off" => Ok(Mode::Off),
            other => Err(format!("`{other}` is not one of auto, off")),
        }
    }
}

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

    /// What an operator should do about it, in one line.
    pub fn advice(&self) -> String {
        match self {
            Unusable::NotPreloaded => "TimescaleDB is installed but not preloaded, so podium \
                uses plain tables: add `shared_preload_libraries = 'timescaledb'` to \
                postgresql.conf and restart PostgreSQL; podium converts its tables into \
                hypertables at its next start"
                .to_owned(),
            Unusable::NotPermitted => "TimescaleDB is installed but this role may not create \
                the extension, so podium uses plain tables: run `CREATE EXTENSION timescaledb` \
                as a superuser; podium converts its tables into hypertables at its next start"
                .to_owned(),
            Unusable::Other(message) => format!(
                "TimescaleDB is installed but `CREATE EXTENSION timescaledb` failed ({message}); \
                 podium uses plain tables"
            ),
        }
    }

    /// A short code for `/readyz`.
    pub fn code(&self) -> &'static str {
        match self {
            Unusable::NotPreloaded => "not_preloaded",
            Unusable::NotPermitted => "not_permitted",
            Unusable::Other(_) => "unusable",
        }
    }
}

/// Which TimescaleDB a database runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edition {
    /// The community (Timescale License) edition: compression and continuous aggregates.
    Community,
    /// The Apache-2 edition: hypertables only.
    Apache,
}

/// What podium uses of TimescaleDB on the connected database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Not PostgreSQL, or the extension is not installed on the server.
    Absent,
    /// The `timescaledb` setting is `off`.
    Off,
    /// Installed but cannot be used (see [`Unusable::advice`]).
    Unusable(Unusable),
    /// The extension exists in this database.
    Ready(Edition),
}

impl Support {
    /// What `/readyz` reports.
    pub fn code(&self) -> &'static str {
        match self {
            Support::Absent => "absent",
            Support::Off => "off",
            Support::Unusable(why) => why.code(),
            Support::Ready(Edition::Community) => "community",
            Support::Ready(Edition::Apache) => "apache",
        }
    }
}

fn sql(s: &str) -> Statement {
    Statement::from_string(DatabaseBackend::Postgres, s.to_owned())
}

async fn count<C: ConnectionTrait>(db: &C, query: &str) -> Result<i64, DbErr> {
    let row = db.query_one(sql(query)).await?;
    match row {
        Some(row) => row.try_get("", "n"),
        None => Ok(0),
    }
}

async fn text<C: ConnectionTrait>(db: &C, query: &str) -> Result<Option<String>, DbErr> {
    match db.query_one(sql(query)).await? {
        Some(row) => row.try_get("", "t"),
        None => Ok(None),
    }
}

/// Whether `shared_preload_libraries` (as the server reports it) names TimescaleDB.
pub fn preloads_timescaledb(shared_preload_libraries: &str) -> bool {
    shared_preload_libraries
        .split(',')
        .map(|lib| lib.trim().trim_matches('"').trim_matches('\''))
        .any(|lib| lib == "timescaledb" || lib.starts_with("timescaledb-"))
}

/// Whether the extension exists in this database (what the migrations follow).
pub async fn installed<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(db.get_database_backend() == DatabaseBackend::Postgres
        && count(
            db,
            "SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'",
        )
        .await?
            > 0)
}

/// The edition the server runs now (`timescaledb.license` can change at run time).
pub async fn edition<C: ConnectionTrait>(db: &C) -> Result<Edition, DbErr> {
    let license = text(
        db,
        "SELECT current_setting('timescaledb.license', true) AS t",
    )
    .await?;
    Ok(match license.as_deref() {
        Some(l) if l.eq_ignore_ascii_case("apache") => Edition::Apache,
        _ => Edition::Community,
    })
}

/// Decides what podium uses of TimescaleDB and creates the extension where it should, before
/// the migrations run. `db` must not be inside a transaction.
pub async fn prepare<C: ConnectionTrait>(db: &C, mode: Mode) -> Result<Support, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(Support::Absent);
    }
    if mode == Mode::Off {
        return Ok(Support::Off);
    }
    if installed(db).await? {
        return Ok(Support::Ready(edition(db).await?));
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
    let preload = text(
        db,
        "SELECT current_setting('shared_preload_libraries') AS t",
    )
    .await?
    .unwrap_or_default();
    if !preloads_timescaledb(&preload) {
        return Ok(Support::Unusable(Unusable::NotPreloaded));
    }
    match db
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS timescaledb")
        .await
    {
        Ok(_) => Ok(Support::Ready(edition(db).await?)),
        Err(e) => Ok(Support::Unusable(Unusable::classify(&e.to_string()))),
    }
}

async fn is_hypertable<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    if !installed(db).await? {
        return Ok(false);
    }
    Ok(count(
        db,
        &format!(
            "SELECT count(*) AS n FROM timescaledb_information.hypertables \
             WHERE hypertable_name = '{table}' AND hypertable_schema = current_schema()"
        ),
    )
    .await?
        > 0)
}

/// Whether raw detections are stored in a hypertable.
pub async fn detections_is_hypertable<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    is_hypertable(db, "detections").await
}

/// Whether `wellness_samples` is a hypertable.
pub async fn wellness_is_hypertable<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    is_hypertable(db, "wellness_samples").await
}

/// The hypertable shape of `detections`' keys. A hypertable's unique indexes must include the
/// time column, so `detections` cannot refuse a read id seen at another instant; the plain
/// path's partial read-id index goes, and ingest keys read ids in `detection_read_ids`
/// instead (filled here from the rows already stored). Only the content key
/// `(event_id, bib, timing_point, ts)` stays unique on the hypertable.
///
/// And no foreign key from the hypertable: TimescaleDB copies it onto every new chunk, which
/// takes a `SHARE ROW EXCLUSIVE` lock on `events` inside the inserting transaction. Two
/// timing systems uploading into one event then deadlock (the second holds `events`' row-level
/// table lock from locking the event row and waits for that row; the first, creating the
/// chunk, waits for the second's table lock: timescale/timescaledb#4800, #7429). Ingest
/// writes detections only under the event's row lock, for an event it has just found, and
/// events are never deleted, so the key held nothing the write path does not.
pub const HYPERTABLE_SHAPE: [&str; 3] = [
    "DROP INDEX IF EXISTS detections_read_id",
    "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_event_id_fkey",
    "INSERT INTO detection_read_ids (event_id, read_id) SELECT DISTINCT event_id, read_id FROM detections WHERE read_id IS NOT NULL ON CONFLICT DO NOTHING",
];

/// Makes `detections` a hypertable, keeping its rows. One day per chunk: an event is one race
/// day, so its reads (and every query of one event) stay in one chunk, and a season of a few
/// hundred events is a few hundred chunks — small enough for the planner, large enough that
/// chunks are not mostly empty.
pub const CREATE_HYPERTABLE: &str = "SELECT create_hypertable('detections', 'ts', chunk_time_interval => INTERVAL '1 day', migrate_data => true)";

/// At start: when the extension exists but `detections` is still a plain table (migrated
/// before the extension could be used), converts it and `wellness_samples` in one
/// transaction, keeping their rows. Returns whether it converted.
pub async fn upgrade_if_possible<C>(db: &C) -> Result<bool, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if !installed(db).await? || detections_is_hypertable(db).await? {
        return Ok(false);
    }
    let txn = db.begin().await?;
    let wellness = crate::m20261203_000006_wellness::CREATE_HYPERTABLE;
    for statement in HYPERTABLE_SHAPE
        .iter()
        .chain([&CREATE_HYPERTABLE, &wellness])
    {
        txn.execute(sql(statement)).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// The operator's choices for what TimescaleDB keeps and compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    /// Wellness chunks older than this many days are compressed.
    pub wellness_compress_after_days: u32,
    /// Raw detections older than this many days are dropped (0: kept forever).
    pub detections_retention_days: u32,
    /// Wellness samples older than this many days are dropped (0: kept forever).
    pub wellness_retention_days: u32,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            wellness_compress_after_days: 30,
            detections_retention_days: 0,
            wellness_retention_days: 0,
        }
    }
}

/// What [`ensure_features`] set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    pub hypertables: bool,
    pub compression: bool,
    pub continuous_aggregates: bool,
    /// Retention policies can be set (`detections_retention_days`, `wellness_retention_days`).
    pub retention: bool,
}

/// Compression of `wellness_samples`: one athlete's samples together, in time order (every
/// read is one athlete's stretch of days).
pub const WELLNESS_COMPRESSION: &str = "ALTER TABLE wellness_samples SET (timescaledb.compress, \
     timescaledb.compress_segmentby = 'athlete_id', timescaledb.compress_orderby = 'at')";

/// Compression of `detections`: one event's reads together, by bib and mat (what recomputing
/// an entry reads).
pub const DETECTIONS_COMPRESSION: &str = "ALTER TABLE detections SET (timescaledb.compress, \
     timescaledb.compress_segmentby = 'event_id', \
     timescaledb.compress_orderby = 'bib, timing_point, ts')";

/// Compresses the detection chunks whose day is over and whose every event is OFFICIAL (the
/// reads a result rests on, kept for lineage and amendments, no longer written by ingest).
/// A job of TimescaleDB's scheduler, hourly; `CALL podium_compress_official_detections(0,
/// NULL)` runs it at once. An amendment that writes into a compressed chunk still works
/// (TimescaleDB decompresses the rows it touches).
pub const COMPRESS_OFFICIAL_DETECTIONS: &str = "CREATE OR REPLACE PROCEDURE \
     podium_compress_official_detections(job_id int, config jsonb) LANGUAGE plpgsql AS $$ \
     DECLARE chunk regclass; chunks regclass[]; \
     BEGIN \
       SELECT coalesce(array_agg(format('%I.%I', c.chunk_schema, c.chunk_name)::regclass \
                                 ORDER BY c.range_start), '{}') INTO chunks \
       FROM timescaledb_information.chunks c \
       WHERE c.hypertable_name = 'detections' AND c.hypertable_schema = current_schema() \
         AND NOT c.is_compressed AND c.range_end < now() \
         AND EXISTS (SELECT 1 FROM detections d \
                     WHERE d.ts >= c.range_start AND d.ts < c.range_end) \
         AND NOT EXISTS (SELECT 1 FROM detections d JOIN events e ON e.id = d.event_id \
                         WHERE d.ts >= c.range_start AND d.ts < c.range_end \
                           AND e.status <> 'OFFICIAL'); \
       FOREACH chunk IN ARRAY chunks LOOP \
         PERFORM compress_chunk(chunk, if_not_compressed => true); \
         COMMIT; \
       END LOOP; \
     END $$";

/// The daily rollup of wellness samples, a continuous aggregate: per athlete, kind and UTC
/// day, how many samples, the activity minutes, the session-RPE load of the rated sessions
/// (RPE clamped to 0–10 × minutes, as `training::session_rpe_load`), how many sessions had no
/// RPE (their load needs the athlete's heart profile: read from the raw samples), and the
/// mean BMQ — what the training-load chart reads instead of every raw sample. TimescaleDB
/// refuses to create a continuous aggregate inside a transaction block, so these run one by
/// one on a plain connection; the policy refreshes the last 400 days hourly, and reads add the
/// days not yet materialised from the raw samples (real-time aggregation), so an answer never
/// lags a sample.
pub const WELLNESS_DAILY: [&str; 4] = [
    "CREATE MATERIALIZED VIEW IF NOT EXISTS wellness_daily \
     WITH (timescaledb.continuous, timescaledb.materialized_only = false, \
           timescaledb.create_group_indexes = false) AS \
     SELECT athlete_id, kind, time_bucket(INTERVAL '1 day', at) AS day, \
            count(*) AS samples, \
            sum(((data::jsonb) -> 'activity' ->> 'durationS')::double precision) / 60 AS activity_minutes, \
            sum(least(greatest(((data::jsonb) -> 'activity' ->> 'rpe')::double precision, 0), 10) \
                * greatest(((data::jsonb) -> 'activity' ->> 'durationS')::double precision / 60, 0)) AS rpe_load, \
            count(*) FILTER (WHERE kind = 'ACTIVITY' AND ((data::jsonb) -> 'activity' ->> 'rpe') IS NULL) AS unrated_activities, \
            avg(((data::jsonb) -> 'bmq' ->> 'value')::double precision) AS bmq_mean, \
            max(recorded_at) AS last_recorded_at \
     FROM wellness_samples \
     GROUP BY athlete_id, kind, time_bucket(INTERVAL '1 day', at) \
     WITH NO DATA",
    // One athlete's days of one kind: the index every read uses, and the only one (no group
    // indexes above). With TimescaleDB's per-column indexes beside it, the planner, without
    // statistics yet, took the per-kind one and filtered a whole season's athletes (78 ms a
    // chart against 3 ms for the raw samples; 0.9 ms on this index).
    "CREATE INDEX IF NOT EXISTS wellness_daily_athlete_kind_day ON wellness_daily (athlete_id, kind, day)",
    "ALTER MATERIALIZED VIEW wellness_daily SET (timescaledb.materialized_only = false)",
    "SELECT add_continuous_aggregate_policy('wellness_daily', \
     start_offset => NULL, end_offset => INTERVAL '1 hour', \
     schedule_interval => INTERVAL '1 hour', if_not_exists => true)",
];

/// Brings `wellness_daily` up to date for samples written or deleted between `from_s` and
/// `to_s` (seconds since the epoch): refreshes their days that lie below the watermark (the
/// days after it are read from the raw samples anyway). `db` must not be inside a transaction.
pub async fn refresh_wellness_rollup<C: ConnectionTrait>(
    db: &C,
    from_s: i64,
    to_s: i64,
) -> Result<(), DbErr> {
    let window = db
        .query_one(sql(&format!(
            "SELECT extract(epoch FROM time_bucket(INTERVAL '1 day', to_timestamp({from_s})))::bigint AS lo, \
                    extract(epoch FROM least( \
                      time_bucket(INTERVAL '1 day', to_timestamp({to_s})) + INTERVAL '1 day', \
                      _timescaledb_functions.to_timestamp( \
                        _timescaledb_functions.cagg_watermark(ca.mat_hypertable_id))))::bigint AS hi \
             FROM _timescaledb_catalog.continuous_agg ca \
             WHERE ca.user_view_name = 'wellness_daily' AND ca.user_view_schema = current_schema()"
        )))
        .await?;
    let Some(window) = window else {
        return Ok(());
    };
    let (lo, hi): (i64, i64) = (window.try_get("", "lo")?, window.try_get("", "hi")?);
    if lo < hi {
        db.execute_unprepared(&format!(
            "CALL refresh_continuous_aggregate('wellness_daily', to_timestamp({lo}), to_timestamp({hi}))"
        ))
        .await?;
    }
    Ok(())
}

/// The rollup's columns podium reads; a `wellness_daily` of an older shape is made again.
const WELLNESS_DAILY_COLUMNS: [&str; 2] = ["rpe_load", "unrated_activities"];

async fn compression_enabled<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    Ok(count(
        db,
        &format!(
            "SELECT count(*) AS n FROM timescaledb_information.hypertables \
             WHERE hypertable_name = '{table}' AND hypertable_schema = current_schema() \
             AND compression_enabled"
        ),
    )
    .await?
        > 0)
}

async fn has_job<C: ConnectionTrait>(db: &C, proc_name: &str) -> Result<bool, DbErr> {
    Ok(count(
        db,
        &format!(
            "SELECT count(*) AS n FROM timescaledb_information.jobs WHERE proc_name = '{proc_name}'"
        ),
    )
    .await?
        > 0)
}

/// Sets up what the edition allows, idempotently, at every start (the policies follow the
/// settings): on the community edition, compression of both hypertables and its jobs, the
/// `wellness_daily` continuous aggregate and its refresh policy, and retention where the
/// operator asked for it; on the Apache-2 edition, none of these. `db` must not be inside a
/// transaction.
pub async fn ensure_features<C: ConnectionTrait>(
    db: &C,
    edition: Edition,
    policies: Policies,
) -> Result<Features, DbErr> {
    if !detections_is_hypertable(db).await? {
        return Ok(Features::default());
    }
    let mut features = Features {
        hypertables: true,
        ..Features::default()
    };
    // Policies (compression, retention, refresh) are the community edition's.
    if edition == Edition::Apache {
        return Ok(features);
    }
    for (table, days) in [
        ("detections", policies.detections_retention_days),
        ("wellness_samples", policies.wellness_retention_days),
    ] {
        db.execute_unprepared(&format!(
            "SELECT remove_retention_policy('{table}', if_exists => true)"
        ))
        .await?;
        if days > 0 {
            db.execute_unprepared(&format!(
                "SELECT add_retention_policy('{table}', drop_after => INTERVAL '{days} days')"
            ))
            .await?;
        }
    }
    features.retention = true;
    if !compression_enabled(db, "wellness_samples").await? {
        db.execute_unprepared(WELLNESS_COMPRESSION).await?;
    }
    db.execute_unprepared(
        "SELECT remove_compression_policy('wellness_samples', if_exists => true)",
    )
    .await?;
    db.execute_unprepared(&format!(
        "SELECT add_compression_policy('wellness_samples', compress_after => INTERVAL '{} days')",
        policies.wellness_compress_after_days.max(1)
    ))
    .await?;
    if !compression_enabled(db, "detections").await? {
        db.execute_unprepared(DETECTIONS_COMPRESSION).await?;
    }
    db.execute_unprepared(COMPRESS_OFFICIAL_DETECTIONS).await?;
    if !has_job(db, "podium_compress_official_detections").await? {
        db.execute_unprepared(
            "SELECT add_job('podium_compress_official_detections', INTERVAL '1 hour')",
        )
        .await?;
    }
    features.compression = true;
    let current = count(
        db,
        &format!(
            "SELECT count(*) AS n FROM information_schema.columns              WHERE table_name = 'wellness_daily' AND table_schema = current_schema()              AND column_name IN ('{}')",
            WELLNESS_DAILY_COLUMNS.join("', '")
        ),
    )
    .await?;
    if has_wellness_rollup(db).await? && current < WELLNESS_DAILY_COLUMNS.len() as i64 {
        db.execute_unprepared("DROP MATERIALIZED VIEW wellness_daily")
            .await?;
    }
    // The refresh window follows the definition above (an older policy refreshed 400 days).
    if has_wellness_rollup(db).await? {
        db.execute_unprepared(
            "SELECT remove_continuous_aggregate_policy('wellness_daily', if_exists => true)",
        )
        .await?;
    }
    for statement in WELLNESS_DAILY {
        db.execute_unprepared(statement).await?;
    }
    features.continuous_aggregates = true;
    Ok(features)
}

/// Whether the `wellness_daily` rollup exists in this database.
pub async fn has_wellness_rollup<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(installed(db).await?
        && count(
            db,
            "SELECT count(*) AS n FROM timescaledb_information.continuous_aggregates \
             WHERE view_name = 'wellness_daily' AND view_schema = current_schema()",
        )
        .await?
            > 0)
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
        assert!(other.advice().contains("plain tables"));
    }

    #[test]
    fn the_wellness_rollup_is_a_continuous_aggregate_bucketed_by_utc_day() {
        let [view, index, _, policy] = WELLNESS_DAILY;
        assert!(index.contains("(athlete_id, kind, day)"));
        assert!(view.contains("WITH (timescaledb.continuous"));
        assert!(view.contains("time_bucket(INTERVAL '1 day', at)"));
        assert!(
            view.contains("WITH NO DATA"),
            "no refresh inside the creation"
        );
        for column in WELLNESS_DAILY_COLUMNS {
            assert!(view.contains(&format!("AS {column}")), "{column}");
        }
        assert!(
            policy.contains("if_not_exists => true"),
            "runs at every start"
        );
    }

    #[test]
    fn the_preload_list_is_read_as_the_server_writes_it() {
        assert!(preloads_timescaledb("timescaledb"));
        assert!(preloads_timescaledb("pg_stat_statements, timescaledb"));
        assert!(preloads_timescaledb("'timescaledb'"));
        assert!(preloads_timescaledb("timescaledb-2.28.3"));
        assert!(!preloads_timescaledb(""));
        assert!(!preloads_timescaledb("pg_stat_statements"));
        assert!(!preloads_timescaledb("timescaledb_toolkit"));
    }

    #[test]
    fn the_setting_reads_auto_and_off_and_names_a_wrong_value() {
        assert_eq!("auto".parse::<Mode>(), Ok(Mode::Auto));
        assert_eq!(" OFF ".parse::<Mode>(), Ok(Mode::Off));
        assert!("on".parse::<Mode>().unwrap_err().contains("auto, off"));
    }
}
