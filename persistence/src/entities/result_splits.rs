//! `result_splits` rows: one finished entry of an official event, its splits by segment code,
//! with what cross-event analytics filter on (see the migration
//! `m20261203_000002_result_splits`). `segment_times` is the per-split view of them.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[sea_orm(table_name = "result_splits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: Uuid,
    pub event_id: Uuid,
    pub athlete_id: Uuid,
    pub bib: String,
    /// The event's course template.
    pub course: String,
    pub category: String,
    pub gender: String,
    pub age_group: Option<String>,
    /// The season of the event's start (see `Event::season`).
    pub season: i32,
    pub venue_id: Option<Uuid>,
    /// The entry's start (Unix ms): a split ended at `started_ms + elapsed_ms`.
    pub started_ms: i64,
    /// `{segment code: [index, span, kind, ms, elapsed_ms]}` (see `segments::SplitCell`); a
    /// split merged over missed mats is under its first segment's code.
    #[sea_orm(column_type = "JsonBinary")]
    pub splits: Json,
    /// The measured durations packed for whole-season statistics (see `segments::Measured`);
    /// `None` until the row is written again after the column was added.
    pub measured: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
