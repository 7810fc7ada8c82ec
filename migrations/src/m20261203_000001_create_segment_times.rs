//! `segment_times`: one row per split of every finished entry, kept in step with the entry's
//! state in the same transaction (see `persistence::segments`). Cross-event analytics read it
//! instead of re-evaluating timelines: segment leaderboards, athlete trends, competition
//! statistics. Each row carries what those queries filter on (athlete, division, age group,
//! season, venue, course) and whether the split was measured, merged over a missed mat or
//! estimated; only measured ones count in statistics.
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
enum Entries {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
                    .primary_key(
                        Index::create()
                            .col(SegmentTimes::EntryId)
                            .col(SegmentTimes::SegIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentTimes::Table, SegmentTimes::EntryId)
                            .to(Entries::Table, Entries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Segment leaderboards and competition statistics: one segment of one division,
        // fastest first.
        manager
            .create_index(
                Index::create()
                    .name("segment_times_board")
                    .table(SegmentTimes::Table)
                    .col(SegmentTimes::Segment)
                    .col(SegmentTimes::Category)
                    .col(SegmentTimes::Gender)
                    .col(SegmentTimes::DurationMs)
                    .to_owned(),
            )
            .await?;
        // Percentiles within one event's division (athlete trends).
        manager
            .create_index(
                Index::create()
                    .name("segment_times_event")
                    .table(SegmentTimes::Table)
                    .col(SegmentTimes::EventId)
                    .col(SegmentTimes::Segment)
                    .col(SegmentTimes::Category)
                    .col(SegmentTimes::Gender)
                    .col(SegmentTimes::DurationMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segment_times_athlete")
                    .table(SegmentTimes::Table)
                    .col(SegmentTimes::AthleteId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SegmentTimes::Table).to_owned())
            .await
    }
}
