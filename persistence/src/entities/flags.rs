//! `flags` rows: plausibility flags raised by the engine, with their review history.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "flags")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub event_id: Uuid,
    pub entry_id: Uuid,
    pub bib: String,
    /// The flag's identity within its entry (`Flag::key`).
    pub flag_key: String,
    pub kind: String,
    pub timing_point: String,
    pub at_ms: Option<i64>,
    pub related_point: Option<String>,
    pub related_at_ms: Option<i64>,
    pub detail: String,
    pub status: String,
    pub raised_seq: i64,
    pub updated_seq: i64,
    /// JSON array of `FlagChange`, oldest first.
    pub history: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
