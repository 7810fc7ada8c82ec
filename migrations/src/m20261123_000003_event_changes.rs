//! The per-event change log: one row per `seq`, written in the transaction that bumps it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventChanges {
    Table,
    EventId,
    Seq,
    Kind,
    Payload,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventChanges::Table)
                    .col(ColumnDef::new(EventChanges::EventId).uuid().not_null())
                    .col(ColumnDef::new(EventChanges::Seq).big_integer().not_null())
                    .col(ColumnDef::new(EventChanges::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(EventChanges::Payload).text().not_null())
                    .col(
                        ColumnDef::new(EventChanges::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(EventChanges::EventId)
                            .col(EventChanges::Seq),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventChanges::Table).to_owned())
            .await
    }
}
