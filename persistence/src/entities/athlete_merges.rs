//! `athlete_merges` rows: the audit record of each merge of two athletes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "athlete_merges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kept_id: Uuid,
    pub merged_id: Uuid,
    /// The merged athlete's name, as it was.
    pub merged_name: String,
    pub entries_moved: i32,
    /// The admin's token subject.
    pub merged_by: String,
    pub merged_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
