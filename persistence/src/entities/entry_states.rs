//! `entry_states` rows: the engine's working state per entry (timeline and summary), kept in
//! step with the raw detections so reads never replay them.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "entry_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub entry_id: Uuid,
    pub event_id: Uuid,
    pub bib: String,
    pub wave_start_ms: i64,
    /// JSON array, one element per course point: earliest read in epoch ms, or null.
    pub point_times: String,
    pub status: String,
    pub status_override: Option<String>,
    pub penalty_ms: i64,
    pub last_point: Option<i32>,
    pub elapsed_ms: Option<i64>,
    pub net_time_ms: Option<i64>,
    pub start_from_wave: bool,
    pub updated_seq: i64,
    /// Flags of the entry that are open (raised and neither resolved nor dismissed).
    pub open_flags: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
