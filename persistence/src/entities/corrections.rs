//! `corrections` rows: officials' decisions, append-only.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "corrections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub entry_id: Uuid,
    pub bib: String,
    pub kind: String,
    pub penalty_ms: Option<i64>,
    pub timing_point: Option<String>,
    pub at_ms: Option<i64>,
    pub target_id: Option<Uuid>,
    pub reason: String,
    pub author: String,
    pub created_at: ChronoDateTimeUtc,
    pub seq: i64,
    pub amendment: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
