//! `events` rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub venue_id: Option<Uuid>,
    pub name: String,
    pub starts_at: ChronoDateTimeUtc,
    pub timezone: String,
    pub course_code: String,
    /// JSON array of timing point codes.
    pub course_points: String,
    /// JSON array of `LimitOverride`, every segment's plausibility limits; null = defaults.
    pub segment_limits: Option<String>,
    /// JSON `OutlierRule` (`{low, high, minField}`); null = defaults.
    pub outlier_rule: Option<String>,
    /// Where an imported event came from (`import:<source event>`); null when podium timed it.
    pub source: Option<String>,
    pub status: String,
    pub seq: i64,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
