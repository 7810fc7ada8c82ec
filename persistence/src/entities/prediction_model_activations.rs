//! `prediction_model_activations` rows: who activated which version of a course's finish
//! prediction model, when and why (see the migration
//! `m20261207_000002_prediction_model_activations`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prediction_model_activations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub course: String,
    pub version: i64,
    pub activated_at: DateTimeUtc,
    pub actor: String,
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
