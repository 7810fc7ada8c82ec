//! `athletes` rows: one person across events.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "athletes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub birth_year: Option<i32>,
    pub is_private: bool,
    pub created_at: ChronoDateTimeUtc,
    /// `podium_domain::matching::name_key` of the name.
    pub name_key: String,
    pub nationality: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
