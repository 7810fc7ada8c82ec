//! `wellness_samples` rows: one sample of an athlete's training and wellness data.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wellness_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub athlete_id: Uuid,
    /// `ACTIVITY`, `NUTRITION`, `SLEEP`, `HEALTH`, `BMQ`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// The source's id of the sample (idempotency).
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub at: ChronoDateTimeUtc,
    /// The measurement, JSON (`podium_domain::wellness::Measurement`).
    pub data: String,
    pub recorded_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
