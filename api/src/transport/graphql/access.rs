//! API clients and signing keys (admins only): podium as an authorization server.

use crate::app::access::{self, NewClient};
use crate::auth::{Scope, Tier};
use crate::error::ApiError;
use crate::transport::graphql::error::{GqlResult, IntoGql};
use crate::transport::graphql::types::time;
use crate::transport::graphql::{app, parse_id, principal};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use podium_domain::ports::ApiClientRecord;

/// Rate-limit tier of an API client; the limits of each are configuration.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ClientTier")]
pub enum ClientTier {
    Free,
    Pro,
    Enterprise,
}

impl From<ClientTier> for Tier {
    fn from(t: ClientTier) -> Self {
        match t {
            ClientTier::Free => Tier::Free,
            ClientTier::Pro => Tier::Pro,
            ClientTier::Enterprise => Tier::Enterprise,
        }
    }
}

/// An integration that obtains tokens at `POST /oauth/token` (client credentials).
#[derive(SimpleObject)]
#[graphql(name = "ApiClient")]
pub struct ApiClientObject {
    pub client_id: String,
    pub name: String,
    /// Granted scopes, e.g. `results:read`, `timing:write`.
    pub scopes: Vec<String>,
    /// `free`, `pro` or `enterprise`.
    pub tier: String,
    /// When set, the client may only act at this venue.
    pub venue_id: Option<ID>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Revoked clients get no new tokens, and their unexpired ones are refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiClientRecord> for ApiClientObject {
    fn from(r: ApiClientRecord) -> Self {
        Self {
            client_id: r.client_id,
            name: r.name,
            scopes: r
                .scopes
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
            tier: r.tier,
            venue_id: r.venue_id.map(|v| ID(v.to_string())),
            created_by: r.created_by,
            created_at: time(r.created_at),
            revoked_at: r.revoked_at.map(time),
        }
    }
}

/// A newly registered client and its secret, shown this once.
#[derive(SimpleObject)]
pub struct RegisteredApiClient {
    pub client: ApiClientObject,
    /// Store it now: podium keeps only a hash.
    pub client_secret: String,
}

#[derive(InputObject)]
pub struct RegisterApiClientInput {
    pub name: String,
    /// Scopes to grant: `results:read`, `live:subscribe`, `analytics:read`, `timing:write`,
    /// `events:manage`, `webhooks:manage`.
    pub scopes: Vec<String>,
    #[graphql(default_with = "ClientTier::Free")]
    pub tier: ClientTier,
    /// Bind the client to one venue (a venue's timing partner).
    pub venue_id: Option<ID>,
}

/// One of podium's token-signing keys (public part at `/.well-known/jwks.json`).
#[derive(SimpleObject)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub algorithm: String,
}

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// Registered API clients, newest first (admins).
    async fn api_clients(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiClientObject>> {
        principal(ctx).require_admin().gql()?;
        let clients = app(ctx).access.api_clients().await.gql()?;
        Ok(clients.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Registers an API client (admins). The secret in the answer is never shown again.
    async fn register_api_client(
        &self,
        ctx: &Context<'_>,
        input: RegisterApiClientInput,
    ) -> GqlResult<RegisteredApiClient> {
        let viewer = principal(ctx);
        viewer.require_admin().gql()?;
        let scopes = Scope::parse_list(&input.scopes.join(" "))
            .map_err(|e| ApiError::BadRequest(format!("scopes: {e}")))
            .gql()?;
        let venue_id = input
            .venue_id
            .as_ref()
            .map(|v| parse_id("venueId", v))
            .transpose()?;
        let new = NewClient {
            name: input.name,
            scopes,
            tier: input.tier.into(),
            venue_id,
        };
        let (record, secret) = access::register(app(ctx), viewer.subject(), new)
            .await
            .gql()?;
        Ok(RegisteredApiClient {
            client: record.into(),
            client_secret: secret,
        })
    }

    /// Revokes an API client (admins): no new tokens, and its unexpired ones are refused (on
    /// other instances within 10 s).
    async fn revoke_api_client(
        &self,
        ctx: &Context<'_>,
        client_id: String,
    ) -> GqlResult<ApiClientObject> {
        let record = access::revoke(app(ctx), principal(ctx), &client_id)
            .await
            .gql()?;
        Ok(record.into())
    }

    /// Starts signing with a new key (admins). Tokens signed with the previous key stay valid
    /// until they expire; its public key stays in the JWKS until then.
    async fn rotate_signing_key(&self, ctx: &Context<'_>) -> GqlResult<SigningKeyInfo> {
        let key = access::rotate_in_use(app(ctx), principal(ctx))
            .await
            .gql()?;
        Ok(SigningKeyInfo {
            kid: key.kid().to_owned(),
            algorithm: "EdDSA".into(),
        })
    }
}
