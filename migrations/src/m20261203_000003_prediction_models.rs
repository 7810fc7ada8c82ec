//! `prediction_models`: the versions of the live finish prediction model of a course — when
//! each was trained, on which events, its leave-one-event-out backtest and calibration, and
//! (for the active one only) its references, so the active version predicts the same
//! whatever is amended after it was trained. At most one active version per course.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PredictionModels {
    Table,
    Version,
    Course,
    TrainedAt,
    Events,
    Results,
    Metrics,
    Calibration,
    RepeatChanges,
    Active,
    References,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PredictionModels::Table)
                    .col(
                        ColumnDef::new(PredictionModels::Version)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PredictionModels::Course).text().not_null())
                    .col(
                        ColumnDef::new(PredictionModels::TrainedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // JSON: event ids; per-point metrics; per-point calibration; ratios.
                    .col(ColumnDef::new(PredictionModels::Events).text().not_null())
                    .col(
                        ColumnDef::new(PredictionModels::Results)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PredictionModels::Metrics).text().not_null())
                    .col(
                        ColumnDef::new(PredictionModels::Calibration)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PredictionModels::RepeatChanges)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PredictionModels::Active)
                            .boolean()
                            .not_null(),
                    )
                    // JSON: `[[event index, "CATEGORY/GENDER", elapsed ms or null, …], …]`.
                    .col(ColumnDef::new(PredictionModels::References).text())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PredictionModels::Table).to_owned())
            .await
    }
}
