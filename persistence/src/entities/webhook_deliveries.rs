//! `webhook_deliveries` rows: one outbox message for one endpoint, until delivered or given up.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The outbox message: the `webhook-id` header, the same on every retry.
    pub message_id: Uuid,
    pub topic: String,
    pub payload: String,
    pub attempts: i32,
    pub next_attempt_at: ChronoDateTimeUtc,
    pub delivered_at: Option<ChronoDateTimeUtc>,
    pub failed_at: Option<ChronoDateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    /// When the current run of attempts began (a redelivery or replay begins a new one);
    /// `None`: at `created_at`.
    pub run_started_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
