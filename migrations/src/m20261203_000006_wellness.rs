//! `wellness_samples`: an athlete's training and wellness data, one row per sample (kind,
//! source id, time), the measurement as JSON. The key holds the time column, as every unique
//! index of a TimescaleDB hypertable must; where the extension is there the table is a
//! hypertable on `at` (30-day chunks: an athlete's query spans weeks to months).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WellnessSamples {
    Table,
    AthleteId,
    Kind,
    SourceId,
    At,
    Data,
    RecordedAt,
}

/// Makes `wellness_samples` a hypertable (TimescaleDB only).
pub const CREATE_HYPERTABLE: &str = "SELECT create_hypertable('wellness_samples', 'at', chunk_time_interval => INTERVAL '30 days', if_not_exists => true, migrate_data => true)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WellnessSamples::Table)
                    .col(ColumnDef::new(WellnessSamples::AthleteId).uuid().not_null())
                    .col(
                        ColumnDef::new(WellnessSamples::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WellnessSamples::SourceId)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WellnessSamples::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WellnessSamples::Data).text().not_null())
                    .col(
                        ColumnDef::new(WellnessSamples::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(WellnessSamples::AthleteId)
                            .col(WellnessSamples::Kind)
                            .col(WellnessSamples::SourceId)
                            .col(WellnessSamples::At),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("wellness_samples_athlete_at")
                    .table(WellnessSamples::Table)
                    .col(WellnessSamples::AthleteId)
                    .col(WellnessSamples::At)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
            && crate::timescale::detections_is_hypertable(db).await?
        {
            db.execute_unprepared(CREATE_HYPERTABLE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WellnessSamples::Table).to_owned())
            .await
    }
}
