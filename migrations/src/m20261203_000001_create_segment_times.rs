//! `segment_times`: one row per split of every finished entry of an official event, written in
//! the transaction that makes the results official and kept in step in the transaction of
//! every amendment after (see `persistence::segments`). Cross-event analytics read it
//! instead of re-evaluating timelines: segment leaderboards, athlete trends, competition
//! statistics. Each row carries what those queries filter on (athlete, division, age group,
//! season, venue, course) and whether the split was measured, merged over a missed mat or
//! estimated; only measured ones count in statistics.
//!
//! Replaced by `result_splits` (one row per entry, see `m20261203_000002_result_splits`), which
//! keeps the name `segment_times` for a view of the same rows.
//!
//! It stays a plain table on TimescaleDB too: rows are keyed by entry (an entry's splits are
//! rewritten when it is recomputed), which a hypertable's unique keys (they must include the
//! time column) cannot express without carrying the split's end instant in every key.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SegmentTimes {
    Table,
    EntryId,
    SegIndex,
    EventId,
    AthleteId,
    Bib,
    Segment,
    Span,
    Kind,
    DurationMs,
    EndedAt,
    Course,
    Category,
    Gender,
    AgeGroup,
    Season,
    VenueId,
}

#[derive(DeriveIden)]
enum SegmentTimesPending {
    Table,
    EventId,
}

/// Creates the table and its index (also what undoing `m20261203_000002` brings back).
pub(crate) async fn create_table(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SegmentTimes::Table)
                .col(ColumnDef::new(SegmentTimes::EntryId).uuid().not_null())
                .col(ColumnDef::new(SegmentTimes::SegIndex).integer().not_null())
                .col(ColumnDef::new(SegmentTimes::EventId).uuid().not_null())
                .col(ColumnDef::new(SegmentTimes::AthleteId).uuid().not_null())
                .col(ColumnDef::new(SegmentTimes::Bib).text().not_null())
                .col(ColumnDef::new(SegmentTimes::Segment).text().not_null())
                .col(ColumnDef::new(SegmentTimes::Span).integer().not_null())
                .col(ColumnDef::new(SegmentTimes::Kind).text().not_null())
                .col(
                    ColumnDef::new(SegmentTimes::DurationMs)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SegmentTimes::EndedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(SegmentTimes::Course).text().not_null())
                .col(ColumnDef::new(SegmentTimes::Category).text().not_null())
                .col(ColumnDef::new(SegmentTimes::Gender).text().not_null())
                .col(ColumnDef::new(SegmentTimes::AgeGroup).text())
                .col(ColumnDef::new(SegmentTimes::Season).integer().not_null())
                .col(ColumnDef::new(SegmentTimes::VenueId).uuid())
                // No foreign key to `entries` (entries are never deleted): its check locks
                // the entry row for every split written.
                .primary_key(
                    Index::create()
                        .col(SegmentTimes::EntryId)
                        .col(SegmentTimes::SegIndex),
                )
                .to_owned(),
        )
        .await?;
    // The one secondary index (each one costs every split written): a segment of a
    // division, event by event, fastest first — segment leaderboards and competition
    // statistics read ranges of it, an athlete's percentiles one event's slice of it.
    // An athlete's own rows are found by entry (the primary key) through `entries`.
    manager
        .create_index(
            Index::create()
                .name("segment_times_division")
                .table(SegmentTimes::Table)
                .col(SegmentTimes::Segment)
                .col(SegmentTimes::Category)
                .col(SegmentTimes::Gender)
                .col(SegmentTimes::EventId)
                .col(SegmentTimes::DurationMs)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_table(manager).await?;
        // The events already official when the table is created: their rows are written once
        // at the next start (`persistence::segments::backfill`), which then only reads this
        // small table instead of probing `segment_times` for every official event.
        manager
            .create_table(
                Table::create()
                    .table(SegmentTimesPending::Table)
                    .col(
                        ColumnDef::new(SegmentTimesPending::EventId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO segment_times_pending (event_id) \
                 SELECT id FROM events WHERE status = 'OFFICIAL'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SegmentTimesPending::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SegmentTimes::Table).to_owned())
            .await
    }
}
