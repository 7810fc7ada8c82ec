//! `result_splits`: one row per finished entry of an official event, its start and its splits
//! as a JSON object keyed by segment code (`{"RUN_1": [index, span, kind, ms, elapsed_ms]}`,
//! kind `M` measured, `G` merged over missed mats, `E` estimated), with what cross-event
//! queries filter on (athlete, division, age group, season, venue, course). It replaces the table `segment_times` (one row per split), whose 2.4 million rows
//! for 100,000 imported results doubled the import's time; `segment_times` stays, as a view
//! over these rows with the same columns (`ended_ms`, Unix ms, for `ended_at`), for SQL readers.
//!
//! Written in the transaction that makes the results official and kept in step in the
//! transaction of every amendment after (see `persistence::segments`). A plain table on
//! TimescaleDB too: rows are keyed by entry and rewritten when it is recomputed, which a
//! hypertable's unique keys (they must include the time column) cannot express.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResultSplits {
    Table,
    EntryId,
    EventId,
    AthleteId,
    Bib,
    Course,
    Category,
    Gender,
    AgeGroup,
    Season,
    VenueId,
    StartedMs,
    Splits,
}

/// The columns of the view over `r` (a row) and `s` (one of its splits: `key`, `value`), the
/// same SQL on both backends (`->>` reads an array element on both).
const VIEW_COLUMNS: &str = "r.entry_id, CAST(s.value ->> 0 AS INTEGER) AS seg_index, \
      r.event_id, r.athlete_id, r.bib, s.key AS segment, CAST(s.value ->> 1 AS INTEGER) AS span, \
      CASE s.value ->> 2 WHEN 'M' THEN 'MEASURED' WHEN 'G' THEN 'MERGED' \
        WHEN 'E' THEN 'ESTIMATED' END AS kind, \
      CAST(s.value ->> 3 AS BIGINT) AS duration_ms, \
      r.started_ms + CAST(s.value ->> 4 AS BIGINT) AS ended_ms, \
      r.course, r.category, r.gender, r.age_group, r.season, r.venue_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("segment_times")).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ResultSplits::Table)
                    .col(
                        ColumnDef::new(ResultSplits::EntryId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ResultSplits::EventId).uuid().not_null())
                    .col(ColumnDef::new(ResultSplits::AthleteId).uuid().not_null())
                    .col(ColumnDef::new(ResultSplits::Bib).text().not_null())
                    .col(ColumnDef::new(ResultSplits::Course).text().not_null())
                    .col(ColumnDef::new(ResultSplits::Category).text().not_null())
                    .col(ColumnDef::new(ResultSplits::Gender).text().not_null())
                    .col(ColumnDef::new(ResultSplits::AgeGroup).text())
                    .col(ColumnDef::new(ResultSplits::Season).integer().not_null())
                    .col(ColumnDef::new(ResultSplits::VenueId).uuid())
                    .col(
                        ColumnDef::new(ResultSplits::StartedMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ResultSplits::Splits)
                            .json_binary()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // A division of an event (leaderboards and competition statistics read a list of
        // events' slices, an athlete's percentiles one event's); an athlete's own rows.
        manager
            .create_index(
                Index::create()
                    .name("result_splits_division")
                    .table(ResultSplits::Table)
                    .col(ResultSplits::EventId)
                    .col(ResultSplits::Category)
                    .col(ResultSplits::Gender)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("result_splits_athlete")
                    .table(ResultSplits::Table)
                    .col(ResultSplits::AthleteId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let splits = match db.get_database_backend() {
            DatabaseBackend::Postgres => "CROSS JOIN LATERAL jsonb_each(r.splits) AS s(key, value)",
            _ => ", json_each(r.splits) AS s",
        };
        db.execute_unprepared(&format!(
            "CREATE VIEW segment_times AS SELECT {VIEW_COLUMNS} FROM result_splits r {splits}"
        ))
        .await?;
        // Every official event is written again at the next start
        // (`persistence::segments::backfill`).
        db.execute_unprepared("DELETE FROM segment_times_pending")
            .await?;
        db.execute_unprepared(
            "INSERT INTO segment_times_pending (event_id) \
             SELECT id FROM events WHERE status = 'OFFICIAL'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP VIEW segment_times").await?;
        manager
            .drop_table(Table::drop().table(ResultSplits::Table).to_owned())
            .await?;
        super::m20261203_000001_create_segment_times::create_table(manager).await?;
        db.execute_unprepared("DELETE FROM segment_times_pending")
            .await?;
        db.execute_unprepared(
            "INSERT INTO segment_times_pending (event_id) \
             SELECT id FROM events WHERE status = 'OFFICIAL'",
        )
        .await?;
        Ok(())
    }
}
