//! Whether a stored read's instant was placed rather than read: an import whose source gives
//! a stretch of the course only as part of a sum (the roxzone total) places the mats in it and
//! marks them, so the splits ending there are left out of per-segment statistics and lineage
//! says so. False for every read a mat sent.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Detections {
    Table,
    Estimated,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Detections::Table)
                    .add_column(
                        ColumnDef::new(Detections::Estimated)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Detections::Table)
                    .drop_column(Detections::Estimated)
                    .to_owned(),
            )
            .await
    }
}
