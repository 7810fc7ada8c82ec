//! `webhooks` rows: endpoints that receive an event's domain messages.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The venue whose events it receives; none: every event (admins).
    pub venue_id: Option<Uuid>,
    pub url: String,
    /// `whsec_…`: the signing secret (needed in clear to sign).
    pub secret: String,
    /// Space-separated topics; empty: all.
    pub topics: String,
    pub created_by: String,
    pub created_at: ChronoDateTimeUtc,
    /// False: nothing is sent (deliveries wait, within their retry window).
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<ChronoDateTimeUtc>,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<ChronoDateTimeUtc>,
    /// The athlete whose private notices it receives (its creator acted for them).
    pub athlete_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
