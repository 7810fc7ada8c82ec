//! `coach_grants` rows: coaches an athlete gave access to their analytics.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "coach_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub athlete_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub coach_sub: String,
    pub granted_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
