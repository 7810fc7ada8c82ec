//! Ingest on a hypertable as cheap as on a plain table. A hypertable's unique indexes must
//! include its time column, so `detections` cannot itself refuse a read id seen before at
//! another instant; looking the batch's read ids up in it slowed ingest 8× and re-ingest 45×
//! (a generic plan scanning the event's rows). The read ids live instead in
//! `detection_read_ids`, a small plain table keyed `(event_id, read_id)` that ingest inserts
//! into with `ON CONFLICT DO NOTHING RETURNING`, exactly like the plain path; the hypertable
//! keeps the raw reads. Created on every backend (the plain path does not use it).
//!
//! Also on PostgreSQL: `detections`' `varchar(n)` columns become `text` with a length check,
//! as TimescaleDB recommends (binary compatible: no rewrite).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DetectionReadIds {
    Table,
    EventId,
    ReadId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DetectionReadIds::Table)
                    .col(ColumnDef::new(DetectionReadIds::EventId).uuid().not_null())
                    .col(ColumnDef::new(DetectionReadIds::ReadId).text().not_null())
                    .primary_key(
                        Index::create()
                            .col(DetectionReadIds::EventId)
                            .col(DetectionReadIds::ReadId),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let sql = |s: &str| Statement::from_string(DatabaseBackend::Postgres, s.to_owned());
        db.execute(sql("ALTER TABLE detections \
               ALTER COLUMN bib TYPE text, ALTER COLUMN timing_point TYPE text, \
               ALTER COLUMN read_id TYPE text, ALTER COLUMN device_id TYPE text, \
               ADD CONSTRAINT detections_lengths CHECK (char_length(bib) <= 16 \
                 AND char_length(timing_point) <= 32 \
                 AND (read_id IS NULL OR char_length(read_id) <= 128) \
                 AND (device_id IS NULL OR char_length(device_id) <= 128))"))
            .await?;
        // Reads stored before on the hypertable path: their ids become keys (the plain path
        // keeps its unique index and never reads this table).
        if !crate::read_ids_keyed_apart(db).await? {
            return Ok(());
        }
        db.execute(sql("INSERT INTO detection_read_ids (event_id, read_id) \
             SELECT DISTINCT event_id, read_id FROM detections WHERE read_id IS NOT NULL \
             ON CONFLICT DO NOTHING"))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DatabaseBackend::Postgres {
            db.execute(Statement::from_string(
                DatabaseBackend::Postgres,
                "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_lengths, \
                   ALTER COLUMN bib TYPE varchar(16), ALTER COLUMN timing_point TYPE varchar(32), \
                   ALTER COLUMN read_id TYPE varchar(128), ALTER COLUMN device_id TYPE varchar(128)"
                    .to_owned(),
            ))
            .await?;
        }
        manager
            .drop_table(Table::drop().table(DetectionReadIds::Table).to_owned())
            .await
    }
}
