//! `webhook_attempts` rows: one HTTP attempt of one delivery, kept to debug with.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub at: ChronoDateTimeUtc,
    /// The HTTP status answered; none when no answer came (timeout, refused connection).
    pub status: Option<i32>,
    pub latency_ms: i64,
    /// The start of the response body.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
