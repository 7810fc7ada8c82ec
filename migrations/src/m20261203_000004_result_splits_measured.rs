//! `result_splits.measured`: the row's measured segment durations packed for statistics that
//! read every row of a season (competition medians): little-endian `i32` milliseconds by the
//! segment's index in the event's course, `-1` where the segment has no measured split. Read
//! from PostgreSQL `jsonb` the same values cost 2 s for a season of 80,000 results (a
//! `jsonb_each` per row); packed (96 bytes a row on the standard course) they are read in
//! about 0.1 s.
//!
//! Every official event is written again at the next start (`persistence::segments::backfill`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ResultSplits {
    Table,
    Measured,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ResultSplits::Table)
                    .add_column(ColumnDef::new(ResultSplits::Measured).binary().null())
                    .to_owned(),
            )
            .await?;
        refill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ResultSplits::Table)
                    .drop_column(ResultSplits::Measured)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

/// Lists every official event for the backfill at the next start.
async fn refill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared("DELETE FROM segment_times_pending")
        .await?;
    db.execute_unprepared(
        "INSERT INTO segment_times_pending (event_id) \
         SELECT id FROM events WHERE status = 'OFFICIAL'",
    )
    .await?;
    Ok(())
}
