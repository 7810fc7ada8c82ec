//! One athlete across events: what the matching rule compares (`podium_domain::matching`) —
//! the normalised name key (indexed) and the nationality, filled in for the athletes already
//! stored — and `athlete_merges`, the audit record an admin's merge of two athletes leaves.

use podium_domain::matching::name_key;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Athletes {
    Table,
    Id,
    FirstName,
    LastName,
    NameKey,
    Nationality,
}

#[derive(DeriveIden)]
enum AthleteMerges {
    Table,
    Id,
    KeptId,
    MergedId,
    MergedName,
    EntriesMoved,
    MergedBy,
    MergedAt,
}

const INDEX: &str = "athletes_name_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Athletes::Table)
                    .add_column(
                        ColumnDef::new(Athletes::NameKey)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Athletes::Table)
                    .add_column(ColumnDef::new(Athletes::Nationality).text().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let select = Query::select()
            .columns([Athletes::Id, Athletes::FirstName, Athletes::LastName])
            .from(Athletes::Table)
            .to_owned();
        for row in db.query_all(backend.build(&select)).await? {
            let id: sea_orm_migration::sea_orm::prelude::Uuid = row.try_get("", "id")?;
            let first: String = row.try_get("", "first_name")?;
            let last: String = row.try_get("", "last_name")?;
            let update = Query::update()
                .table(Athletes::Table)
                .value(Athletes::NameKey, name_key(&first, &last))
                .and_where(Expr::col(Athletes::Id).eq(id))
                .to_owned();
            db.execute(backend.build(&update)).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Athletes::Table)
                    .col(Athletes::NameKey)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AthleteMerges::Table)
                    .col(
                        ColumnDef::new(AthleteMerges::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AthleteMerges::KeptId).uuid().not_null())
                    .col(ColumnDef::new(AthleteMerges::MergedId).uuid().not_null())
                    .col(ColumnDef::new(AthleteMerges::MergedName).text().not_null())
                    .col(
                        ColumnDef::new(AthleteMerges::EntriesMoved)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AthleteMerges::MergedBy).text().not_null())
                    .col(
                        ColumnDef::new(AthleteMerges::MergedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AthleteMerges::Table).to_owned())
            .await?;
        manager
            .drop_index(Index::drop().name(INDEX).table(Athletes::Table).to_owned())
            .await?;
        for column in [Athletes::NameKey, Athletes::Nationality] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Athletes::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
