//! podium's schema migrations. They run on SQLite and PostgreSQL; TimescaleDB-only statements
//! run only when the server can create the extension (see `timescale`).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_core_tables;
mod m20261123_000002_officiating;
mod m20261123_000003_event_changes;
mod m20261123_000004_access;
mod m20261123_000005_coach_grants;
mod m20261123_000006_webhooks;
mod m20261123_000007_sealed_secrets;
mod m20261129_000001_add_outlier_rule;
mod m20261129_000002_add_detection_read_ids;
mod m20261129_000003_add_event_source;
mod m20261129_000004_add_detection_estimated;
mod m20261129_000005_athlete_identity;
mod m20261203_000001_create_segment_times;
mod m20261203_000002_result_splits;
mod m20261203_000003_prediction_models;
mod m20261203_000004_result_splits_measured;
mod m20261203_000005_webhook_control;
mod m20261203_000006_wellness;
mod m20261203_000007_athlete_webhooks;
mod m20261207_000001_hypertable_without_foreign_key;
mod m20261207_000002_prediction_model_activations;

pub mod timescale;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_core_tables::Migration),
            Box::new(m20261123_000002_officiating::Migration),
            Box::new(m20261123_000003_event_changes::Migration),
            Box::new(m20261123_000004_access::Migration),
            Box::new(m20261123_000005_coach_grants::Migration),
            Box::new(m20261123_000006_webhooks::Migration),
            Box::new(m20261123_000007_sealed_secrets::Migration),
            Box::new(m20261129_000001_add_outlier_rule::Migration),
            Box::new(m20261129_000002_add_detection_read_ids::Migration),
            Box::new(m20261129_000003_add_event_source::Migration),
            Box::new(m20261129_000004_add_detection_estimated::Migration),
            Box::new(m20261129_000005_athlete_identity::Migration),
            Box::new(m20261203_000001_create_segment_times::Migration),
            Box::new(m20261203_000002_result_splits::Migration),
            Box::new(m20261203_000003_prediction_models::Migration),
            Box::new(m20261203_000004_result_splits_measured::Migration),
            Box::new(m20261203_000005_webhook_control::Migration),
            Box::new(m20261203_000006_wellness::Migration),
            Box::new(m20261203_000007_athlete_webhooks::Migration),
            Box::new(m20261207_000001_hypertable_without_foreign_key::Migration),
            Box::new(m20261207_000002_prediction_model_activations::Migration),
        ]
    }
}

/// Whether `detections` has the hypertable shape — no unique read-id index (a hypertable's
/// cannot exclude `ts`) — so ingest keys read ids in `detection_read_ids`. True on TimescaleDB;
/// SQLite and plain PostgreSQL keep the partial unique index `(event_id, read_id)`.
pub async fn read_ids_keyed_apart<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'detections' \
             AND indexname = 'detections_read_id' AND indexdef LIKE '%WHERE%' \
             AND schemaname = current_schema()",
        ))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(n == 0)
}
