//! Sealed secrets are longer than the clear ones: the columns holding them become text
//! (SQLite does not enforce lengths, so only PostgreSQL needs the change).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE signing_keys ALTER COLUMN seed TYPE text")
            .await?;
        db.execute_unprepared("ALTER TABLE webhooks ALTER COLUMN secret TYPE text")
            .await?;
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
