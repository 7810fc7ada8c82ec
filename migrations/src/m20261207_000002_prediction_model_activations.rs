//! `prediction_model_activations`: who made which version of a course's finish prediction
//! model the active one, when and why — a training that beat the active version, or an admin
//! promoting or rolling back (`activatePredictionModel`). From now on every version keeps its
//! references, so any of them can be activated again and predicts as it did.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PredictionModelActivations {
    Table,
    Id,
    Course,
    Version,
    ActivatedAt,
    Actor,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PredictionModelActivations as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::Course).text().not_null())
                    .col(ColumnDef::new(A::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(A::ActivatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(A::Actor).text().not_null())
                    .col(ColumnDef::new(A::Reason).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("prediction_model_activations_course_at")
                    .table(A::Table)
                    .col(A::Course)
                    .col(A::ActivatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PredictionModelActivations::Table)
                    .to_owned(),
            )
            .await
    }
}
