//! The `segment_times` view: one row per split of `result_splits` (read-only; for tests and
//! for SQL readers of podium's database, see the migration `m20261203_000002_result_splits`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "segment_times")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: Uuid,
    /// The course segment the split starts at.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seg_index: i32,
    pub event_id: Uuid,
    pub athlete_id: Uuid,
    pub bib: String,
    /// The segment's code (the first one's, for a split merged over missed mats).
    pub segment: String,
    /// Segments the split covers: 1 unless merged.
    pub span: i32,
    /// `MEASURED`, `MERGED` or `ESTIMATED`.
    pub kind: String,
    pub duration_ms: i64,
    /// When the split ended (Unix milliseconds).
    pub ended_ms: i64,
    pub course: String,
    pub category: String,
    pub gender: String,
    pub age_group: Option<String>,
    pub season: i32,
    pub venue_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
