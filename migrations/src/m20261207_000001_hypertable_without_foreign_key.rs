//! `detections` as a hypertable keeps no foreign key to `events`: TimescaleDB copies it onto
//! each new chunk under a lock on `events` that deadlocks two concurrent ingests into one
//! event (see `timescale::HYPERTABLE_SHAPE`). Databases whose `detections` became a hypertable
//! before lose it here; plain tables keep theirs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if crate::timescale::detections_is_hypertable(db).await? {
            db.execute_unprepared(
                "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_event_id_fkey",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The key is not put back on a hypertable: it would bring the deadlock back.
        Ok(())
    }
}
