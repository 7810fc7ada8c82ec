//! The access repository: signing keys and API clients.

use crate::convert::{on_unique, unexpected};
use crate::entities::{api_clients, signing_keys};
use crate::SeaRepository;
use async_trait::async_trait;
use podium_domain::ports::{AccessRepository, ApiClientRecord, RepoError, StoredSigningKey};
use podium_domain::timing::Timestamp;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

fn key_from(m: signing_keys::Model) -> StoredSigningKey {
    StoredSigningKey {
        kid: m.kid,
        seed: m.seed,
        created_at: Timestamp::from_chrono(m.created_at),
        retired_at: m.retired_at.map(Timestamp::from_chrono),
    }
}

fn client_from(m: api_clients::Model) -> ApiClientRecord {
    ApiClientRecord {
        client_id: m.client_id,
        name: m.name,
        secret_hash: m.secret_hash,
        scopes: m.scopes,
        tier: m.tier,
        venue_id: m.venue_id,
        created_by: m.created_by,
        created_at: Timestamp::from_chrono(m.created_at),
        revoked_at: m.revoked_at.map(Timestamp::from_chrono),
    }
}

#[async_trait]
impl AccessRepository for SeaRepository {
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, RepoError> {
        let rows = signing_keys::Entity::find()
            .order_by_desc(signing_keys::Column::CreatedAt)
            .order_by_desc(signing_keys::Column::Kid)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(key_from).collect())
    }

    async fn rotate_signing_key(&self, key: StoredSigningKey) -> Result<(), RepoError> {
        let txn = self.connection().begin().await.map_err(unexpected)?;
        let at = key.created_at.to_chrono();
        signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(at))
            .filter(signing_keys::Column::RetiredAt.is_null())
            .exec(&txn)
            .await
            .map_err(unexpected)?;
        signing_keys::Entity::insert(signing_keys::ActiveModel {
            kid: Set(key.kid.clone()),
            seed: Set(key.seed),
            created_at: Set(at),
            retired_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(|e| on_unique(e, || format!("signing key {}", key.kid)))?;
        txn.commit().await.map_err(unexpected)
    }

    async fn prune_signing_keys(&self, before: Timestamp) -> Result<u64, RepoError> {
        let deleted = signing_keys::Entity::delete_many()
            .filter(signing_keys::Column::RetiredAt.lt(before.to_chrono()))
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(deleted.rows_affected)
    }

    async fn create_api_client(&self, client: ApiClientRecord) -> Result<(), RepoError> {
        let id = client.client_id.clone();
        api_clients::Entity::insert(api_clients::ActiveModel {
            client_id: Set(client.client_id),
            name: Set(client.name),
            secret_hash: Set(client.secret_hash),
            scopes: Set(client.scopes),
            tier: Set(client.tier),
            venue_id: Set(client.venue_id),
            created_by: Set(client.created_by),
            created_at: Set(client.created_at.to_chrono()),
            revoked_at: Set(client.revoked_at.map(Timestamp::to_chrono)),
        })
        .exec_without_returning(self.connection())
        .await
        .map_err(|e| on_unique(e, || format!("API client {id}")))?;
        Ok(())
    }

    async fn api_client(&self, client_id: &str) -> Result<Option<ApiClientRecord>, RepoError> {
        let row = api_clients::Entity::find_by_id(client_id.to_owned())
            .one(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(row.map(client_from))
    }

    async fn api_clients(&self) -> Result<Vec<ApiClientRecord>, RepoError> {
        let rows = api_clients::Entity::find()
            .order_by_desc(api_clients::Column::CreatedAt)
            .all(self.connection())
            .await
            .map_err(unexpected)?;
        Ok(rows.into_iter().map(client_from).collect())
    }

    async fn revoked_clients(&self) -> Result<Vec<String>, RepoError> {
        api_clients::Entity::find()
            .select_only()
            .column(api_clients::Column::ClientId)
            .filter(api_clients::Column::RevokedAt.is_not_null())
            .into_tuple::<String>()
            .all(self.connection())
            .await
            .map_err(unexpected)
    }

    async fn revoke_api_client(
        &self,
        client_id: &str,
        at: Timestamp,
    ) -> Result<ApiClientRecord, RepoError> {
        api_clients::Entity::update_many()
            .col_expr(api_clients::Column::RevokedAt, Expr::value(at.to_chrono()))
            .filter(api_clients::Column::ClientId.eq(client_id))
            .filter(api_clients::Column::RevokedAt.is_null())
            .exec(self.connection())
            .await
            .map_err(unexpected)?;
        self.api_client(client_id)
            .await?
            .ok_or_else(|| RepoError::NotFound(format!("API client {client_id}")))
    }
}
