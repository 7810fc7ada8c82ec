//! `prediction_models` rows: one version of a course's finish prediction model (see the
//! migration `m20261203_000003_prediction_models`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prediction_models")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub version: i64,
    pub course: String,
    pub trained_at: DateTimeUtc,
    /// JSON array of event ids.
    pub events: String,
    pub results: i64,
    /// JSON array of `PointMetrics`.
    pub metrics: String,
    /// JSON array, one factor per timing point.
    pub calibration: String,
    /// JSON array of ratios.
    pub repeat_changes: String,
    pub active: bool,
    /// JSON `[[event index, "CATEGORY/GENDER", elapsed…], …]`; the active version's only.
    pub references: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
