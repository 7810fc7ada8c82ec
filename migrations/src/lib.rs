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
        ]
    }
}

/// Whether raw detections are stored in a TimescaleDB hypertable.
pub async fn timescaledb_in_use<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    timescale::detections_is_hypertable(db).await
}
