//! `detections` rows: raw mat reads, append-only (a hypertable on TimescaleDB).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "detections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub bib: String,
    pub timing_point: String,
    pub ts: ChronoDateTimeUtc,
    pub read_id: Option<String>,
    pub device_id: Option<String>,
    pub received_at: ChronoDateTimeUtc,
    /// Placed by an import, not read (see `Detection::estimated`).
    pub estimated: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
