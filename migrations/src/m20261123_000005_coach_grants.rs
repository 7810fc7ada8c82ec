//! Coach access: an athlete grants a coach (by the coach's token subject) access to their
//! analytics, and can revoke it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CoachGrants {
    Table,
    AthleteId,
    CoachSub,
    GrantedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CoachGrants::Table)
                    .col(ColumnDef::new(CoachGrants::AthleteId).uuid().not_null())
                    .col(
                        ColumnDef::new(CoachGrants::CoachSub)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CoachGrants::GrantedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CoachGrants::AthleteId)
                            .col(CoachGrants::CoachSub),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CoachGrants::Table).to_owned())
            .await
    }
}
