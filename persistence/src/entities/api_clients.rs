//! `api_clients` rows: integrations that obtain tokens with client credentials.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub name: String,
    /// Argon2id PHC string; the secret itself is never stored.
    pub secret_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub tier: String,
    pub venue_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: ChronoDateTimeUtc,
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
